// One object per subscriber (named by its tel: address). It owns every fact about that subscriber:
// its provisioning, its device-key assertions, and its twinning role. As a primary it is the commit
// point of each of its relationships (the twin rows); as a secondary it owns the claim that it is in
// at most one relationship (HLF-TE-008/009). Facts that span two subscribers move between objects
// through a transactional outbox drained inline and, on failure, by the alarm.
import { DurableObject } from "cloudflare:workers";
import { describeJwtError } from "../http/jwt-errors";
import { jwtVerify } from "jose";
import type { Env } from "../env";
import { config } from "../config";
import { ApiError, invalidInput, notFound, outcome, roleMixture, serviceError, type Outcome } from "../http/errors";
import { migrate, one } from "../http/sql";
import { generateActivationCode } from "../codec";
import type { TokenRef } from "../oauth/tokens";
import { base64url, sha256 } from "../http/crypto";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE, NotificationQueue, withDeadline, type DroppedNotification, type NewSubscription, type SubscriptionRecord, type TwinningEvent } from "../notify/queue";
import type { Mno, TwinningStatus } from "./schemas";

export type Actor = "primary" | "secondary";
export type Role = "none" | "primary" | "secondary";

export interface SubscriberProfile {
  address: string;
  mno: Mno;
  role: Role;
  createdAt: number;
}

export interface TwinRecord {
  secondary: string;
  name: string;
  status: TwinningStatus;
  secondaryMno: Mno;
  activatedAt: number;
  statusChangedAt: number;
  statusChangedBy: Actor;
}

export interface RelationshipRecord {
  primary: string;
  name: string;
  status: TwinningStatus;
  primaryMno: Mno;
  activatedAt: number;
  statusChangedAt: number;
  statusChangedBy: Actor;
}

export interface IssuedActivationCode {
  code: string;
  mno: Mno;
  expiresAt: number;
  /** Present when the request also asked for a device grant: the secret the device polls with. */
  deviceCode?: string;
  interval?: number;
}

/** What a primary offers a secondary when it redeems the secondary's code (the prepare step). */
export interface ActivationOffer {
  activationId: string;
  primary: string;
  primaryMno: Mno;
  code: string;
  name: string;
  activatedAt: number;
}

export interface StatusChange {
  status: TwinningStatus;
  version: number;
  at: number;
  by: Actor;
}

export type AssertionResult = { ok: true } | { ok: false; reason: string };

/** A device authorization (RFC 8628) riding on an activation-code request. */
export interface DeviceGrantRequest {
  clientId: string;
  scope: string;
}

export type DevicePoll =
  | { ok: true; sub: string; scope: string; twinId: string }
  | { ok: false; error: "authorization_pending" | "slow_down" | "expired_token" | "access_denied" | "invalid_grant"; description: string };

/** The default polling interval of device grants (RFC 8628 §3.2), and the step of slow_down. */
export const DEVICE_POLL_INTERVAL_S = 5;

/** Messages one subscriber object sends another; every receiver is idempotent. */
type OutboxMessage =
  | { method: "confirmActivation"; activationId: string }
  | { method: "abortActivation"; activationId: string }
  | { method: "applyStatus"; activationId: string; change: StatusChange }
  | { method: "relationshipEnded"; activationId: string; by: Actor }
  | { method: "secondaryLeft"; secondary: string; activationId: string };

/** HLF-TE-005 brute-force guard: failed codes per primary and the window they count in. */
export const MAX_FAILED_CODE_ATTEMPTS = 5;
export const FAILED_CODE_WINDOW_MS = 15 * 60_000;
/** How long a half-done activation may stay half-done before an alarm completes or undoes it. */
const ACTIVATION_DEADLINE_MS = 30_000;
const MAX_ASSERTION_LIFETIME_S = 300;
const CLOCK_SKEW_S = 30;
const OUTBOX_RETRY_BASE_MS = 1_000;
const OUTBOX_RETRY_MAX_MS = 5 * 60_000;
/** An alarm found set but this far overdue was lost by the runtime (see scheduleAlarm) and is set again. */
const ALARM_OVERDUE_MS = 2_000;
/** A peer that has not answered an outbox message by then is retried later (receivers are idempotent). */
const OUTBOX_DELIVERY_TIMEOUT_MS = 10_000;
const CODE_ISSUE_ATTEMPTS = 8;

const SCHEMA = [
  `CREATE TABLE profile (id INTEGER PRIMARY KEY CHECK (id = 1), address TEXT NOT NULL, mcc TEXT NOT NULL,
     mnc TEXT NOT NULL, device_key BLOB NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE used_jti (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   -- primary role: the relationships this subscriber is the primary of (HLF-PD-006)
   CREATE TABLE twin (secondary TEXT PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE UNIQUE, status TEXT NOT NULL,
     version INTEGER NOT NULL, activation_id TEXT NOT NULL UNIQUE, mcc TEXT NOT NULL, mnc TEXT NOT NULL,
     activated_at INTEGER NOT NULL, changed_at INTEGER NOT NULL, changed_by TEXT NOT NULL);
   -- primary role, in progress: an activation between redeeming a code and committing the twin
   CREATE TABLE reservation (activation_id TEXT PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE UNIQUE,
     secondary TEXT, deadline INTEGER NOT NULL);
   CREATE TABLE failed_code (at INTEGER NOT NULL);
   -- secondary role: the one relationship this subscriber may be the secondary of (HLF-TE-009)
   CREATE TABLE relationship (id INTEGER PRIMARY KEY CHECK (id = 1), activation_id TEXT NOT NULL, primary_address TEXT NOT NULL,
     mcc TEXT NOT NULL, mnc TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
     state TEXT NOT NULL, deadline INTEGER, activated_at INTEGER NOT NULL, changed_at INTEGER NOT NULL, changed_by TEXT NOT NULL);
   CREATE TABLE current_code (id INTEGER PRIMARY KEY CHECK (id = 1), code TEXT NOT NULL, expires_at INTEGER NOT NULL);
   CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, message TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL);`,
  // v2 (Autho4API): revoked access tokens of this subscriber, relationship-bound device grants (RFC 8628)
  `CREATE TABLE revoked_token (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
   CREATE TABLE device_grant (hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, scope TEXT NOT NULL, code TEXT NOT NULL,
     expires_at INTEGER NOT NULL, interval_s INTEGER NOT NULL, last_poll_at INTEGER, issued_at INTEGER);
   ALTER TABLE relationship ADD COLUMN via_code TEXT;`,
  // v3 (notifications): subscriptions and their ordered delivery queue
  NOTIFY_SCHEMA,
  // v4: tokens issued before the profile (to a previous holder of a recycled number) are dead;
  // `retired` outlives deprovisioning and says until which second the previous holder's tokens run.
  `ALTER TABLE profile ADD COLUMN tokens_from INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE retired (id INTEGER PRIMARY KEY CHECK (id = 1), until_s INTEGER NOT NULL);`,
  // v5 (notifications): each subscription's delivery state, and dropped notifications kept for replay
  NOTIFY_SCHEMA_DELIVERY_STATE,
];

interface ProfileRow extends Record<string, SqlStorageValue> {
  address: string;
  mcc: string;
  mnc: string;
  device_key: ArrayBuffer;
  created_at: number;
  /** Tokens issued (iat, seconds) before this belong to a previous holder of the number. */
  tokens_from: number;
}
interface TwinRow extends Record<string, SqlStorageValue> {
  secondary: string;
  name: string;
  status: TwinningStatus;
  version: number;
  activation_id: string;
  mcc: string;
  mnc: string;
  activated_at: number;
  changed_at: number;
  changed_by: Actor;
}
interface RelationshipRow extends Record<string, SqlStorageValue> {
  activation_id: string;
  primary_address: string;
  mcc: string;
  mnc: string;
  name: string;
  status: TwinningStatus;
  version: number;
  state: "pending" | "active";
  deadline: number | null;
  activated_at: number;
  changed_at: number;
  changed_by: Actor;
}

const twinRecord = (r: TwinRow): TwinRecord => ({
  secondary: r.secondary,
  name: r.name,
  status: r.status,
  secondaryMno: { mcc: r.mcc, mnc: r.mnc },
  activatedAt: r.activated_at,
  statusChangedAt: r.changed_at,
  statusChangedBy: r.changed_by,
});

export class SubscriberObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly notifications: NotificationQueue;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
    this.notifications = new NotificationQueue(this.sql, env);
  }

  private tx<T>(fn: () => T): T {
    try {
      return this.ctx.storage.transactionSync(fn);
    } finally {
      // Notifications queued by the change are armed as soon as it commits, not after the caller's
      // own awaits: a peer slow to take an outbox message must not hold them up. (Outbox messages are
      // delivered by the request itself right after, which arms the alarm only if that fails.)
      if (this.queuedNotifications) {
        this.queuedNotifications = false;
        void this.scheduleAlarm();
      }
    }
  }

  /** Set when the current transaction queued notifications (see tx). */
  private queuedNotifications = false;

  // ---------------------------------------------------------------- provisioning (admin API)

  /** Only provision and deprovision change the profile, so it is read from SQLite once per instance. */
  private profileCache: ProfileRow | null | undefined;

  private profileRow(): ProfileRow | undefined {
    if (this.profileCache === undefined) this.profileCache = one<ProfileRow>(this.sql, "SELECT * FROM profile") ?? null;
    return this.profileCache ?? undefined;
  }

  private requireProfile(): ProfileRow {
    const row = this.profileRow();
    // The token outlived its subscriber: the subject no longer exists.
    if (!row) throw new ApiError(401, "POL0001", ["subscriber is not provisioned"], { "WWW-Authenticate": 'Bearer error="invalid_token"' });
    return row;
  }

  private role(): Role {
    if (one(this.sql, "SELECT 1 AS x FROM relationship")) return "secondary";
    if (one(this.sql, "SELECT 1 AS x FROM twin UNION ALL SELECT 1 FROM reservation LIMIT 1")) return "primary";
    return "none";
  }

  async provision(address: string, mno: Mno, deviceKey: Uint8Array): Promise<{ created: boolean; profile: SubscriberProfile }> {
    // A recycled number: every token of the previous holder has iat <= retired.until_s. The new
    // holder's profile starts in a later second, so each of its tokens has a later iat (and none of
    // the old ones passes). At most one second's wait, only when the number was removed this second.
    const retired = one<{ until_s: number }>(this.sql, "SELECT until_s FROM retired")?.until_s;
    if (retired !== undefined && !this.profileRow()) {
      const wait = (retired + 1) * 1000 - Date.now();
      if (wait > 0) await scheduler.wait(wait);
    }
    const created = this.tx(() => {
      const existing = this.profileRow();
      if (existing && existing.address !== address) throw serviceError(500, "subscriber object holds another address");
      this.sql.exec(
        `INSERT INTO profile (id, address, mcc, mnc, device_key, created_at, tokens_from) VALUES (1, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET mcc = excluded.mcc, mnc = excluded.mnc, device_key = excluded.device_key`,
        address, mno.mcc, mno.mnc, deviceKey, Date.now(), retired === undefined ? 0 : retired + 1,
      );
      this.profileCache = undefined;
      return !existing;
    });
    return { created, profile: (await this.profile())! };
  }

  async profile(): Promise<SubscriberProfile | undefined> {
    const row = this.profileRow();
    if (!row) return undefined;
    return { address: row.address, mno: { mcc: row.mcc, mnc: row.mnc }, role: this.role(), createdAt: row.created_at };
  }

  /**
   * Removes the subscriber. Its relationships end first, on both sides: the peers hear of it
   * through the outbox, so a crash here still reaches them.
   */
  async deprovision(): Promise<boolean> {
    const existed = this.tx(() => {
      const profile = this.profileRow();
      if (!profile) return false;
      for (const twin of this.sql.exec<TwinRow>("SELECT * FROM twin").toArray()) {
        this.enqueue(twin.secondary, { method: "relationshipEnded", activationId: twin.activation_id, by: "primary" });
      }
      for (const r of this.sql.exec<{ activation_id: string; secondary: string | null }>("SELECT activation_id, secondary FROM reservation").toArray()) {
        if (r.secondary) this.enqueue(r.secondary, { method: "abortActivation", activationId: r.activation_id });
      }
      const rel = one<RelationshipRow>(this.sql, "SELECT * FROM relationship");
      if (rel) this.enqueue(rel.primary_address, { method: "secondaryLeft", secondary: profile.address, activationId: rel.activation_id });
      this.sql.exec("DELETE FROM twin; DELETE FROM reservation; DELETE FROM relationship; DELETE FROM current_code; DELETE FROM failed_code; DELETE FROM used_jti; DELETE FROM device_grant; DELETE FROM profile;");
      this.notifications.clear();
      // Issue 12: a recycled number never inherits this holder's tokens (see provision).
      this.sql.exec("INSERT INTO retired (id, until_s) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET until_s = excluded.until_s", Math.floor(Date.now() / 1000));
      this.profileCache = null;
      return true;
    });
    await this.drainOutbox();
    return existed;
  }

  // ---------------------------------------------------------------- OAuth: the network's device authentication

  /**
   * Checks an RFC 7523 assertion signed with this subscriber's device key and spends its jti.
   * The key never leaves the object.
   */
  async verifyDeviceAssertion(assertion: string, clientId: string, audience: string | string[]): Promise<AssertionResult> {
    const profile = this.profileRow();
    if (!profile) return { ok: false, reason: "unknown subject" };
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, new Uint8Array(profile.device_key), {
        algorithms: ["HS256"],
        issuer: clientId,
        subject: profile.address,
        audience,
        requiredClaims: ["exp", "jti"],
        clockTolerance: CLOCK_SKEW_S,
      }));
    } catch (err) {
      const reason = describeJwtError(err, "assertion", { iss: clientId, sub: profile.address, aud: [audience].flat().join(" or "), alg: "HS256" });
      if (reason) return { ok: false, reason };
      throw err;
    }
    const nowS = Math.floor(Date.now() / 1000);
    if (payload.exp! > nowS + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) return { ok: false, reason: "assertion exp is more than 5 minutes ahead" };
    const jti = String(payload.jti);
    return this.tx(() => {
      this.sql.exec("DELETE FROM used_jti WHERE expires_at < ?", nowS - CLOCK_SKEW_S);
      if (one(this.sql, "SELECT 1 AS x FROM used_jti WHERE jti = ?", jti)) return { ok: false, reason: "assertion jti was already used" } as const;
      this.sql.exec("INSERT INTO used_jti (jti, expires_at) VALUES (?, ?)", jti, payload.exp!);
      return { ok: true } as const;
    });
  }

  // ---------------------------------------------------------------- tokens issued to this subscriber

  /**
   * Runs an API call for the holder of `token`, once the token is known to be live here: not
   * revoked, and, for a token bound to a twinning relationship, that relationship still exists
   * (HLF-TE-004, SD-007: deactivation ends such tokens at once; toggling Off does not, TE-003).
   * The check rides on the call the API makes anyway, so it costs no extra round trip.
   */
  private asHolderOf<T>(token: TokenRef, fn: () => T | Promise<T>): Promise<Outcome<T>> {
    return outcome(() => {
      this.requireProfile();
      const dead = this.tokenProblem(token);
      if (dead) throw new ApiError(401, "POL0001", [`invalid_token: ${dead}`], { "WWW-Authenticate": `Bearer error="invalid_token", error_description="${dead}"` });
      return fn();
    });
  }

  private tokenProblem(token: TokenRef): string | undefined {
    if (token.iat < (this.profileRow()?.tokens_from ?? 0)) return "token issued to a previous holder of this number";
    if (one(this.sql, "SELECT 1 AS x FROM revoked_token WHERE jti = ?", token.jti)) return "token revoked";
    if (token.twinId && !this.relationshipLive(token.twinId)) return "twinning relationship ended";
    return undefined;
  }

  private relationshipLive(activationId: string): boolean {
    return !!one(this.sql, "SELECT 1 AS x FROM relationship WHERE activation_id = ? AND state = 'active' UNION ALL SELECT 1 FROM twin WHERE activation_id = ?", activationId, activationId);
  }

  /** RFC 7662: whether a token of this subscriber is still live. */
  async isTokenLive(token: TokenRef): Promise<boolean> {
    return !!this.profileRow() && !this.tokenProblem(token);
  }

  /** RFC 7009 and family revocation: these access tokens fail from now on. */
  async revokeAccessTokens(tokens: { jti: string; exp: number }[]): Promise<void> {
    const nowS = Math.floor(Date.now() / 1000);
    this.tx(() => {
      this.sql.exec("DELETE FROM revoked_token WHERE expires_at < ?", nowS);
      for (const t of tokens) this.sql.exec("INSERT OR IGNORE INTO revoked_token (jti, expires_at) VALUES (?, ?)", t.jti, t.exp);
    });
  }

  /**
   * HLF-SD-009 (token exchange): the primary a live, relationship-bound secondary token may act
   * for, and the relationship it is bound to.
   */
  async delegation(token: TokenRef): Promise<{ primary: string; twinId: string } | undefined> {
    if (!token.twinId || !this.profileRow() || this.tokenProblem(token)) return undefined;
    const rel = one<RelationshipRow>(this.sql, "SELECT * FROM relationship WHERE activation_id = ? AND state = 'active'", token.twinId);
    return rel ? { primary: rel.primary_address, twinId: rel.activation_id } : undefined;
  }

  /**
   * RFC 8628 §3.4/3.5: one poll of a device grant. The grant is approved when the primary activated
   * the twin with the grant's activation code; then it yields one relationship-bound token, once.
   */
  async pollDeviceGrant(deviceCode: string, clientId: string): Promise<DevicePoll> {
    const hash = base64url(await sha256(deviceCode));
    const now = Date.now();
    return this.tx((): DevicePoll => {
      const profile = this.profileRow();
      const grant = one<{ client_id: string; scope: string; code: string; expires_at: number; interval_s: number; last_poll_at: number | null; issued_at: number | null }>(
        this.sql, "SELECT * FROM device_grant WHERE hash = ?", hash);
      if (!profile || !grant || grant.client_id !== clientId) return { ok: false, error: "invalid_grant", description: "unknown device_code" };
      if (grant.issued_at !== null) return { ok: false, error: "invalid_grant", description: "device_code was already exchanged" };
      const rel = one<RelationshipRow>(this.sql, "SELECT * FROM relationship WHERE via_code = ?", grant.code);
      if (rel?.state === "active") {
        this.sql.exec("UPDATE device_grant SET issued_at = ? WHERE hash = ?", now, hash);
        return { ok: true, sub: profile.address, scope: grant.scope, twinId: rel.activation_id };
      }
      if (grant.last_poll_at !== null && now - grant.last_poll_at < grant.interval_s * 1000) {
        this.sql.exec("UPDATE device_grant SET interval_s = interval_s + ?, last_poll_at = ? WHERE hash = ?", DEVICE_POLL_INTERVAL_S, now, hash);
        return { ok: false, error: "slow_down", description: `poll at most every ${grant.interval_s + DEVICE_POLL_INTERVAL_S} s` };
      }
      this.sql.exec("UPDATE device_grant SET last_poll_at = ? WHERE hash = ?", now, hash);
      if (rel) return { ok: false, error: "authorization_pending", description: "the activation is being completed" };
      if (grant.expires_at <= now) return { ok: false, error: "expired_token", description: "the activation code expired before a primary used it" };
      const current = one<{ code: string }>(this.sql, "SELECT code FROM current_code")?.code;
      if (current !== grant.code) return { ok: false, error: "access_denied", description: "the activation code was replaced, used elsewhere or refused" };
      return { ok: false, error: "authorization_pending", description: "waiting for the primary device to enter the activation code" };
    });
  }

  // ---------------------------------------------------------------- secondary device (HLF-SD-*)

  /**
   * HLF-SD-001..003, HLF-TE-005/006: a fresh one-time code for this secondary. A newer code
   * revokes the previous one; the code's MNO is the one that generated it.
   */
  issueActivationCode(token: TokenRef, primaryMno: Mno | undefined, homeMnos: Mno[], ttlMs: number, deviceGrant?: DeviceGrantRequest): Promise<Outcome<IssuedActivationCode>> {
    return this.asHolderOf(token, () => this.issueCode(primaryMno, homeMnos, ttlMs, deviceGrant));
  }

  /** The device authorization endpoint's entry (RFC 8628 §3.1): the subscriber was identified by its device-key assertion. */
  authorizeDevice(primaryMno: Mno | undefined, homeMnos: Mno[], ttlMs: number, deviceGrant: DeviceGrantRequest): Promise<Outcome<IssuedActivationCode>> {
    return outcome(() => this.issueCode(primaryMno, homeMnos, ttlMs, deviceGrant));
  }

  private async issueCode(primaryMno: Mno | undefined, homeMnos: Mno[], ttlMs: number, deviceGrant?: DeviceGrantRequest): Promise<IssuedActivationCode> {
    const profile = this.requireProfile();
    this.assertMayBecomeSecondary();
    const ownMno = { mcc: profile.mcc, mnc: profile.mnc };
    const served = (m: Mno) => homeMnos.some((h) => h.mcc === m.mcc && h.mnc === m.mnc) || (m.mcc === ownMno.mcc && m.mnc === ownMno.mnc);
    if (primaryMno && !served(primaryMno)) {
      // HLF-TE-006: a foreign primary MNO would generate the code; no inter-MNO peer is configured for it.
      const valid = new Set([ownMno, ...homeMnos].map((m) => `${m.mcc}-${m.mnc}`));
      throw new ApiError(400, "SVC0003", ["primaryMno", [...valid].join(",")]);
    }
    const mno = primaryMno ?? ownMno;
    const expiresAt = Date.now() + ttlMs;
    let code: string | undefined;
    for (let attempt = 0; attempt < CODE_ISSUE_ATTEMPTS && !code; attempt++) {
      const candidate = generateActivationCode();
      if (await this.env.ACTIVATION_CODES.getByName(candidate).issue({ secondary: profile.address, mno, expiresAt })) code = candidate;
    }
    if (!code) throw serviceError(503, "no free activation code, retry");
    // The device code routes back to this object: it names the subscriber, then 32 random bytes.
    const device = deviceGrant ? await (async () => {
      const secret = `${base64url(new TextEncoder().encode(profile.address))}.${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
      return { secret, hash: base64url(await sha256(secret)) };
    })() : undefined;
    const previous = this.tx(() => {
      // The role may have changed while the code object answered.
      const conflict = this.roleConflictAsSecondary();
      if (conflict) return { conflict };
      const prev = one<{ code: string }>(this.sql, "SELECT code FROM current_code")?.code;
      this.sql.exec(
        "INSERT INTO current_code (id, code, expires_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET code = excluded.code, expires_at = excluded.expires_at",
        code, expiresAt,
      );
      if (device) {
        this.sql.exec("DELETE FROM device_grant WHERE expires_at < ?", Date.now() - 24 * 3600_000);
        this.sql.exec(
          "INSERT INTO device_grant (hash, client_id, scope, code, expires_at, interval_s) VALUES (?, ?, ?, ?, ?, ?)",
          device.hash, deviceGrant!.clientId, deviceGrant!.scope, code, expiresAt, DEVICE_POLL_INTERVAL_S,
        );
      }
      return { prev };
    });
    if ("conflict" in previous) {
      await this.env.ACTIVATION_CODES.getByName(code).revoke(profile.address);
      throw roleMixture(previous.conflict!);
    }
    if (previous.prev && previous.prev !== code) {
      // Best effort: acceptPrimary also refuses any code but the current one.
      await this.env.ACTIVATION_CODES.getByName(previous.prev).revoke(profile.address).catch(() => undefined);
    }
    return { code, mno, expiresAt, ...(device ? { deviceCode: device.secret, interval: DEVICE_POLL_INTERVAL_S } : {}) };
  }

  private roleConflictAsSecondary(): string | undefined {
    if (one(this.sql, "SELECT 1 AS x FROM relationship")) return "the secondary device is already in a twinning relationship (HLF-TE-009)";
    if (one(this.sql, "SELECT 1 AS x FROM twin UNION ALL SELECT 1 FROM reservation LIMIT 1")) return "a primary device cannot become a secondary device (HLF-TE-008)";
    return undefined;
  }

  private assertMayBecomeSecondary(): void {
    const conflict = this.roleConflictAsSecondary();
    if (conflict) throw roleMixture(conflict);
  }

  private activeRelationship(): RelationshipRow {
    const rel = one<RelationshipRow>(this.sql, "SELECT * FROM relationship WHERE state = 'active'");
    if (!rel) throw notFound("relationship", "twinning relationship");
    return rel;
  }

  /** HLF-SD-006: the primary this secondary is twinned with, and the status. */
  relationship(token: TokenRef): Promise<Outcome<RelationshipRecord>> {
    return this.asHolderOf(token, () => this.relationshipRecord());
  }

  private relationshipRecord(): RelationshipRecord {
    const rel = this.activeRelationship();
    return {
      primary: rel.primary_address,
      name: rel.name,
      status: rel.status,
      primaryMno: { mcc: rel.mcc, mnc: rel.mnc },
      activatedAt: rel.activated_at,
      statusChangedAt: rel.changed_at,
      statusChangedBy: rel.changed_by,
    };
  }

  /** HLF-SD-004, TE-002: the toggle takes effect at the primary's object, then here. */
  toggleFromSecondary(token: TokenRef, status: TwinningStatus): Promise<Outcome<RelationshipRecord>> {
    return this.asHolderOf(token, () => this.toggleAsSecondary(status));
  }

  private async toggleAsSecondary(status: TwinningStatus): Promise<RelationshipRecord> {
    const profile = this.requireProfile();
    const rel = this.activeRelationship();
    const change = await this.env.SUBSCRIBERS.getByName(rel.primary_address).secondaryToggled(profile.address, rel.activation_id, status);
    if (!change) {
      // The primary ended the relationship meanwhile; its outbox message may still be in flight.
      await this.relationshipEnded(rel.activation_id, "primary");
      throw notFound("relationship", "twinning relationship");
    }
    await this.applyStatus(rel.activation_id, change);
    return this.relationshipRecord();
  }

  /** HLF-SD-007, TE-004: the secondary ends the relationship for good. */
  leaveFromSecondary(token: TokenRef): Promise<Outcome<void>> {
    return this.asHolderOf(token, async () => {
      const profile = this.requireProfile();
      const rel = this.activeRelationship();
      await this.env.SUBSCRIBERS.getByName(rel.primary_address).secondaryLeft(profile.address, rel.activation_id);
      await this.relationshipEnded(rel.activation_id, "secondary");
    });
  }

  // ---------------------------------------------------------------- primary device (HLF-PD-*)

  /**
   * HLF-PD-001, use case step 7: twin the secondary whose code this is. Two-phase across objects:
   * a reservation here, the code spent in its object, the secondary's claim prepared in the
   * secondary's object, then the twin row committed here. The commit here is the decision; the
   * alarm on either side completes or undoes whatever a dead request left half-done.
   */
  activateTwin(token: TokenRef, code: string, requestedName: string | undefined): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, () => this.activate(code, requestedName));
  }

  private async activate(code: string, requestedName: string | undefined): Promise<TwinRecord> {
    const profile = this.requireProfile();
    const activationId = crypto.randomUUID();
    const now = Date.now();
    const name = this.tx(() => {
      this.assertCodeAttemptsAllowed(now);
      if (one(this.sql, "SELECT 1 AS x FROM relationship")) throw roleMixture("a secondary device cannot become a primary device (HLF-TE-008)");
      const name = requestedName ?? this.defaultTwinName();
      if (this.nameTaken(name)) throw invalidInput("name", "already used by another twin of this primary");
      this.sql.exec("INSERT INTO reservation (activation_id, name, secondary, deadline) VALUES (?, ?, NULL, ?)", activationId, name, now + ACTIVATION_DEADLINE_MS);
      return name;
    });
    await this.scheduleAlarm();
    const dropReservation = () => this.sql.exec("DELETE FROM reservation WHERE activation_id = ?", activationId);
    const refuseCode = () => {
      this.tx(() => {
        dropReservation();
        this.sql.exec("INSERT INTO failed_code (at) VALUES (?)", Date.now());
      });
      // Same answer for unknown, used, expired and revoked codes: nothing to learn by probing.
      return invalidInput("activationCode", "unknown, used or expired activation code");
    };

    let redemption;
    try {
      redemption = await this.env.ACTIVATION_CODES.getByName(code).redeem(profile.address);
    } catch (err) {
      dropReservation();
      throw err;
    }
    if (redemption.outcome === "invalid") throw refuseCode();
    if (redemption.outcome === "self") {
      dropReservation();
      throw roleMixture("a device cannot be twinned with itself");
    }
    const secondary = redemption.secondary;
    const stillReserved = this.tx(() => this.sql.exec("UPDATE reservation SET secondary = ? WHERE activation_id = ?", secondary, activationId).rowsWritten > 0);
    if (!stillReserved) throw serviceError(503, "activation timed out, retry with a new code");

    const offer: ActivationOffer = { activationId, primary: profile.address, primaryMno: { mcc: profile.mcc, mnc: profile.mnc }, code, name, activatedAt: now };
    let accepted;
    try {
      accepted = await this.env.SUBSCRIBERS.getByName(secondary).acceptPrimary(offer);
    } catch (err) {
      // A refusal, or a lost answer: if the secondary did accept, its alarm asks resolveActivation
      // and hears "aborted" because the reservation is gone.
      dropReservation();
      throw err;
    }
    if (!accepted.ok) {
      dropReservation();
      throw ApiError.from(accepted.error);
    }
    if (accepted.value === "invalid-code") throw refuseCode();

    const committed = this.tx(() => {
      if (this.sql.exec("DELETE FROM reservation WHERE activation_id = ?", activationId).rowsWritten === 0) return false;
      this.sql.exec(
        `INSERT INTO twin (secondary, name, status, version, activation_id, mcc, mnc, activated_at, changed_at, changed_by)
         VALUES (?, ?, 'On', 1, ?, ?, ?, ?, ?, 'primary')`,
        secondary, name, activationId, redemption.mno.mcc, redemption.mno.mnc, now, now,
      );
      this.enqueue(secondary, { method: "confirmActivation", activationId });
      this.notify({ event: "Activated", primary: profile.address, secondary, name, status: "On", actor: "primary", at: now });
      // Issue 12: now a primary, this subscriber's own live code (asked for as a would-be
      // secondary) is revoked, so guessing it is an ordinary failed guess, not a role answer.
      const ownCode = one<{ code: string }>(this.sql, "SELECT code FROM current_code")?.code;
      this.sql.exec("DELETE FROM current_code");
      return ownCode ?? true;
    });
    if (typeof committed === "string") await this.env.ACTIVATION_CODES.getByName(committed).revoke(profile.address).catch(() => undefined);
    if (!committed) {
      this.tx(() => this.enqueue(secondary, { method: "abortActivation", activationId }));
      await this.drainOutbox();
      throw serviceError(503, "activation timed out, retry with a new code");
    }
    await this.drainOutbox();
    return this.twinRecord(secondary);
  }

  /**
   * HLF-TE-005, issue 12: a guess counts from the moment it is checked. The reservation written in
   * the same transaction as this check is the guess in flight, so failures plus guesses in flight
   * never pass 5, however many requests arrive at once; a failed guess turns its reservation into a
   * failure in one transaction, a good one into a twin.
   */
  private assertCodeAttemptsAllowed(now: number): void {
    const windowStart = now - FAILED_CODE_WINDOW_MS;
    this.sql.exec("DELETE FROM failed_code WHERE at <= ?", windowStart);
    const failures = this.sql.exec<{ at: number }>("SELECT at FROM failed_code ORDER BY at").toArray();
    const inFlight = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM reservation")!.n;
    if (failures.length + inFlight >= MAX_FAILED_CODE_ATTEMPTS) {
      // Only failures lock for the window; guesses in flight are decided within seconds.
      const retryAfter = failures.length >= MAX_FAILED_CODE_ATTEMPTS
        ? Math.ceil((failures[failures.length - MAX_FAILED_CODE_ATTEMPTS]!.at + FAILED_CODE_WINDOW_MS - now) / 1000)
        : 1;
      throw new ApiError(429, "POL0001", ["too many failed activation code attempts"], { "Retry-After": String(Math.max(1, retryAfter)) });
    }
  }

  private nameTaken(name: string): boolean {
    return !!one(this.sql, "SELECT 1 AS x FROM twin WHERE name = ? UNION ALL SELECT 1 FROM reservation WHERE name = ?", name, name);
  }

  /** HLF-TE-007: "twin-N" with the smallest N not in use. */
  private defaultTwinName(): string {
    for (let n = 1; ; n++) if (!this.nameTaken(`twin-${n}`)) return `twin-${n}`;
  }

  private findTwin(twinId: string): TwinRow {
    const row = twinId.startsWith("tel:")
      ? one<TwinRow>(this.sql, "SELECT * FROM twin WHERE secondary = ?", twinId)
      : one<TwinRow>(this.sql, "SELECT * FROM twin WHERE name = ?", twinId);
    if (!row) throw notFound("twinId", twinId);
    return row;
  }

  private twinRecord(twinId: string): TwinRecord {
    return twinRecord(this.findTwin(twinId));
  }

  /** HLF-PD-003, PD-006: every twin with its status. */
  listTwins(token: TokenRef): Promise<Outcome<TwinRecord[]>> {
    return this.asHolderOf(token, () => {
      return this.sql.exec<TwinRow>("SELECT * FROM twin ORDER BY activated_at, secondary").toArray().map(twinRecord);
    });
  }

  /**
   * The secondaries twinned with this primary and their status, for another capability of the
   * gateway acting on the shared identity (WebRTC forking rings those that are On, HLF-TE-002/003).
   * No token: no client reaches it; the capability has already checked its own caller.
   */
  async twinStatuses(): Promise<{ secondary: string; status: TwinningStatus }[]> {
    return this.sql.exec<{ secondary: string; status: TwinningStatus }>("SELECT secondary, status FROM twin ORDER BY activated_at, secondary").toArray().map((r) => ({ secondary: r.secondary, status: r.status }));
  }

  twin(token: TokenRef, twinId: string): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, () => this.twinRecord(twinId));
  }

  /** HLF-PD-002, TE-002/003: toggle from the primary; Off keeps the relationship. */
  toggleFromPrimary(token: TokenRef, twinId: string, status: TwinningStatus): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, async () => {
      const secondary = this.tx(() => {
        const twin = this.findTwin(twinId);
        this.changeTwinStatus(twin, status, "primary");
        return twin.secondary;
      });
      await this.drainOutbox();
      return this.twinRecord(secondary);
    });
  }

  /** HLF-PD-004, TE-004: the primary ends the relationship for good. */
  deactivateFromPrimary(token: TokenRef, twinId: string): Promise<Outcome<void>> {
    return this.asHolderOf(token, async () => {
      this.tx(() => {
        const twin = this.findTwin(twinId);
        this.sql.exec("DELETE FROM twin WHERE secondary = ?", twin.secondary);
        this.enqueue(twin.secondary, { method: "relationshipEnded", activationId: twin.activation_id, by: "primary" });
        this.notify({ event: "Deactivated", primary: this.profileRow()!.address, secondary: twin.secondary, name: twin.name, actor: "primary", at: Date.now() });
      });
      await this.drainOutbox();
    });
  }

  /** The one place a twin's status changes; its notifications are queued in the same transaction. */
  private changeTwinStatus(twin: TwinRow, status: TwinningStatus, by: Actor): StatusChange {
    if (twin.status === status) return { status, version: twin.version, at: twin.changed_at, by: twin.changed_by };
    const change: StatusChange = { status, version: twin.version + 1, at: Date.now(), by };
    this.sql.exec("UPDATE twin SET status = ?, version = ?, changed_at = ?, changed_by = ? WHERE secondary = ?", status, change.version, change.at, by, twin.secondary);
    this.enqueue(twin.secondary, { method: "applyStatus", activationId: twin.activation_id, change });
    this.notify({ event: "StatusChanged", primary: this.profileRow()!.address, secondary: twin.secondary, name: twin.name, status, actor: by, at: change.at });
    return change;
  }

  // ---------------------------------------------------------------- object-to-object protocol

  /** Prepare step, on the secondary: claim the secondary role for this offer, or refuse. */
  acceptPrimary(offer: ActivationOffer): Promise<Outcome<"accepted" | "invalid-code">> {
    return outcome(() => this.prepareSecondaryClaim(offer));
  }

  private async prepareSecondaryClaim(offer: ActivationOffer): Promise<"accepted" | "invalid-code"> {
    const result = this.tx(() => {
      if (!this.profileRow()) return "invalid-code" as const;
      if (one(this.sql, "SELECT 1 AS x FROM relationship WHERE activation_id = ?", offer.activationId)) return "accepted" as const;
      this.assertMayBecomeSecondary();
      const current = one<{ code: string; expires_at: number }>(this.sql, "SELECT code, expires_at FROM current_code");
      if (!current || current.code !== offer.code || current.expires_at <= Date.now()) return "invalid-code" as const;
      this.sql.exec("DELETE FROM current_code");
      this.sql.exec(
        `INSERT INTO relationship (id, activation_id, primary_address, mcc, mnc, name, status, version, state, deadline, activated_at, changed_at, changed_by, via_code)
         VALUES (1, ?, ?, ?, ?, ?, 'On', 1, 'pending', ?, ?, ?, 'primary', ?)`,
        offer.activationId, offer.primary, offer.primaryMno.mcc, offer.primaryMno.mnc, offer.name,
        Date.now() + ACTIVATION_DEADLINE_MS, offer.activatedAt, offer.activatedAt, offer.code,
      );
      return "accepted" as const;
    });
    if (result === "accepted") await this.scheduleAlarm();
    return result;
  }

  async confirmActivation(activationId: string): Promise<void> {
    this.tx(() => {
      if (this.sql.exec("UPDATE relationship SET state = 'active', deadline = NULL WHERE activation_id = ? AND state = 'pending'", activationId).rowsWritten === 0) return;
      const rel = one<RelationshipRow>(this.sql, "SELECT * FROM relationship")!;
      this.notify({ event: "Activated", primary: rel.primary_address, secondary: this.profileRow()?.address ?? "", name: rel.name, status: rel.status, actor: "primary", at: rel.activated_at });
    });
    await this.scheduleAlarm();
  }

  async abortActivation(activationId: string): Promise<void> {
    this.sql.exec("DELETE FROM relationship WHERE activation_id = ? AND state = 'pending'", activationId);
  }

  /** On the primary: the final word on an activation. A reservation still open is aborted. */
  async resolveActivation(activationId: string): Promise<"committed" | "aborted"> {
    return this.tx(() => {
      if (one(this.sql, "SELECT 1 AS x FROM twin WHERE activation_id = ?", activationId)) return "committed";
      this.sql.exec("DELETE FROM reservation WHERE activation_id = ?", activationId);
      return "aborted";
    });
  }

  /** On the secondary: a status decided by the primary. Older versions are ignored. */
  async applyStatus(activationId: string, change: StatusChange): Promise<void> {
    this.tx(() => {
      const applied = this.sql.exec(
        "UPDATE relationship SET status = ?, version = ?, changed_at = ?, changed_by = ? WHERE activation_id = ? AND version < ?",
        change.status, change.version, change.at, change.by, activationId, change.version,
      ).rowsWritten > 0;
      const rel = applied ? one<RelationshipRow>(this.sql, "SELECT * FROM relationship WHERE state = 'active'") : undefined;
      // HLF-SD-008: the secondary hears of a toggle once it has taken effect (and only of newer ones: order holds).
      if (rel) this.notify({ event: "StatusChanged", primary: rel.primary_address, secondary: this.profileRow()?.address ?? "", name: rel.name, status: change.status, actor: change.by, at: change.at });
    });
    await this.scheduleAlarm();
  }

  async relationshipEnded(activationId: string, by: Actor): Promise<void> {
    this.tx(() => {
      const rel = one<RelationshipRow>(this.sql, "SELECT * FROM relationship WHERE activation_id = ?", activationId);
      if (!rel) return;
      this.sql.exec("DELETE FROM relationship WHERE activation_id = ?", activationId);
      if (rel.state === "active") this.notify({ event: "Deactivated", primary: rel.primary_address, secondary: this.profileRow()?.address ?? "", name: rel.name, actor: by, at: Date.now() });
    });
    await this.scheduleAlarm();
  }

  /** On the primary: the secondary toggled (HLF-SD-004). Undefined when the twin is gone. */
  async secondaryToggled(secondary: string, activationId: string, status: TwinningStatus): Promise<StatusChange | undefined> {
    const change = this.tx(() => {
      const twin = one<TwinRow>(this.sql, "SELECT * FROM twin WHERE secondary = ? AND activation_id = ?", secondary, activationId);
      return twin ? this.changeTwinStatus(twin, status, "secondary") : undefined;
    });
    // The caller applies the change itself; the outbox copy only repairs a caller that died.
    await this.scheduleAlarm(Date.now() + OUTBOX_RETRY_BASE_MS);
    return change;
  }

  /** On the primary: the secondary ended the relationship (HLF-SD-007). */
  async secondaryLeft(secondary: string, activationId: string): Promise<void> {
    this.tx(() => {
      const twin = one<TwinRow>(this.sql, "SELECT * FROM twin WHERE secondary = ? AND activation_id = ?", secondary, activationId);
      if (twin) {
        this.sql.exec("DELETE FROM twin WHERE secondary = ?", secondary);
        this.enqueue(secondary, { method: "relationshipEnded", activationId, by: "secondary" }, Date.now() + OUTBOX_RETRY_BASE_MS);
        this.notify({ event: "Deactivated", primary: this.profileRow()?.address ?? "", secondary, name: twin.name, actor: "secondary", at: Date.now() });
      }
    });
    await this.scheduleAlarm();
  }

  // ---------------------------------------------------------------- outbox and alarm

  private enqueue(target: string, message: OutboxMessage, at = Date.now()): void {
    this.sql.exec("INSERT INTO outbox (target, message, next_at) VALUES (?, ?, ?)", target, JSON.stringify(message), at);
  }

  private async deliver(target: string, message: OutboxMessage): Promise<void> {
    const peer = this.env.SUBSCRIBERS.getByName(target);
    switch (message.method) {
      case "confirmActivation":
        return peer.confirmActivation(message.activationId);
      case "abortActivation":
        return peer.abortActivation(message.activationId);
      case "applyStatus":
        return peer.applyStatus(message.activationId, message.change);
      case "relationshipEnded":
        return peer.relationshipEnded(message.activationId, message.by ?? "primary");
      case "secondaryLeft":
        return peer.secondaryLeft(message.secondary, message.activationId);
    }
  }

  private draining?: Promise<void>;
  private drainAgain = false;

  /**
   * Delivers due outbox messages. One drain runs at a time per object: a request that finds one
   * running waits for it, and it goes round once more for what was enqueued meanwhile, so a hot
   * primary does not deliver the same rows from many concurrent requests.
   */
  private drainOutbox(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.drainAgain = false;
          await this.drainOnce();
        } while (this.drainAgain);
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining;
  }

  /** Delivers due outbox messages in order per target; a failed one is retried by the alarm with backoff. */
  private async drainOnce(): Promise<void> {
    const due = this.sql.exec<{ id: number; target: string; message: string; attempts: number }>(
      "SELECT id, target, message, attempts FROM outbox WHERE next_at <= ? ORDER BY id", Date.now()).toArray();
    const blocked = new Set<string>();
    const delivered: number[] = [];
    for (const row of due) {
      if (blocked.has(row.target)) continue;
      try {
        await withDeadline(this.deliver(row.target, JSON.parse(row.message)), OUTBOX_DELIVERY_TIMEOUT_MS);
        delivered.push(row.id);
      } catch (err) {
        blocked.add(row.target);
        const delay = Math.min(OUTBOX_RETRY_MAX_MS, OUTBOX_RETRY_BASE_MS * 2 ** row.attempts) * (0.5 + Math.random() / 2);
        this.sql.exec("UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?", Date.now() + delay, row.id);
        console.warn(`outbox delivery to peer failed, attempt ${row.attempts + 1}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // Removed together, in one synchronous turn, so the storage commits them once; a crash before
    // that only means a redelivery, which every receiver ignores.
    for (const id of delivered) this.sql.exec("DELETE FROM outbox WHERE id = ?", id);
    await this.scheduleAlarm();
  }

  /** When the earliest of this object's work is due: outbox, activation deadlines, the failed-code window, notifications. */
  private nextDue(): number | undefined {
    const own = one<{ t: number | null }>(this.sql, `SELECT MIN(t) AS t FROM (
        SELECT MIN(next_at) AS t FROM outbox
        UNION ALL SELECT MIN(deadline) FROM reservation
        UNION ALL SELECT deadline FROM relationship WHERE state = 'pending'
        UNION ALL SELECT MIN(at) + ${FAILED_CODE_WINDOW_MS} FROM failed_code)`)?.t;
    const due = [own, this.notifications.nextDue()].filter((t): t is number => typeof t === "number");
    return due.length ? Math.min(...due) : undefined;
  }

  /**
   * Makes sure the alarm is set at or before the earliest due work (or `at`, if earlier). The alarm
   * is read from storage every time, never mirrored in memory: the runtime deletes an alarm when a
   * run of it ends, and it drops one set during a run to that run's own time, so a copy kept here
   * could believe in an alarm that no longer exists and never set it again (issue 11). An alarm
   * found well overdue is treated as lost and set again.
   */
  private async scheduleAlarm(at?: number): Promise<void> {
    // A running alarm sets the next one itself as it ends (see alarm()).
    if (this.alarmRunning) return;
    const due = [this.nextDue(), at].filter((t): t is number => typeof t === "number");
    if (due.length === 0) return;
    const now = Date.now();
    const when = Math.max(now, Math.min(...due));
    const current = await this.ctx.storage.getAlarm();
    if (this.alarmRunning) return;
    if (current === null || current > when || current < now - ALARM_OVERDUE_MS) await this.ctx.storage.setAlarm(when);
  }

  /** True while alarm() runs; requests then leave the alarm to it. */
  private alarmRunning = false;

  override async alarm(): Promise<void> {
    const settings = config(this.env);
    this.alarmRunning = true;
    const startedAt = Date.now();
    try {
      // The object-to-object protocol and the notifications do not wait for each other: a peer slow
      // to answer must not hold up a callback, nor a slow callback receiver a peer.
      await Promise.all([
        this.protocolAlarm().catch((err) => console.error("subscriber alarm: protocol work failed", err instanceof Error ? err.message : String(err))),
        this.notifications
          .deliverDue({ allowLoopback: settings.CALLBACK_ALLOW_LOOPBACK, retryWindowMs: settings.NOTIFY_RETRY_WINDOW_SECONDS * 1000 })
          .catch((err) => console.error("subscriber alarm: notification delivery failed", err instanceof Error ? err.message : String(err))),
      ]);
    } finally {
      // In the same synchronous turn as clearing the flag, so that nothing queued in between is
      // missed; and strictly after this run's start, because the runtime deletes an alarm set to the
      // running one's own time together with it when the run ends.
      this.alarmRunning = false;
      const next = this.nextDue();
      if (next !== undefined) void this.ctx.storage.setAlarm(Math.max(next, startedAt + 1, Date.now()));
    }
  }

  /** Activation deadlines and the outbox: the alarm's share of the object-to-object protocol. */
  private async protocolAlarm(): Promise<void> {
    const now = Date.now();
    // Reservations past their deadline are aborted; a secondary that already accepted hears so.
    this.tx(() => {
      for (const r of this.sql.exec<{ activation_id: string; secondary: string | null }>("SELECT activation_id, secondary FROM reservation WHERE deadline <= ?", now).toArray()) {
        this.sql.exec("DELETE FROM reservation WHERE activation_id = ?", r.activation_id);
        if (r.secondary) this.enqueue(r.secondary, { method: "abortActivation", activationId: r.activation_id });
      }
      this.sql.exec("DELETE FROM failed_code WHERE at <= ?", now - FAILED_CODE_WINDOW_MS);
    });
    // A claim prepared here but never confirmed: the primary decides.
    const pending = one<RelationshipRow>(this.sql, "SELECT * FROM relationship WHERE state = 'pending' AND deadline <= ?", now);
    if (pending) {
      try {
        const decision = await withDeadline(this.env.SUBSCRIBERS.getByName(pending.primary_address).resolveActivation(pending.activation_id), OUTBOX_DELIVERY_TIMEOUT_MS);
        if (decision === "committed") await this.confirmActivation(pending.activation_id);
        else await this.abortActivation(pending.activation_id);
      } catch {
        this.sql.exec("UPDATE relationship SET deadline = ? WHERE activation_id = ? AND state = 'pending'", now + OUTBOX_RETRY_BASE_MS * 5, pending.activation_id);
      }
    }
    await this.drainOutbox();
  }

  // ---------------------------------------------------------------- notifications (HLF-PD-007, SD-008)

  /** Queues an event for this subscriber's subscriptions; the alarm delivers it. Inside the change's transaction. */
  private notify(event: TwinningEvent): void {
    if (event.secondary === "" || event.primary === "") return;
    if (this.notifications.enqueue(event) > 0) this.queuedNotifications = true;
  }

  subscribe(token: TokenRef, s: NewSubscription): Promise<Outcome<{ subscription: SubscriptionRecord; signingSecret?: string; created: boolean }>> {
    return this.asHolderOf(token, () => {
      try {
        return this.notifications.subscribe(s);
      } catch (err) {
        if (err instanceof RangeError) throw new ApiError(403, "POL0001", [err.message]);
        throw err;
      }
    });
  }

  subscriptions(token: TokenRef): Promise<Outcome<SubscriptionRecord[]>> {
    return this.asHolderOf(token, () => this.notifications.list());
  }

  subscription(token: TokenRef, id: string): Promise<Outcome<SubscriptionRecord>> {
    return this.asHolderOf(token, () => {
      const s = this.notifications.get(id);
      if (!s) throw notFound("subscriptionId", id);
      return s;
    });
  }

  unsubscribe(token: TokenRef, id: string): Promise<Outcome<void>> {
    return this.asHolderOf(token, () => {
      if (!this.notifications.unsubscribe(id)) throw notFound("subscriptionId", id);
    });
  }

  /** Delivery counters, for the operator and for tests. */
  async notificationStats(): Promise<{ delivered: number; dropped: number; queued: number }> {
    return this.notifications.stats();
  }

  /** The operator's view: notifications dropped after their retry window, kept for replay (admin API, no token). */
  async droppedNotifications(): Promise<DroppedNotification[]> {
    return this.notifications.dropped();
  }

  /** The operator queues dropped notifications again (all, or these ids); how many were queued. */
  async replayDropped(notificationIds?: string[]): Promise<number> {
    return this.tx(() => {
      const n = this.notifications.replay(notificationIds);
      if (n > 0) this.queuedNotifications = true;
      return n;
    });
  }
}
