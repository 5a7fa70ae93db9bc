// One object per subscriber (named by its tel: address). It owns every fact about that subscriber
// and composes one store per concern, each owning its tables, schema steps and next due time:
//   profile-store.ts     provisioning, device key, from when its tokens count
//   ../oauth/subject-ledger.ts  spent assertion jtis, revoked tokens, device grants (RFC 8628)
//   relationships.ts     twin rows (as a primary), the one relationship row (as a secondary), reservations
//   activation-codes.ts  the current code (as a secondary), failed and in-flight guesses (as a primary)
//   outbox.ts            typed messages to other subscribers (and, through federation, to peers)
//   ../notify/queue.ts   notification subscriptions and their delivery queue
// The object keeps the RPC surface, the role rules (HLF-TE-008/009), the two-phase activation
// (activation.ts) and the transactions that span stores; its one alarm runs what the stores say is due.
import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import type { Env } from "../env";
import { ApiError, notFound, outcome, roleMixture, serviceError, type Outcome } from "../http/errors";
import { migrateStores, one } from "../http/sql";
import { generateActivationCode } from "../codec";
import { SubjectLedger, SUBJECT_LEDGER_SCHEMA, DEVICE_POLL_INTERVAL_S, type AssertionResult, type DeviceGrantRequest, type DevicePoll } from "../oauth/subject-ledger";
import type { TokenRef } from "../oauth/tokens";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE, NotificationQueue, type DroppedNotification, type NewSubscription, type SubscriptionRecord, type TwinningEvent } from "../notify/queue";
import { ACTIVATION_CODES_SCHEMA, ActivationCodeStore } from "./activation-codes";
import { TwoPhaseActivation, type ActivationOffer, type PrepareAnswer } from "./activation";
import { INLINE_LEASE_MS, Outbox, OUTBOX_SCHEMA, type OutboxMessage } from "./outbox";
import { PROFILE_SCHEMA, ProfileStore } from "./profile-store";
import { RELATIONSHIPS_SCHEMA, RelationshipStore, type Actor, type RelationshipRow, type StatusChange, type TwinRow } from "./relationships";
import type { Mno, TwinningStatus } from "./schemas";
import { subscriberStub } from "../ops/residency";

export type { Actor, StatusChange } from "./relationships";
export type { ActivationOffer } from "./activation";
export type { AssertionResult, DeviceGrantRequest, DevicePoll } from "../oauth/subject-ledger";
export { DEVICE_POLL_INTERVAL_S } from "../oauth/subject-ledger";
export { MAX_FAILED_CODE_ATTEMPTS, FAILED_CODE_WINDOW_MS } from "./activation-codes";
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

const CODE_ISSUE_ATTEMPTS = 8;
/**
 * A change the other side asked for (a secondary's toggle or leave) is applied there by the caller
 * itself; the copy queued here only repairs a caller that died before applying it.
 */
const REPAIR_DELAY_MS = 30_000;

const NOTIFICATIONS_SCHEMA = { name: "notifications", steps: [NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE] };

/** Objects written before the stores kept their own versions had one `_schema` version (1..5). */
const legacyVersions = (v: number): Record<string, number> => ({
  profile: v >= 4 ? 2 : 1,
  [SUBJECT_LEDGER_SCHEMA.name]: v >= 2 ? 2 : 1,
  relationships: v >= 2 ? 2 : 1,
  "activation-codes": 1,
  outbox: 1,
  notifications: v >= 5 ? 2 : v >= 3 ? 1 : 0,
});

const twinRecord = (r: TwinRow): TwinRecord => ({
  secondary: r.secondary,
  name: r.name,
  status: r.status,
  secondaryMno: { mcc: r.mcc, mnc: r.mnc },
  activatedAt: r.activated_at,
  statusChangedAt: r.changed_at,
  statusChangedBy: r.changed_by,
});

const relationshipRecord = (r: RelationshipRow): RelationshipRecord => ({
  primary: r.primary_address,
  name: r.name,
  status: r.status,
  primaryMno: { mcc: r.mcc, mnc: r.mnc },
  activatedAt: r.activated_at,
  statusChangedAt: r.changed_at,
  statusChangedBy: r.changed_by,
});

export class SubscriberObject extends DurableObject<Env> {
  private readonly profileStore: ProfileStore;
  private readonly ledger: SubjectLedger;
  private readonly relationships: RelationshipStore;
  private readonly codes: ActivationCodeStore;
  private readonly outbox: Outbox;
  private readonly notifications: NotificationQueue;
  private readonly activation: TwoPhaseActivation;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    migrateStores(ctx, [PROFILE_SCHEMA, SUBJECT_LEDGER_SCHEMA, RELATIONSHIPS_SCHEMA, ACTIVATION_CODES_SCHEMA, OUTBOX_SCHEMA, NOTIFICATIONS_SCHEMA], legacyVersions);
    this.profileStore = new ProfileStore(sql);
    this.relationships = new RelationshipStore(sql);
    this.codes = new ActivationCodeStore(sql);
    this.outbox = new Outbox(sql, env);
    this.notifications = new NotificationQueue(sql, env);
    this.ledger = new SubjectLedger(ctx.storage, {
      bindingLive: (binding) => this.relationships.bindingLive(binding),
      userCodeState: (userCode) => {
        const rel = this.relationships.relationship();
        if (rel?.via_code === userCode) return rel.state === "active" ? { state: "approved", binding: rel.activation_id } : { state: "completing" };
        return this.codes.current()?.code === userCode ? { state: "waiting" } : { state: "refused" };
      },
      actingFor: (binding) => {
        const rel = this.relationships.relationship();
        return rel?.state === "active" && rel.activation_id === binding ? rel.primary_address : undefined;
      },
    });
    const host = {
      env,
      profile: this.profileStore,
      relationships: this.relationships,
      codes: this.codes,
      outbox: this.outbox,
      tx: <T>(fn: () => T) => this.tx(fn),
      notify: (event: TwinningEvent) => this.notify(event),
    };
    this.activation = new TwoPhaseActivation(host);
  }

  // ---------------------------------------------------------------- transactions and the alarm

  /**
   * One transaction of this object. It also deletes the outbox rows delivered since the last one
   * and sets (or deletes) the alarm for the earliest due work, in the same synchronous turn, so all
   * of it is one durable commit.
   */
  private tx<T>(fn: () => T): T {
    const result = this.ctx.storage.transactionSync(() => {
      this.outbox.flushDelivered();
      return fn();
    });
    this.armAlarm();
    return result;
  }

  /** The earliest due work of every store. */
  private nextDue(): number | undefined {
    const due = [this.outbox.nextDue(), this.relationships.nextDue(), this.hasNotificationWork() ? this.notifications.nextDue() : undefined].filter((t): t is number => t !== undefined);
    return due.length ? Math.min(...due) : undefined;
  }

  /** True while alarm() runs: it sets the next alarm itself as it ends. */
  private alarmRunning = false;
  /**
   * The alarm this instance set: a time, null for none, undefined when not known (a fresh
   * instance). A run of the alarm resets it: the runtime deletes an alarm when its run ends (issue 11).
   */
  private alarmAt: number | null | undefined;

  /**
   * Sets the alarm to the earliest due work, or deletes it when nothing is due, without awaiting,
   * so that it joins the caller's commit. An alarm already set no later than the earliest due work
   * is left alone: an early run finds nothing due and re-arms, while moving the alarm costs a write
   * of the runtime's alarm store on every change (a toggle would pay one per request).
   */
  private armAlarm(): void {
    if (this.alarmRunning) return;
    const next = this.nextDue();
    if (next === undefined) {
      if (this.alarmAt === null) return;
      this.alarmAt = null;
      void this.ctx.storage.deleteAlarm();
      return;
    }
    if (typeof this.alarmAt === "number" && this.alarmAt <= next && this.alarmAt > Date.now()) return;
    this.alarmAt = Math.max(next, Date.now());
    void this.ctx.storage.setAlarm(this.alarmAt);
  }

  override async alarm(): Promise<void> {
    this.alarmRunning = true;
    this.alarmAt = undefined;
    this.notifying = undefined;
    const startedAt = Date.now();
    this.relationships.invalidate();
    try {
      await Promise.all([
        this.protocolDue(startedAt).catch((err) => console.error("subscriber alarm: protocol work failed", err instanceof Error ? err.message : String(err))),
        this.notifications
          .deliverDue({ allowLoopback: config(this.env).CALLBACK_ALLOW_LOOPBACK, retryWindowMs: config(this.env).NOTIFY_RETRY_WINDOW_SECONDS * 1000 })
          .catch((err) => console.error("subscriber alarm: notification delivery failed", err instanceof Error ? err.message : String(err))),
      ]);
    } finally {
      this.alarmRunning = false;
      // Strictly after this run's start: the runtime deletes an alarm set to the running one's time with it.
      const next = this.nextDue();
      this.alarmAt = next === undefined ? null : Math.max(next, startedAt + 1, Date.now());
      if (this.alarmAt !== null) void this.ctx.storage.setAlarm(this.alarmAt);
    }
  }

  /** The object-to-object protocol's share of the alarm: deadlines of activations, then the outbox. */
  private async protocolDue(now: number): Promise<void> {
    this.activation.abortOverdueReservations(now);
    await this.activation.settleOverdueClaim(now);
    await this.outbox.drainDue();
    this.ctx.storage.transactionSync(() => this.outbox.flushDelivered());
  }

  /** Queues a message and delivers it now (after the commit); the alarm retries a failure. */
  private async deliverNow(id: number | undefined): Promise<void> {
    if (id !== undefined && !(await this.outbox.deliverNow([id]))) this.armAlarm();
  }

  /**
   * Whether this subscriber has a subscription or a queued delivery, read once and kept until one
   * of them changes: most subscribers have none, and then a change queues nothing and nothing is due.
   */
  private notifying: boolean | undefined;
  private hasNotificationWork(): boolean {
    this.notifying ??= !!one(this.ctx.storage.sql, "SELECT 1 AS x FROM subscription UNION ALL SELECT 1 FROM delivery LIMIT 1");
    return this.notifying;
  }

  /** Queues an event for this subscriber's subscriptions; the alarm delivers it. Inside the change's transaction. */
  private notify(event: TwinningEvent): void {
    if (event.secondary === "" || event.primary === "" || !this.hasNotificationWork()) return;
    this.notifications.enqueue(event);
  }

  // ---------------------------------------------------------------- provisioning (admin API)

  async provision(address: string, mno: Mno, deviceKey: Uint8Array): Promise<{ created: boolean; profile: SubscriberProfile }> {
    await this.profileStore.waitUntilRecyclable();
    const created = this.tx(() => this.profileStore.upsert(address, mno, deviceKey));
    return { created, profile: (await this.profile())! };
  }

  async profile(): Promise<SubscriberProfile | undefined> {
    const row = this.profileStore.row();
    if (!row) return undefined;
    return { address: row.address, mno: { mcc: row.mcc, mnc: row.mnc }, role: this.relationships.role(), createdAt: row.created_at };
  }

  /**
   * Removes the subscriber. Its relationships end first, on both sides: the peers hear of it
   * through the outbox, so a crash here still reaches them.
   */
  async deprovision(): Promise<boolean> {
    const existed = this.tx(() => {
      const profile = this.profileStore.row();
      if (!profile) return false;
      for (const twin of this.relationships.twins()) this.outbox.enqueue(twin.secondary, { method: "relationshipEnded", activationId: twin.activation_id, by: "primary" });
      for (const r of this.relationships.allReservations()) if (r.secondary) this.outbox.enqueue(r.secondary, { method: "abortActivation", activationId: r.activationId });
      const rel = this.relationships.relationship();
      if (rel) this.outbox.enqueue(rel.primary_address, { method: "secondaryLeft", secondary: profile.address, activationId: rel.activation_id });
      this.relationships.clear();
      this.codes.clear();
      this.ledger.clear();
      this.notifications.clear();
      this.notifying = undefined;
      this.profileStore.remove();
      return true;
    });
    await this.outbox.drainDue();
    this.tx(() => undefined);
    return existed;
  }

  // ---------------------------------------------------------------- OAuth: the subject ledger

  /** RFC 7523: an assertion signed with this subscriber's device key (which never leaves the object); its jti is spent. */
  async verifyDeviceAssertion(assertion: string, clientId: string, audience: string | string[]): Promise<AssertionResult> {
    const profile = this.profileStore.row();
    if (!profile) return { ok: false, reason: "unknown subject" };
    return this.ledger.verifyDeviceAssertion(new Uint8Array(profile.device_key), profile.address, assertion, clientId, audience);
  }

  /**
   * Runs an API call for the holder of `token`, once the token is known to be live here: issued to
   * the current holder of the number, not revoked, and, for a token bound to a twinning
   * relationship, that relationship still exists (HLF-TE-004, SD-007; toggling Off does not end it,
   * TE-003). The check rides on the call the API makes anyway and reads memory.
   */
  private asHolderOf<T>(token: TokenRef, fn: () => T | Promise<T>): Promise<Outcome<T>> {
    return outcome(() => {
      const profile = this.profileStore.require();
      const dead = this.ledger.tokenProblem(token, profile.tokens_from);
      if (dead) throw new ApiError(401, "POL0001", [`invalid_token: ${dead}`], { "WWW-Authenticate": `Bearer error="invalid_token", error_description="${dead}"` });
      return fn();
    });
  }

  /** RFC 7662: whether a token of this subscriber is still live. */
  async isTokenLive(token: TokenRef): Promise<boolean> {
    const profile = this.profileStore.row();
    return !!profile && !this.ledger.tokenProblem(token, profile.tokens_from);
  }

  /** RFC 7009 and family revocation: these access tokens fail from now on. */
  async revokeAccessTokens(tokens: { jti: string; exp: number }[]): Promise<void> {
    this.ledger.revoke(tokens);
  }

  /** HLF-SD-009 (token exchange): the primary a live, relationship-bound secondary token may act for. */
  async delegation(token: TokenRef): Promise<{ primary: string; twinId: string } | undefined> {
    const profile = this.profileStore.row();
    const d = profile ? this.ledger.delegation(token, profile.tokens_from) : undefined;
    return d ? { primary: d.actFor, twinId: d.binding } : undefined;
  }

  /** RFC 8628: one poll of a device grant; approved once a primary activated the twin with its code. */
  async pollDeviceGrant(deviceCode: string, clientId: string): Promise<DevicePoll> {
    return this.ledger.pollDeviceGrant(this.profileStore.row()?.address, deviceCode, clientId);
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
    const profile = this.profileStore.require();
    this.activation.assertMayBecomeSecondary();
    const ownMno = { mcc: profile.mcc, mnc: profile.mnc };
    const served = (m: Mno) => homeMnos.some((h) => h.mcc === m.mcc && h.mnc === m.mnc) || (m.mcc === ownMno.mcc && m.mnc === ownMno.mnc);
    if (primaryMno && !served(primaryMno)) {
      // HLF-TE-006: a foreign primary MNO would generate the code; no inter-MNO peer is configured for it.
      const valid = new Set([ownMno, ...homeMnos].map((m) => `${m.mcc}-${m.mnc}`));
      throw new ApiError(400, "SVC0003", ["primaryMno", [...valid].join(",")]);
    }
    const mno = primaryMno ?? ownMno;
    const expiresAt = Date.now() + ttlMs;
    const device = deviceGrant ? await this.ledger.newDeviceCode(profile.address) : undefined;
    let code: string | undefined;
    for (let attempt = 0; attempt < CODE_ISSUE_ATTEMPTS && !code; attempt++) {
      const candidate = generateActivationCode();
      if (await this.env.ACTIVATION_CODES.getByName(candidate).issue({ secondary: profile.address, mno, expiresAt })) code = candidate;
    }
    if (!code) throw serviceError(503, "no free activation code, retry");
    const issued = code;
    const result = this.tx(() => {
      // The role may have changed while the code object answered.
      const conflict = this.activation.roleConflictAsSecondary();
      if (conflict) return { conflict };
      const previous = this.codes.replace(issued, expiresAt);
      if (device) this.ledger.recordDeviceGrant(device.hash, deviceGrant!, issued, expiresAt);
      return { previous };
    });
    if ("conflict" in result) {
      await this.env.ACTIVATION_CODES.getByName(issued).revoke(profile.address);
      throw roleMixture(result.conflict!);
    }
    // Best effort: the prepare step also refuses any code but the current one.
    if (result.previous) await this.env.ACTIVATION_CODES.getByName(result.previous).revoke(profile.address).catch(() => undefined);
    return { code: issued, mno, expiresAt, ...(device ? { deviceCode: device.secret, interval: DEVICE_POLL_INTERVAL_S } : {}) };
  }

  /** HLF-SD-006: the primary this secondary is twinned with, and the status. */
  relationship(token: TokenRef): Promise<Outcome<RelationshipRecord>> {
    return this.asHolderOf(token, () => relationshipRecord(this.relationships.activeRelationship()));
  }

  /** HLF-SD-004, TE-002: the toggle takes effect at the primary's object, then here. One call between the two. */
  toggleFromSecondary(token: TokenRef, status: TwinningStatus): Promise<Outcome<RelationshipRecord>> {
    return this.asHolderOf(token, async () => {
      const profile = this.profileStore.require();
      const rel = this.relationships.activeRelationship();
      const change = await subscriberStub(this.env, rel.primary_address).secondaryToggled(profile.address, rel.activation_id, status);
      if (!change) {
        // The primary ended the relationship meanwhile; its outbox message may still be in flight.
        await this.relationshipEnded(rel.activation_id, "primary");
        throw notFound("relationship", "twinning relationship");
      }
      await this.applyStatus(rel.activation_id, change);
      return relationshipRecord(this.relationships.activeRelationship());
    });
  }

  /** HLF-SD-007, TE-004: the secondary ends the relationship for good. */
  leaveFromSecondary(token: TokenRef): Promise<Outcome<void>> {
    return this.asHolderOf(token, async () => {
      const profile = this.profileStore.require();
      const rel = this.relationships.activeRelationship();
      await subscriberStub(this.env, rel.primary_address).secondaryLeft(profile.address, rel.activation_id);
      await this.relationshipEnded(rel.activation_id, "secondary");
    });
  }

  // ---------------------------------------------------------------- primary device (HLF-PD-*)

  /** HLF-PD-001, use case step 7: twin the secondary whose code this is (activation.ts). */
  activateTwin(token: TokenRef, code: string, requestedName: string | undefined): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, async () => twinRecord(await this.activation.activate(code, requestedName)));
  }

  /** HLF-PD-003, PD-006: every twin with its status. */
  listTwins(token: TokenRef): Promise<Outcome<TwinRecord[]>> {
    return this.asHolderOf(token, () => this.relationships.twins().map(twinRecord));
  }

  /** A primary's secondaries and their status, without a token (for signaling that forks to twins). */
  async twinStatuses(): Promise<{ secondary: string; status: TwinningStatus }[]> {
    return this.relationships.twins().map((r) => ({ secondary: r.secondary, status: r.status }));
  }

  twin(token: TokenRef, twinId: string): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, () => twinRecord(this.relationships.findTwin(twinId)));
  }

  /** HLF-PD-002, TE-002/003: toggle from the primary; Off keeps the relationship. */
  toggleFromPrimary(token: TokenRef, twinId: string, status: TwinningStatus): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, async () => {
      const { twin, id } = this.tx(() => {
        const twin = this.relationships.findTwin(twinId);
        const change = this.changeTwinStatus(twin, status, "primary", INLINE_LEASE_MS);
        return { twin: change ? { ...twin, status, version: change.version, changed_at: change.at, changed_by: change.by } : twin, id: change?.outboxId };
      });
      await this.deliverNow(id);
      return twinRecord(twin);
    });
  }

  /** HLF-PD-004, TE-004: the primary ends the relationship for good. */
  deactivateFromPrimary(token: TokenRef, twinId: string): Promise<Outcome<void>> {
    return this.asHolderOf(token, () => this.endTwin(twinId));
  }

  private async endTwin(twinId: string): Promise<void> {
    const id = this.tx(() => {
      const twin = this.relationships.findTwin(twinId);
      this.relationships.deleteTwin(twin.secondary);
      this.notify({ event: "Deactivated", primary: this.profileStore.row()!.address, secondary: twin.secondary, name: twin.name, actor: "primary", at: Date.now() });
      return this.outbox.enqueue(twin.secondary, { method: "relationshipEnded", activationId: twin.activation_id, by: "primary" }, INLINE_LEASE_MS);
    });
    await this.deliverNow(id);
  }

  // ---------------------------------------------------------------- the operator's view (admin API)

  private provisioned(): void {
    const row = this.profileStore.row();
    if (!row) throw notFound("address", "the subscriber");
  }

  /** The subscriber's twins (as a primary) and its relationship (as a secondary), without a token. */
  async adminTwinning(): Promise<Outcome<{ twins: TwinRecord[]; relationship?: RelationshipRecord }>> {
    return outcome(() => {
      this.provisioned();
      const rel = this.relationships.relationship();
      return { twins: this.relationships.twins().map(twinRecord), ...(rel?.state === "active" ? { relationship: relationshipRecord(rel) } : {}) };
    });
  }

  /** The operator ends a twin, as its primary would (HLF-PD-004): both sides and the notifications. */
  adminEndTwin(twinId: string): Promise<Outcome<void>> {
    return outcome(() => {
      this.provisioned();
      return this.endTwin(twinId);
    });
  }

  /** The one place a twin's status changes: the message to the secondary and the notifications go in the same transaction. */
  private changeTwinStatus(twin: TwinRow, status: TwinningStatus, by: Actor, leaseMs: number): (StatusChange & { outboxId: number }) | undefined {
    const change = this.relationships.changeTwinStatus(twin, status, by);
    if (!change) return undefined;
    const outboxId = this.outbox.enqueue(twin.secondary, { method: "applyStatus", activationId: twin.activation_id, change }, leaseMs);
    this.notify({ event: "StatusChanged", primary: this.profileStore.row()!.address, secondary: twin.secondary, name: twin.name, status, actor: by, at: change.at });
    return { ...change, outboxId };
  }

  // ---------------------------------------------------------------- object-to-object protocol

  /** Prepare step, on the secondary: claim the secondary role for this offer, or refuse. */
  acceptPrimary(offer: ActivationOffer): Promise<Outcome<PrepareAnswer>> {
    return outcome(() => this.activation.accept(offer));
  }

  async confirmActivation(activationId: string): Promise<void> {
    this.activation.confirm(activationId);
  }

  async abortActivation(activationId: string): Promise<void> {
    this.activation.abort(activationId);
  }

  /** On the primary: the final word on an activation. One still in flight is aborted. */
  async resolveActivation(activationId: string): Promise<"committed" | "aborted"> {
    return this.activation.resolve(activationId);
  }

  /** On the secondary: a status decided by the primary. Older versions are ignored. */
  async applyStatus(activationId: string, change: StatusChange): Promise<void> {
    this.tx(() => {
      const rel = this.relationships.applyStatus(activationId, change);
      // HLF-SD-008: the secondary hears of a toggle once it has taken effect (and only of newer ones: order holds).
      if (rel) this.notify({ event: "StatusChanged", primary: rel.primary_address, secondary: this.profileStore.row()?.address ?? "", name: rel.name, status: change.status, actor: change.by, at: change.at });
    });
  }

  async relationshipEnded(activationId: string, by: Actor): Promise<void> {
    if (this.relationships.relationship()?.activation_id !== activationId) return;
    this.tx(() => {
      const rel = this.relationships.end(activationId);
      if (rel?.state === "active") this.notify({ event: "Deactivated", primary: rel.primary_address, secondary: this.profileStore.row()?.address ?? "", name: rel.name, actor: by, at: Date.now() });
    });
  }

  /** On the primary: the secondary toggled (HLF-SD-004). Undefined when the twin is gone. */
  async secondaryToggled(secondary: string, activationId: string, status: TwinningStatus): Promise<StatusChange | undefined> {
    return this.tx(() => {
      const twin = this.relationships.twinOf(secondary, activationId);
      if (!twin) return undefined;
      // The caller applies the change itself; the queued copy only repairs a caller that died.
      return this.changeTwinStatus(twin, status, "secondary", REPAIR_DELAY_MS) ?? this.relationships.currentChange(twin);
    });
  }

  /** On the primary: the secondary ended the relationship (HLF-SD-007). */
  async secondaryLeft(secondary: string, activationId: string): Promise<void> {
    const twin = this.relationships.twinOf(secondary, activationId);
    if (!twin) return;
    this.tx(() => {
      this.relationships.deleteTwin(secondary);
      this.outbox.enqueue(secondary, { method: "relationshipEnded", activationId, by: "secondary" } satisfies OutboxMessage, REPAIR_DELAY_MS);
      this.notify({ event: "Deactivated", primary: this.profileStore.row()?.address ?? "", secondary, name: twin.name, actor: "secondary", at: Date.now() });
    });
  }

  // ---------------------------------------------------------------- notifications (HLF-PD-007, SD-008)

  subscribe(token: TokenRef, s: NewSubscription): Promise<Outcome<{ subscription: SubscriptionRecord; signingSecret?: string; created: boolean }>> {
    return this.asHolderOf(token, () => {
      try {
        this.notifying = undefined;
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
      this.notifying = undefined;
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
    this.notifying = undefined;
    return this.tx(() => this.notifications.replay(notificationIds));
  }
}
