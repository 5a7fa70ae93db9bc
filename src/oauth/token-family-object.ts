// One object per refresh-token family (one authorization grant), named by the family id that
// prefixes each of its refresh tokens. Rotation (RFC 9700 §4.14.2): each refresh token is good for
// one use and is replaced; presenting a replaced one means it leaked, so the whole family is revoked,
// with every access token it issued.
//
// Every access token of the family is recorded in the same transaction that hands out the refresh
// token beside it (start, rotate), before it is signed: a revocation racing with a rotation then
// always finds the winner's access token. A revoked family records nothing new, and a family revoked
// before it started (the replay of its authorization code won the race) never starts.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { base64url, sha256 } from "../http/crypto";
import { LazySchema, one } from "../http/sql";
import { tokenOwner } from "./token-liveness";

export interface FamilyGrant {
  clientId: string;
  sub: string;
  scope: string;
  /**
   * When the subscriber authorised the grant (seconds): every access token of the family carries it as
   * RFC 9068 `auth_time`, so that a grant of a previous holder of the number fails like its tokens.
   */
  authTime?: number;
}

export type Rotation = { ok: true; grant: FamilyGrant; refreshToken: string } | { ok: false; reason: string; error?: "invalid_scope" };

/** The access token issued beside a refresh token: recorded before it is signed. */
export interface IssuedAccessToken {
  jti: string;
  exp: number;
}

const FAMILY_SCHEMA = [
  `CREATE TABLE family (id INTEGER PRIMARY KEY CHECK (id = 1), family_id TEXT NOT NULL, client_id TEXT NOT NULL, sub TEXT NOT NULL,
     scope TEXT NOT NULL, current_hash TEXT NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);
   CREATE TABLE used_hash (hash TEXT PRIMARY KEY);
   CREATE TABLE access_token (jti TEXT PRIMARY KEY, exp INTEGER NOT NULL);`,
  // when the subscriber authorised the grant; null for families started before: their start counts
  `ALTER TABLE family ADD COLUMN auth_time INTEGER;`,
];

/** Absolute lifetime of a family: after it, the subscriber authorises the application again. */
const FAMILY_LIFETIME_MS = 30 * 24 * 3600_000;


export class TokenFamilyObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  // Applied on the first write: a forged refresh token names a family that never gets storage.
  private readonly schema: LazySchema;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.schema = new LazySchema(ctx, FAMILY_SCHEMA);
  }

  /** `familyId`: the object's name (object-names.ts), the prefix of each of its refresh tokens. */
  private async newToken(familyId: string): Promise<{ token: string; hash: string }> {
    const token = `${familyId}.${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
    return { token, hash: base64url(await sha256(token)) };
  }

  /**
   * Starts the family with its first refresh token and the access token issued beside it; undefined
   * when the family was revoked before it started (its code was replayed meanwhile).
   */
  async start(familyId: string, grant: FamilyGrant, access: IssuedAccessToken): Promise<string | undefined> {
    const { token, hash } = await this.newToken(familyId);
    this.schema.ensure();
    const started = this.ctx.storage.transactionSync(() => {
      if (this.family()) return false;
      this.sql.exec(
        "INSERT INTO family (id, family_id, client_id, sub, scope, current_hash, expires_at, auth_time) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
        familyId, grant.clientId, grant.sub, grant.scope, hash, Date.now() + FAMILY_LIFETIME_MS, grant.authTime ?? null,
      );
      this.sql.exec("INSERT INTO access_token (jti, exp) VALUES (?, ?)", access.jti, access.exp);
      return true;
    });
    if (!started) return undefined;
    await this.ctx.storage.setAlarm(Date.now() + FAMILY_LIFETIME_MS);
    return token;
  }

  private family() {
    if (!this.schema.exists) return undefined;
    return one<{ family_id: string; client_id: string; sub: string; scope: string; current_hash: string; expires_at: number; revoked_at: number | null; auth_time: number | null }>(
      this.sql, "SELECT * FROM family");
  }

  /**
   * Spends `refreshToken` and hands out its successor, recording `access` (the access token to be
   * issued with it) in the same step; a replayed one revokes the family.
   */
  async rotate(refreshToken: string, clientId: string, access: IssuedAccessToken, requestedScope?: string[]): Promise<Rotation> {
    const presented = base64url(await sha256(refreshToken));
    const next = await this.newToken(refreshToken.slice(0, refreshToken.indexOf(".")));
    const result = this.ctx.storage.transactionSync((): Rotation | "reuse" => {
      const f = this.family();
      if (!f || f.client_id !== clientId) return { ok: false, reason: "unknown refresh token" };
      if (f.revoked_at !== null) return { ok: false, reason: "refresh token was revoked" };
      if (f.expires_at <= Date.now()) return { ok: false, reason: "refresh token expired" };
      if (presented !== f.current_hash) {
        if (one(this.sql, "SELECT 1 AS x FROM used_hash WHERE hash = ?", presented)) return "reuse";
        return { ok: false, reason: "unknown refresh token" };
      }
      // RFC 6749 §6: a narrower scope may be asked for, never a wider one. Refused before the token is
      // spent, so that the client's corrected retry with the same token is not taken for a reuse.
      const granted = f.scope.split(" ");
      const wider = (requestedScope ?? []).filter((s) => !granted.includes(s));
      if (wider.length) return { ok: false, error: "invalid_scope", reason: `not in the original grant: ${wider.join(" ")}` };
      this.sql.exec("INSERT INTO used_hash (hash) VALUES (?)", presented);
      this.sql.exec("UPDATE family SET current_hash = ?", next.hash);
      this.sql.exec("INSERT OR IGNORE INTO access_token (jti, exp) VALUES (?, ?)", access.jti, access.exp);
      const authTime = f.auth_time ?? Math.floor((f.expires_at - FAMILY_LIFETIME_MS) / 1000);
      return { ok: true, grant: { clientId: f.client_id, sub: f.sub, scope: f.scope, authTime }, refreshToken: next.token };
    });
    if (result === "reuse") {
      await this.revoke();
      return { ok: false, reason: "refresh token was already used; the grant is revoked" };
    }
    return result;
  }

  /** The family's grant when `refreshToken` is its live token (introspection). */
  async introspect(refreshToken: string): Promise<(FamilyGrant & { exp: number }) | undefined> {
    const f = this.family();
    if (!f || f.revoked_at !== null || f.expires_at <= Date.now()) return undefined;
    if (base64url(await sha256(refreshToken)) !== f.current_hash) return undefined;
    return { clientId: f.client_id, sub: f.sub, scope: f.scope, exp: Math.floor(f.expires_at / 1000) };
  }

  /** The operator's view of the grant (admin API): who, what, until when, whether revoked; never a token. */
  async summary(): Promise<{ familyId: string; clientId: string; sub: string; scope: string; expiresAt: number; revokedAt?: number } | undefined> {
    const f = this.family();
    if (!f || !f.client_id) return undefined;
    return { familyId: f.family_id, clientId: f.client_id, sub: f.sub, scope: f.scope, expiresAt: f.expires_at, ...(f.revoked_at !== null ? { revokedAt: f.revoked_at } : {}) };
  }

  async clientId(): Promise<string | undefined> {
    return this.family()?.client_id || undefined; // "" marks a family revoked before it started
  }

  /**
   * Revokes the refresh token and every access token of the family (RFC 7009 §2.1). `beforeStart`:
   * the caller knows the family id from its own records (the code that starts it) and the family may
   * not have started yet; it is then marked so that it never does.
   */
  async revoke(beforeStart = false): Promise<void> {
    if (beforeStart && !this.family()) {
      this.schema.ensure();
      this.sql.exec(
        "INSERT OR IGNORE INTO family (id, family_id, client_id, sub, scope, current_hash, expires_at, revoked_at) VALUES (1, '', '', '', '', '', ?, ?)",
        Date.now() + FAMILY_LIFETIME_MS, Date.now(),
      );
      await this.ctx.storage.setAlarm(Date.now() + FAMILY_LIFETIME_MS);
      return;
    }
    const f = this.family();
    if (!f) return;
    this.sql.exec("UPDATE family SET revoked_at = COALESCE(revoked_at, ?)", Date.now());
    const nowS = Math.floor(Date.now() / 1000);
    const tokens = this.sql.exec<{ jti: string; exp: number }>("SELECT jti, exp FROM access_token WHERE exp > ?", nowS).toArray();
    if (tokens.length === 0) return;
    await tokenOwner(this.env, f.sub, f.client_id).revoke(tokens);
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
    this.schema.forget();
  }
}
