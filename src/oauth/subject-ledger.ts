// The authorization server's ledger for one subject (a subscriber), kept in the subject's own
// Durable Object so that every check rides on the call the API makes anyway: the jtis of spent
// device-key assertions, the access tokens revoked before they expire, and the device grants
// (RFC 8628) started for the subject. It is a store: it owns these tables and their schema steps;
// the host object composes it and calls it inside its own transactions.
//
// It knows nothing of what a token is bound to (a twinning relationship, for instance). The host
// plugs that in as SubjectBindings: whether a binding still holds, whether a device grant's user
// code was approved, and whom a bound token may act for (RFC 8693 delegation).
import type { StoreSchema } from "../http/sql";
import { one } from "../http/sql";
import type { Env } from "../env";
import { base64url, sha256 } from "../http/crypto";
import { sealName } from "./object-names";
import { checkAssertion, replayGuardTable, spendJti } from "./assertion-guard";
import type { TokenRef } from "./tokens";

export const SUBJECT_LEDGER_SCHEMA: StoreSchema = {
  name: "oauth-subject-ledger",
  steps: [
    replayGuardTable("used_jti"),
    `CREATE TABLE revoked_token (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
     CREATE TABLE device_grant (hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, scope TEXT NOT NULL, code TEXT NOT NULL,
       expires_at INTEGER NOT NULL, interval_s INTEGER NOT NULL, last_poll_at INTEGER, issued_at INTEGER);`,
  ],
};

/** The default polling interval of device grants (RFC 8628 §3.2), and the step of slow_down. */
export const DEVICE_POLL_INTERVAL_S = 5;
/** A device grant's row is kept a day after its code expired, so a late poll still gets a precise answer. */
const DEVICE_GRANT_KEEP_MS = 24 * 3600_000;

export type AssertionResult = { ok: true } | { ok: false; reason: string };

/** A device authorization (RFC 8628) riding on a user-code request. */
export interface DeviceGrantRequest {
  clientId: string;
  scope: string;
}

export type DevicePoll =
  | { ok: true; sub: string; scope: string; twinId: string }
  | { ok: false; error: "authorization_pending" | "slow_down" | "expired_token" | "access_denied" | "invalid_grant"; description: string };

/** Where a device grant's user code stands, as the capability that issued it sees it. */
export type UserCodeState =
  | { state: "approved"; binding: string }
  | { state: "completing" }
  | { state: "waiting" }
  | { state: "refused" };

/** What the host knows about its subject's bindings (plugged in by the capability that hosts the ledger). */
export interface SubjectBindings {
  /** A token bound to `binding` (its twin_id claim) is live while this holds. */
  bindingLive(binding: string): boolean;
  userCodeState(userCode: string): UserCodeState;
  /** RFC 8693: the subject a token bound to `binding` may act for, if any. */
  actingFor(binding: string): string | undefined;
}

export class SubjectLedger {
  /** The revoked jtis and their expiry, read once per instance: every API call checks them. */
  private revoked: Map<string, number> | undefined;
  /**
   * The device key imported for HMAC, with the bytes it was imported from: importing it cost more
   * than the rest of the check. It stays in this object's memory, where the key itself is anyway,
   * and is imported again whenever the host hands over other bytes (a new holder of the number).
   */
  private deviceKey: { bytes: Uint8Array; key: CryptoKey } | undefined;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly bindings: SubjectBindings,
  ) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /** RFC 7523: an HS256 assertion signed with the subject's device key; its jti is spent here, once. */
  async verifyDeviceAssertion(deviceKey: Uint8Array, subject: string, assertion: string, clientId: string, audience: string | string[]): Promise<AssertionResult> {
    const check = await checkAssertion(assertion, await this.importedDeviceKey(deviceKey), { algorithms: ["HS256"], issuer: clientId, subject, audience, what: "assertion" });
    if (!check.ok) return check;
    const fresh = this.storage.transactionSync(() => spendJti(this.sql, "used_jti", check.payload.jti, check.payload.exp));
    return fresh ? { ok: true } : { ok: false, reason: "assertion jti was already used" };
  }

  private async importedDeviceKey(bytes: Uint8Array): Promise<CryptoKey> {
    const cached = this.deviceKey;
    if (cached && sameBytes(cached.bytes, bytes)) return cached.key;
    const key = await crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    this.deviceKey = { bytes: bytes.slice(), key };
    return key;
  }

  private revokedSet(): Map<string, number> {
    if (!this.revoked) {
      const nowS = Math.floor(Date.now() / 1000);
      this.revoked = new Map(this.sql.exec<{ jti: string; expires_at: number }>("SELECT jti, expires_at FROM revoked_token WHERE expires_at >= ?", nowS).toArray().map((r) => [r.jti, r.expires_at]));
    }
    return this.revoked;
  }

  /**
   * Why a token of this subject is dead, or undefined when it is live: revoked, issued before the
   * subject's current holder was provisioned (`tokensFrom`, seconds), or bound to a binding that ended.
   * Answers from memory except for bound tokens, whose binding the host checks.
   */
  tokenProblem(token: TokenRef, tokensFrom: number): string | undefined {
    // A token of an earlier grant (a refresh, a code) dates from when that grant was authorised.
    if ((token.authTime ?? token.iat) < tokensFrom) return "token issued to a previous holder of this number";
    if (this.revokedSet().has(token.jti)) return "token revoked";
    if (token.twinId && !this.bindings.bindingLive(token.twinId)) return "twinning relationship ended";
    return undefined;
  }

  /** RFC 7009 and family revocation: these access tokens fail from now on. */
  revoke(tokens: { jti: string; exp: number }[]): void {
    const nowS = Math.floor(Date.now() / 1000);
    const revoked = this.revokedSet();
    this.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM revoked_token WHERE expires_at < ?", nowS);
      for (const t of tokens) this.sql.exec("INSERT OR IGNORE INTO revoked_token (jti, expires_at) VALUES (?, ?)", t.jti, t.exp);
    });
    for (const [jti, exp] of revoked) if (exp < nowS) revoked.delete(jti);
    for (const t of tokens) revoked.set(t.jti, t.exp);
  }

  /** RFC 8693 (HLF-SD-009): whom a live, bound token may act for, and its binding. */
  delegation(token: TokenRef, tokensFrom: number): { actFor: string; binding: string } | undefined {
    if (!token.twinId || this.tokenProblem(token, tokensFrom)) return undefined;
    const actFor = this.bindings.actingFor(token.twinId);
    return actFor ? { actFor, binding: token.twinId } : undefined;
  }

  /**
   * Starts a device grant for `userCode`. The device code routes back to the subject's object: it
   * carries the subject sealed (object-names.ts: opaque to everyone but this server, RFC 8628 §3.2),
   * then 32 random bytes; only its hash is kept. Call `recordDeviceGrant` with the result inside the
   * transaction that issues the user code.
   */
  async newDeviceCode(env: Env, subject: string): Promise<{ secret: string; hash: string }> {
    const secret = `${await sealName(env, subject)}.${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
    return { secret, hash: base64url(await sha256(secret)) };
  }

  recordDeviceGrant(hash: string, request: DeviceGrantRequest, userCode: string, expiresAt: number): void {
    this.sql.exec("DELETE FROM device_grant WHERE expires_at < ?", Date.now() - DEVICE_GRANT_KEEP_MS);
    this.sql.exec(
      "INSERT INTO device_grant (hash, client_id, scope, code, expires_at, interval_s) VALUES (?, ?, ?, ?, ?, ?)",
      hash, request.clientId, request.scope, userCode, expiresAt, DEVICE_POLL_INTERVAL_S,
    );
  }

  /**
   * RFC 8628 §3.4/3.5: one poll of a device grant. Approved once the capability says the user code
   * was used; then it yields one bound token, once.
   */
  async pollDeviceGrant(subject: string | undefined, deviceCode: string, clientId: string): Promise<DevicePoll> {
    const hash = base64url(await sha256(deviceCode));
    const now = Date.now();
    return this.storage.transactionSync((): DevicePoll => {
      const grant = one<{ client_id: string; scope: string; code: string; expires_at: number; interval_s: number; last_poll_at: number | null; issued_at: number | null }>(
        this.sql, "SELECT * FROM device_grant WHERE hash = ?", hash);
      if (!subject || !grant || grant.client_id !== clientId) return { ok: false, error: "invalid_grant", description: "unknown device_code" };
      if (grant.issued_at !== null) return { ok: false, error: "invalid_grant", description: "device_code was already exchanged" };
      const code = this.bindings.userCodeState(grant.code);
      if (code.state === "approved") {
        this.sql.exec("UPDATE device_grant SET issued_at = ? WHERE hash = ?", now, hash);
        return { ok: true, sub: subject, scope: grant.scope, twinId: code.binding };
      }
      if (grant.last_poll_at !== null && now - grant.last_poll_at < grant.interval_s * 1000) {
        this.sql.exec("UPDATE device_grant SET interval_s = interval_s + ?, last_poll_at = ? WHERE hash = ?", DEVICE_POLL_INTERVAL_S, now, hash);
        return { ok: false, error: "slow_down", description: `poll at most every ${grant.interval_s + DEVICE_POLL_INTERVAL_S} s` };
      }
      this.sql.exec("UPDATE device_grant SET last_poll_at = ? WHERE hash = ?", now, hash);
      if (code.state === "completing") return { ok: false, error: "authorization_pending", description: "the activation is being completed" };
      if (grant.expires_at <= now) return { ok: false, error: "expired_token", description: "the activation code expired before a primary used it" };
      if (code.state === "refused") return { ok: false, error: "access_denied", description: "the activation code was replaced, used elsewhere or refused" };
      return { ok: false, error: "authorization_pending", description: "waiting for the primary device to enter the activation code" };
    });
  }

  /** Forgets everything of the subject (deprovisioning): its tokens die with its profile anyway. */
  clear(): void {
    this.sql.exec("DELETE FROM used_jti; DELETE FROM device_grant; DELETE FROM revoked_token;");
    this.revoked = new Map();
    this.deviceKey = undefined;
  }

  /** Forgets what was read into memory (a transaction that wrote here rolled back): read again when needed. */
  forget(): void {
    this.revoked = undefined;
    this.deviceKey = undefined;
  }
}

/** Byte equality of two keys this object holds (both its own secrets: no timing to hide from anyone). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
