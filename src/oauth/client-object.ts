// One object per registered OAuth client, named by its client_id. It owns everything that is the
// client's alone: its registration (name, scopes, grants, redirect URIs, how it authenticates: a
// SHA-256 of its secret, or its public keys for private_key_jwt), the jtis of its client assertions,
// its authorization codes (one-time, short-lived, PKCE-bound), and the revoked jtis of the tokens
// it holds for itself (client_credentials), and the wrong secrets guessed at it per address
// (failure-ledger.ts), which lock a guessing address out.
//
// The same class also serves as a read replica of a client's credential (credential-replica.ts),
// under the names clientReplicaName makes: such an object has no storage, and only its replica*
// methods and invalidateReplica are called on it.
import { DurableObject } from "cloudflare:workers";
import { createLocalJWKSet, type JSONWebKeySet } from "jose";
import type { Env } from "../env";
import { config } from "../config";
import { base64url, sha256 } from "../http/crypto";
import { FailureLedger, failureLedgerTable, secondsLeft } from "../http/failure-ledger";
import { LazySchema, one } from "../http/sql";
import { verifyClientAssertion } from "./client-assertion";
import { spendJti as spendOnce } from "./assertion-guard";
import { CredentialReplica, REPLICA_LEASE_MS, type ClientCredential } from "./credential-replica";
import { clientReplicaNames } from "./object-names";

export type AuthMethod = "client_secret_basic" | "client_secret_post" | "private_key_jwt" | "none";

export interface RegisteredClient {
  clientId: string;
  name: string;
  scopes: string[];
  grantTypes: string[];
  redirectUris: string[];
  authMethod: AuthMethod;
  /** A resource server may introspect tokens issued to other clients (RFC 7662 §4). */
  resourceServer?: boolean;
  /** What the consent page shows about the application (RFC 7591 §2 client metadata). */
  about?: ClientAbout;
}

export interface ClientAbout {
  /** Who publishes the application, as the subscriber would recognise them. */
  publisher?: string;
  client_uri?: string;
  logo_uri?: string;
  policy_uri?: string;
  tos_uri?: string;
}

export interface ClientRegistration extends RegisteredClient {
  secretHash?: Uint8Array;
  jwks?: JSONWebKeySet;
}

export interface AuthCodeGrant {
  sub: string;
  scope: string;
  redirectUri: string;
  codeChallenge: string;
  consentId: string;
}

export type CodeRedemption =
  | { ok: true; sub: string; scope: string; codeId: string; authTime: number }
  | { ok: false; reason: string; familyToRevoke?: string };

/**
 * What a secret check decided: the client when the secret is its own; `lockedFor` (seconds) when the
 * guessing address is locked out, whatever the secret; neither for an unknown client or a wrong secret.
 */
export interface SecretVerdict {
  client?: RegisteredClient;
  lockedFor?: number;
}

export const AUTH_CODE_TTL_MS = 60_000;
/** Rounds of invalidations sent to the replicas that did not answer, before waiting out their lease. */
const INVALIDATION_ROUNDS = 2;

/**
 * Whether `presented` (a SHA-256) is the stored secret hash, in constant time; a client without a
 * hash is compared against zeros, so that it takes as long and fails.
 */
function secretMatches(stored: Uint8Array | undefined, presented: Uint8Array): boolean {
  const equal = crypto.subtle.timingSafeEqual(stored ?? new Uint8Array(presented.length), presented);
  return stored !== undefined && equal;
}

interface ClientRow extends Record<string, SqlStorageValue> {
  client_id: string;
  name: string;
  scopes: string;
  grant_types: string;
  redirect_uris: string;
  auth_method: AuthMethod;
  secret_hash: ArrayBuffer | null;
  jwks: string | null;
  resource_server: number;
  about: string;
}

/** Applied when the client is registered: a request naming an unknown client_id writes nothing. */
const CLIENT_SCHEMA = [
  `CREATE TABLE client (id INTEGER PRIMARY KEY CHECK (id = 1), client_id TEXT NOT NULL, name TEXT NOT NULL,
     scopes TEXT NOT NULL, secret_hash BLOB NOT NULL, created_at INTEGER NOT NULL)`,
  `ALTER TABLE client ADD COLUMN grant_types TEXT NOT NULL DEFAULT '';
   ALTER TABLE client ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE client ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
   ALTER TABLE client ADD COLUMN jwks TEXT;
   CREATE TABLE client_v2 AS SELECT * FROM client;
   DROP TABLE client;
   CREATE TABLE client (id INTEGER PRIMARY KEY CHECK (id = 1), client_id TEXT NOT NULL, name TEXT NOT NULL,
     scopes TEXT NOT NULL, secret_hash BLOB, created_at INTEGER NOT NULL, grant_types TEXT NOT NULL,
     redirect_uris TEXT NOT NULL, auth_method TEXT NOT NULL, jwks TEXT);
   INSERT INTO client SELECT id, client_id, name, scopes, secret_hash, created_at, grant_types, redirect_uris, auth_method, jwks FROM client_v2;
   DROP TABLE client_v2;
   CREATE TABLE assertion_jti (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE TABLE auth_code (code_hash TEXT PRIMARY KEY, sub TEXT NOT NULL, scope TEXT NOT NULL, redirect_uri TEXT NOT NULL,
     code_challenge TEXT NOT NULL, consent_id TEXT NOT NULL UNIQUE, expires_at INTEGER NOT NULL, used_at INTEGER, family_id TEXT);
   CREATE TABLE revoked_token (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);`,
  `ALTER TABLE client ADD COLUMN resource_server INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE client ADD COLUMN about TEXT NOT NULL DEFAULT '{}';`,
  failureLedgerTable("auth_failure"),
];

export class OAuthClientObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly schema: LazySchema;
  /**
   * The registration as stored, and its parsed view, read once: every token request reads it. Only
   * this object writes the `client` table (register, rotateSecret, deregister), and each of those
   * drops it, so it never outlives what it copies. Each write after register must also end with
   * invalidateReplicas: the replicas copy the same row (credential-replica.ts).
   */
  private registration: { row: ClientRow; view: RegisteredClient } | undefined;
  /** Set in a replica object only: the copy of its client's credential (credential-replica.ts). */
  private replica: CredentialReplica | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.schema = new LazySchema(ctx, CLIENT_SCHEMA);
  }

  private row(): ClientRow | undefined {
    if (this.registration) return this.registration.row;
    const row = this.schema.exists ? one<ClientRow>(this.sql, "SELECT * FROM client") : undefined;
    if (row) this.registration = { row, view: this.parse(row) };
    return row;
  }

  /** The registration of `row` (from row()); handed out over RPC, which copies it. */
  private view(row: ClientRow): RegisteredClient {
    return this.registration?.row === row ? this.registration.view : this.parse(row);
  }

  private parse(row: ClientRow): RegisteredClient {
    return {
      clientId: row.client_id,
      name: row.name,
      scopes: row.scopes.split(" ").filter(Boolean),
      grantTypes: row.grant_types.split(" ").filter(Boolean),
      redirectUris: JSON.parse(row.redirect_uris),
      authMethod: row.auth_method,
      resourceServer: row.resource_server === 1,
      about: JSON.parse(row.about) as ClientAbout,
    };
  }

  async register(c: ClientRegistration): Promise<RegisteredClient> {
    this.schema.ensure();
    this.registration = undefined;
    this.sql.exec(
      `INSERT INTO client (id, client_id, name, scopes, secret_hash, created_at, grant_types, redirect_uris, auth_method, jwks, resource_server, about)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      c.clientId, c.name, c.scopes.join(" "), c.secretHash ?? null, Date.now(), c.grantTypes.join(" "),
      JSON.stringify(c.redirectUris), c.authMethod, c.jwks ? JSON.stringify(c.jwks) : null, c.resourceServer ? 1 : 0, JSON.stringify(c.about ?? {}),
    );
    return this.view(this.row()!);
  }

  /** The registration, for clients that do not authenticate (public) and for the consent page. */
  async info(): Promise<RegisteredClient | undefined> {
    const row = this.row();
    return row ? this.view(row) : undefined;
  }

  /**
   * The operator rotates the client's secret (admin API): from now on only `secretHash`'s secret
   * authenticates it. Undefined for an unknown client or one that authenticates without a secret.
   */
  async rotateSecret(secretHash: Uint8Array): Promise<RegisteredClient | undefined> {
    const row = this.row();
    if (!row || (row.auth_method !== "client_secret_basic" && row.auth_method !== "client_secret_post")) return undefined;
    const view = this.view(row);
    this.registration = undefined;
    this.sql.exec("UPDATE client SET secret_hash = ?", secretHash);
    await this.invalidateReplicas(row.client_id);
    return view;
  }

  /** The operator removes the client: its registration, codes and spent jtis go; it authenticates no more. */
  async deregister(): Promise<boolean> {
    const row = this.row();
    if (!row) return false;
    this.registration = undefined;
    await this.ctx.storage.deleteAll();
    this.registration = undefined; // a call during the await may have read the row again
    this.schema.forget();
    await this.invalidateReplicas(row.client_id);
    return true;
  }

  /** The wrong secrets guessed at this client, per address (failure-ledger.ts); only once it is registered. */
  private failures(): FailureLedger {
    return new FailureLedger(this.sql, "auth_failure");
  }

  /**
   * Whether `secret` is this client's secret, presented from `address` (failure-ledger.ts; undefined:
   * not counted). A locked address is refused before the secret is compared; a wrong secret is counted.
   */
  async verifySecret(secret: string, address: string | undefined): Promise<SecretVerdict> {
    const presented = await sha256(secret);
    // Read after the await: a rotation that landed meanwhile is the one that counts.
    const row = this.row();
    if (!row) return {};
    if (address !== undefined) {
      const lockedFor = this.failures().lockedFor(address);
      if (lockedFor !== undefined) return { lockedFor };
    }
    if (secretMatches(row.secret_hash ? new Uint8Array(row.secret_hash) : undefined, presented)) return { client: this.view(row) };
    return address !== undefined ? this.secretFailed(address) : {};
  }

  /**
   * A wrong secret for this client from `address`, decided by a replica: counted, in this object's
   * order, so that concurrent guesses are each counted. A lock it starts reaches every replica before
   * the answer does, so that the right secret from that address is refused there too.
   */
  async secretFailed(address: string): Promise<SecretVerdict> {
    if (!this.row()) return {};
    const { AUTH_FAILURE_LIMIT: limit, AUTH_FAILURE_LOCK_SECONDS: lockSeconds } = config(this.env);
    const { lockedFor, locked } = this.ctx.storage.transactionSync(() => this.failures().failed(address, { limit, lockSeconds }));
    if (locked) await this.invalidateReplicas(this.row()!.client_id);
    return lockedFor !== undefined ? { lockedFor } : {};
  }

  /** What a replica of this client copies (credential-replica.ts): the registration, the secret's hash and the locks. */
  async credential(): Promise<ClientCredential> {
    const row = this.row();
    if (!row) return {};
    const locks = this.failures().locks();
    return {
      client: this.view(row),
      ...(row.secret_hash ? { secretHash: new Uint8Array(row.secret_hash) } : {}),
      ...(Object.keys(locks).length ? { locks } : {}),
    };
  }

  /**
   * After a change of what authentication decides, and before the admin call returns: every replica
   * drops its copy. A replica that does not answer after INVALIDATION_ROUNDS may hold its copy until
   * its lease ends; waiting out the lease keeps "the old credential works nowhere once this returns".
   */
  private async invalidateReplicas(clientId: string): Promise<void> {
    let pending = clientReplicaNames(clientId);
    for (let round = 0; round < INVALIDATION_ROUNDS && pending.length; round++) {
      const results = await Promise.allSettled(pending.map((name) => this.env.OAUTH_CLIENTS.getByName(name).invalidateReplica(clientId)));
      pending = pending.filter((_, i) => results[i]!.status === "rejected");
    }
    if (pending.length) {
      console.warn(`oauth: ${pending.length} credential replicas of ${clientId} unreachable; waiting out their ${REPLICA_LEASE_MS} ms lease`);
      // A second more than the lease, for the clocks of objects on other machines.
      await new Promise((resolve) => setTimeout(resolve, REPLICA_LEASE_MS + 1_000));
    }
  }

  // Called on a replica object (credential-replica.ts), by the token endpoint's client authentication.

  /**
   * verifySecret, decided by this replica's copy: the same hash compared the same way, the same locks.
   * Only a wrong secret calls the primary, which counts it (the right one costs no call there).
   */
  async replicaVerifySecret(clientId: string, secret: string, address: string | undefined): Promise<SecretVerdict> {
    const replica = this.replicaOf(clientId);
    const presented = await sha256(secret);
    const credential = await replica.current();
    if (!credential) return this.primary(clientId).verifySecret(secret, address);
    if (!credential.client) return {};
    const now = Date.now();
    const lockedUntil = address !== undefined ? credential.locks?.[address] : undefined;
    if (lockedUntil !== undefined && lockedUntil > now) return { lockedFor: secondsLeft(lockedUntil, now) };
    if (secretMatches(credential.secretHash, presented)) return { client: credential.client };
    return address !== undefined ? this.primary(clientId).secretFailed(address) : {};
  }

  /** info(), from this replica's copy (public clients at the token endpoint). */
  async replicaInfo(clientId: string): Promise<RegisteredClient | undefined> {
    const credential = await this.replicaOf(clientId).current();
    return credential ? credential.client : this.primary(clientId).info();
  }

  /** The primary changed `clientId`'s credential: this replica drops its copy (credential-replica.ts). */
  async invalidateReplica(clientId: string): Promise<void> {
    if (this.replica?.clientId === clientId) this.replica.invalidate();
  }

  private primary(clientId: string): DurableObjectStub<OAuthClientObject> {
    return this.env.OAUTH_CLIENTS.getByName(clientId);
  }

  /** This object's replica of `clientId`; only an object named as one of that client's replicas is one. */
  private replicaOf(clientId: string): CredentialReplica {
    if (this.replica?.clientId === clientId) return this.replica;
    if (!clientReplicaNames(clientId).some((name) => this.ctx.id.equals(this.env.OAUTH_CLIENTS.idFromName(name)))) {
      throw new Error(`object is not a credential replica of ${clientId}`);
    }
    const primary = this.primary(clientId);
    this.replica = new CredentialReplica(clientId, () => primary.credential() as Promise<ClientCredential>);
    return this.replica;
  }

  /**
   * private_key_jwt (RFC 7523 §2.2, RFC 7521 §5.2): an assertion signed with one of the client's
   * registered keys, iss = sub = client_id, aud = one of ours, at most 300 s of life, jti once.
   */
  async authenticateAssertion(assertion: string, audiences: string[]): Promise<{ client?: RegisteredClient; reason?: string }> {
    const row = this.row();
    if (!row || row.auth_method !== "private_key_jwt" || !row.jwks) return { reason: "client does not use private_key_jwt" };
    const check = await verifyClientAssertion(assertion, createLocalJWKSet(JSON.parse(row.jwks)), row.client_id, audiences);
    if (!check.ok) return { reason: check.reason };
    return this.spendJti(check.jti, check.exp) ? { client: this.view(row) } : { reason: "client assertion jti was already used" };
  }

  /**
   * The jti of a verified assertion of an external client (hooks.ts), whose object this is, named
   * by its client_id: true the first time. Only called after the signature verified.
   */
  async spendExternalAssertionJti(jti: string, exp: number): Promise<boolean> {
    this.schema.ensure();
    return this.spendJti(jti, exp);
  }

  private spendJti(jti: string, exp: number): boolean {
    return this.ctx.storage.transactionSync(() => spendOnce(this.sql, "assertion_jti", jti, exp));
  }

  /** A one-time authorization code for an approved consent; a consent yields one code at most. */
  async createAuthCode(grant: AuthCodeGrant): Promise<string | undefined> {
    const code = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const hash = base64url(await sha256(code));
    const now = Date.now();
    if (!this.schema.exists) return undefined;
    return this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM auth_code WHERE expires_at < ?", now - 24 * 3600_000);
      if (one(this.sql, "SELECT 1 AS x FROM auth_code WHERE consent_id = ?", grant.consentId)) return undefined;
      this.sql.exec(
        "INSERT INTO auth_code (code_hash, sub, scope, redirect_uri, code_challenge, consent_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        hash, grant.sub, grant.scope, grant.redirectUri, grant.codeChallenge, grant.consentId, now + AUTH_CODE_TTL_MS,
      );
      return code;
    });
  }

  /**
   * Spends a code (RFC 6749 §4.1.3, RFC 7636 §4.6). `familyId`: the refresh-token family the
   * redemption will start, recorded in the same step that spends the code, so that a second use,
   * however close, is refused and names it for the caller to revoke (RFC 6749 §4.1.2).
   */
  async redeemAuthCode(code: string, redirectUri: string, codeVerifier: string, familyId?: string): Promise<CodeRedemption> {
    const hash = base64url(await sha256(code));
    const challenge = base64url(await sha256(codeVerifier));
    const now = Date.now();
    if (!this.schema.exists) return { ok: false, reason: "unknown authorization code" };
    return this.ctx.storage.transactionSync((): CodeRedemption => {
      const row = one<{ sub: string; scope: string; redirect_uri: string; code_challenge: string; expires_at: number; used_at: number | null; family_id: string | null }>(
        this.sql, "SELECT * FROM auth_code WHERE code_hash = ?", hash);
      if (!row) return { ok: false, reason: "unknown authorization code" };
      if (row.used_at !== null) return { ok: false, reason: "authorization code was already used", ...(row.family_id ? { familyToRevoke: row.family_id } : {}) };
      this.sql.exec("UPDATE auth_code SET used_at = ? WHERE code_hash = ?", now, hash);
      if (row.expires_at <= now) return { ok: false, reason: "authorization code expired" };
      if (row.redirect_uri !== redirectUri) return { ok: false, reason: "redirect_uri does not match the authorization request" };
      const [presented, expected] = [new TextEncoder().encode(challenge), new TextEncoder().encode(row.code_challenge)];
      if (presented.length !== expected.length || !crypto.subtle.timingSafeEqual(presented, expected)) {
        return { ok: false, reason: "code_verifier does not match the code_challenge" };
      }
      if (familyId) this.sql.exec("UPDATE auth_code SET family_id = ? WHERE code_hash = ?", familyId, hash);
      // When the subscriber consented: the code was made then, AUTH_CODE_TTL_MS before it expires.
      return { ok: true, sub: row.sub, scope: row.scope, codeId: hash, authTime: Math.floor((row.expires_at - AUTH_CODE_TTL_MS) / 1000) };
    });
  }

  // Tokens this client holds for itself (client_credentials): their revocation lives here.
  async revokeToken(jti: string, exp: number): Promise<void> {
    // Only ever called for a token this server signed, so writing here is never a stranger's doing
    // (the client may be an external one, federation.ts, with no registration of its own).
    this.schema.ensure();
    this.sql.exec("INSERT OR IGNORE INTO revoked_token (jti, expires_at) VALUES (?, ?)", jti, exp);
  }

  async isTokenLive(jti: string): Promise<boolean> {
    if (!this.schema.exists) return true; // nothing was ever revoked here
    this.sql.exec("DELETE FROM revoked_token WHERE expires_at < ?", Math.floor(Date.now() / 1000));
    return !one(this.sql, "SELECT 1 AS x FROM revoked_token WHERE jti = ?", jti);
  }
}
