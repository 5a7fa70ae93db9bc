// One object per subscriber (named by its tel: address). It owns every fact about that subscriber
// and composes one store per concern, each owning its tables, schema steps and next due time:
//   profile-store.ts     provisioning, device key, from when its tokens count
//   ../oauth/subject-ledger.ts  spent assertion jtis, revoked tokens, device grants (RFC 8628)
//   relationships.ts     twin rows (as a primary), the one relationship row (as a secondary), reservations
//   activation-codes.ts  the current code (as a secondary), failed and in-flight guesses (as a primary)
//   outbox.ts            typed messages to other subscribers (and, through federation, to peers)
//   subscriber-notifications.ts  notification subscriptions and their delivery queue (../notify/queue.ts)
// and what it does in each role: primary-role.ts, secondary-role.ts (HLF-TE-008/009 in activation.ts),
// the two-phase activation (activation.ts) and the operator's view (admin-view.ts). The object keeps
// the RPC surface, the token check of every device call and the transactions that span stores; its
// one alarm (alarm-schedule.ts) runs what the stores say is due.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { ApiError, outcome, type Outcome } from "../http/errors";
import { migrateStores } from "../http/sql";
import { SubjectLedger, SUBJECT_LEDGER_SCHEMA, type AssertionResult, type DeviceGrantRequest, type DevicePoll } from "../oauth/subject-ledger";
import type { TokenRef } from "../oauth/tokens";
import type { DroppedNotification, NewSubscription, SubscriptionRecord, TwinningEvent } from "../notify/queue";
import { ACTIVATION_CODES_SCHEMA, ActivationCodeStore } from "./activation-codes";
import { TwoPhaseActivation, type ActivationOffer, type PrepareAnswer } from "./activation";
import { AdminView } from "./admin-view";
import { AlarmSchedule } from "./alarm-schedule";
import { addressOf, Outbox, OUTBOX_SCHEMA } from "./outbox";
import { PrimaryRole, type RoleHost } from "./primary-role";
import { PROFILE_SCHEMA, ProfileStore } from "./profile-store";
import { twinRecord, type IssuedActivationCode, type RelationshipRecord, type SubscriberProfile, type TwinRecord } from "./records";
import { RELATIONSHIPS_SCHEMA, RelationshipStore, type Actor, type Counterpart, type StatusChange } from "./relationships";
import type { Mno, TwinningStatus } from "./schemas";
import { SecondaryRole } from "./secondary-role";
import { NOTIFICATIONS_SCHEMA, SubscriberNotifications } from "./subscriber-notifications";

export type { Actor, StatusChange } from "./relationships";
export type { ActivationOffer } from "./activation";
export type { IssuedActivationCode, RelationshipRecord, Role, SubscriberProfile, TwinRecord } from "./records";
export type { AssertionResult, DeviceGrantRequest, DevicePoll } from "../oauth/subject-ledger";
export { DEVICE_POLL_INTERVAL_S } from "../oauth/subject-ledger";
export { MAX_FAILED_CODE_ATTEMPTS, FAILED_CODE_WINDOW_MS } from "./activation-codes";

/** Objects written before the stores kept their own versions had one `_schema` version (1..5). */
const legacyVersions = (v: number): Record<string, number> => ({
  profile: v >= 4 ? 2 : 1,
  [SUBJECT_LEDGER_SCHEMA.name]: v >= 2 ? 2 : 1,
  relationships: v >= 2 ? 2 : 1,
  "activation-codes": 1,
  outbox: 1,
  notifications: v >= 5 ? 2 : v >= 3 ? 1 : 0,
});

export class SubscriberObject extends DurableObject<Env> {
  private readonly profileStore: ProfileStore;
  private readonly ledger: SubjectLedger;
  private readonly relationships: RelationshipStore;
  private readonly codes: ActivationCodeStore;
  private readonly outbox: Outbox;
  private readonly notifications: SubscriberNotifications;
  private readonly activation: TwoPhaseActivation;
  private readonly primary: PrimaryRole;
  private readonly secondary: SecondaryRole;
  private readonly admin: AdminView;
  private readonly schedule: AlarmSchedule;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    migrateStores(ctx, [PROFILE_SCHEMA, SUBJECT_LEDGER_SCHEMA, RELATIONSHIPS_SCHEMA, ACTIVATION_CODES_SCHEMA, OUTBOX_SCHEMA, NOTIFICATIONS_SCHEMA], legacyVersions);
    this.profileStore = new ProfileStore(sql);
    this.relationships = new RelationshipStore(sql);
    this.codes = new ActivationCodeStore(sql);
    this.outbox = new Outbox(sql, env);
    this.notifications = new SubscriberNotifications(sql, env);
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
    const host: RoleHost = {
      env,
      profile: this.profileStore,
      relationships: this.relationships,
      codes: this.codes,
      outbox: this.outbox,
      tx: <T>(fn: () => T) => this.tx(fn),
      notify: (event: TwinningEvent) => this.notifications.notify(event),
      deliverNow: (id) => this.deliverNow(id),
    };
    this.activation = new TwoPhaseActivation(host);
    this.primary = new PrimaryRole(host);
    this.secondary = new SecondaryRole(host, this.ledger, this.activation);
    this.admin = new AdminView(this.profileStore, this.relationships, this.primary);
    this.schedule = new AlarmSchedule(ctx.storage, () => this.nextDue());
  }

  // ---------------------------------------------------------------- transactions and the alarm

  /**
   * One transaction of this object. It also deletes the outbox rows delivered since the last one
   * and sets (or deletes) the alarm for the earliest due work (alarm-schedule.ts), in the same
   * synchronous turn, so all of it is one durable commit.
   */
  private tx<T>(fn: () => T): T {
    let result: T;
    try {
      result = this.ctx.storage.transactionSync(() => {
        this.outbox.flushDelivered();
        return fn();
      });
    } catch (err) {
      // Rolled back: what the stores keep of their tables in memory may be ahead of them now.
      this.forgetMemory();
      throw err;
    }
    this.schedule.arm();
    return result;
  }

  /** The earliest due work of every store. */
  private nextDue(): number | undefined {
    const due = [this.outbox.nextDue(), this.relationships.nextDue(), this.notifications.nextDue()].filter((t): t is number => t !== undefined);
    return due.length ? Math.min(...due) : undefined;
  }

  /** Every store forgets what it keeps of its tables in memory; each reads them again when needed. */
  private forgetMemory(): void {
    this.profileStore.forget();
    this.ledger.forget();
    this.relationships.invalidate();
    this.outbox.forget();
    this.notifications.forget();
  }

  override async alarm(): Promise<void> {
    return this.schedule.run(async (startedAt) => {
      // The run starts from the stored truth for what it acts on (the profile and the ledger are
      // only re-read after a rolled-back transaction, forgetMemory).
      this.notifications.forget();
      this.relationships.invalidate();
      this.outbox.forget();
      await Promise.all([
        this.protocolDue(startedAt).catch((err) => console.error("subscriber alarm: protocol work failed", err instanceof Error ? err.message : String(err))),
        this.notifications.deliverDue().catch((err) => console.error("subscriber alarm: notification delivery failed", err instanceof Error ? err.message : String(err))),
      ]);
    });
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
    if (id !== undefined && !(await this.outbox.deliverNow([id]))) this.schedule.arm();
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
      this.primary.queueEndOfEveryTwin();
      this.secondary.queueLeaving(profile.address);
      this.relationships.clear();
      this.codes.clear();
      this.ledger.clear();
      this.notifications.clear();
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

  // ---------------------------------------------------------------- secondary device (HLF-SD-*, secondary-role.ts)

  /** HLF-SD-001..003, HLF-TE-005/006: a fresh one-time code for this secondary. */
  issueActivationCode(token: TokenRef, primaryMno: Mno | undefined, homeMnos: Mno[], ttlMs: number, deviceGrant?: DeviceGrantRequest): Promise<Outcome<IssuedActivationCode>> {
    return this.asHolderOf(token, () => this.secondary.issueCode(primaryMno, homeMnos, ttlMs, deviceGrant));
  }

  /** The device authorization endpoint's entry (RFC 8628 §3.1): the subscriber was identified by its device-key assertion. */
  authorizeDevice(primaryMno: Mno | undefined, homeMnos: Mno[], ttlMs: number, deviceGrant: DeviceGrantRequest): Promise<Outcome<IssuedActivationCode>> {
    return outcome(() => this.secondary.issueCode(primaryMno, homeMnos, ttlMs, deviceGrant));
  }

  /** HLF-SD-006: the primary this secondary is twinned with, and the status. */
  relationship(token: TokenRef): Promise<Outcome<RelationshipRecord>> {
    return this.asHolderOf(token, () => this.secondary.relationship());
  }

  /** HLF-SD-004, TE-002: the toggle takes effect at the primary's object, then here. */
  toggleFromSecondary(token: TokenRef, status: TwinningStatus): Promise<Outcome<RelationshipRecord>> {
    return this.asHolderOf(token, () => this.secondary.toggle(status));
  }

  /** HLF-SD-007, TE-004: the secondary ends the relationship for good. */
  leaveFromSecondary(token: TokenRef): Promise<Outcome<void>> {
    return this.asHolderOf(token, () => this.secondary.leave());
  }

  // ---------------------------------------------------------------- primary device (HLF-PD-*, primary-role.ts)

  /** HLF-PD-001, use case step 7: twin the secondary whose code this is (activation.ts). */
  activateTwin(token: TokenRef, code: string, requestedName: string | undefined, codeMno?: Mno, homeMnos?: Mno[]): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, async () => twinRecord(await this.activation.activate(code, requestedName, codeMno, homeMnos)));
  }

  /** HLF-PD-003, PD-006: every twin with its status. */
  listTwins(token: TokenRef): Promise<Outcome<TwinRecord[]>> {
    return this.asHolderOf(token, () => this.primary.twins());
  }

  /** A primary's secondaries and their status, without a token (for signaling that forks to twins). */
  async twinStatuses(): Promise<{ secondary: string; status: TwinningStatus }[]> {
    return this.relationships.twins().map((r) => ({ secondary: addressOf(r.secondary), status: r.status }));
  }

  /** The other side of an activation as this object knows it: federation checks that a peer acts only on relationships of its own subscribers. */
  async counterpart(activationId: string): Promise<Counterpart | undefined> {
    return this.relationships.counterpart(activationId);
  }

  twin(token: TokenRef, twinId: string): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, () => this.primary.twin(twinId));
  }

  /** HLF-PD-002, TE-002/003: toggle from the primary; Off keeps the relationship. */
  toggleFromPrimary(token: TokenRef, twinId: string, status: TwinningStatus): Promise<Outcome<TwinRecord>> {
    return this.asHolderOf(token, () => this.primary.toggle(twinId, status));
  }

  /** HLF-PD-004, TE-004: the primary ends the relationship for good. */
  deactivateFromPrimary(token: TokenRef, twinId: string): Promise<Outcome<void>> {
    return this.asHolderOf(token, () => this.primary.endTwin(twinId));
  }

  // ---------------------------------------------------------------- the operator's view (admin API, admin-view.ts)

  /** The subscriber's twins (as a primary) and its relationship (as a secondary), without a token. */
  async adminTwinning(): Promise<Outcome<{ twins: TwinRecord[]; relationship?: RelationshipRecord }>> {
    return outcome(() => this.admin.twinning());
  }

  /** The operator ends a twin, as its primary would (HLF-PD-004): both sides and the notifications. */
  adminEndTwin(twinId: string): Promise<Outcome<void>> {
    return outcome(() => this.admin.endTwin(twinId));
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
    this.secondary.applyStatus(activationId, change);
  }

  async relationshipEnded(activationId: string, by: Actor): Promise<void> {
    this.secondary.relationshipEnded(activationId, by);
  }

  /** On the primary: the secondary toggled (HLF-SD-004). Undefined when the twin is gone. */
  async secondaryToggled(secondary: string, activationId: string, status: TwinningStatus): Promise<StatusChange | undefined> {
    return this.primary.secondaryToggled(secondary, activationId, status);
  }

  /** On the primary: the secondary ended the relationship (HLF-SD-007). */
  async secondaryLeft(secondary: string, activationId: string): Promise<void> {
    this.primary.secondaryLeft(secondary, activationId);
  }

  // ---------------------------------------------------------------- notifications (HLF-PD-007, SD-008; subscriber-notifications.ts)

  subscribe(token: TokenRef, s: NewSubscription): Promise<Outcome<{ subscription: SubscriptionRecord; signingSecret?: string; created: boolean }>> {
    return this.asHolderOf(token, () => this.notifications.subscribe(s));
  }

  subscriptions(token: TokenRef): Promise<Outcome<SubscriptionRecord[]>> {
    return this.asHolderOf(token, () => this.notifications.list());
  }

  subscription(token: TokenRef, id: string): Promise<Outcome<SubscriptionRecord>> {
    return this.asHolderOf(token, () => this.notifications.get(id));
  }

  unsubscribe(token: TokenRef, id: string): Promise<Outcome<void>> {
    return this.asHolderOf(token, () => this.notifications.unsubscribe(id));
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
    return this.tx(() => this.notifications.replay(notificationIds));
  }
}
