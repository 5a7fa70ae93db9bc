// A subscriber's notification subscriptions and their delivery queue, kept in the subscriber's
// own SQLite (the SubscriberObject owns it and calls in). Events are enqueued in the same
// transaction as the change they report, so a change is never lost nor reported when it did not
// happen. Delivery is at least once, in order per subscription: the owner's delivery runs (its
// alarm, or a request that just queued, one run at a time: due-alarm.ts) deliver, one delivery at a
// time per subscription, and a failed head waits (with backoff) before the next.
// Each subscription keeps its delivery state (last attempt, outcome, next attempt, failures in a
// row, dropped count) and what was dropped stays replayable by the operator. The tables and row
// shapes are queue-schema.ts; one attempt at one target (channel RPC or signed POST) is delivery.ts.
import { backoffDelay } from "../http/backoff";
import type { Env } from "../env";
import { base64url } from "../http/crypto";
import { one } from "../http/sql";
import { recordEvent } from "../ops/metrics";
import { attemptDelivery, type Attempt } from "./delivery";
import {
  subscriptionRecord,
  type DeliveryRow,
  type DeliveryState,
  type DroppedNotification,
  type NewSubscription,
  type SubscriptionKind,
  type SubscriptionRecord,
  type SubscriptionRow,
  type TwinningEvent,
} from "./queue-schema";

// What other capabilities import from here (the queue's public interface), wherever it now lives.
export { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE } from "./queue-schema";
export type { DeliveryState, DroppedNotification, NewSubscription, SubscriptionKind, SubscriptionRecord, TwinningEvent, TwinningEventKind } from "./queue-schema";
export { SIGNATURE_HEADER, signNotification, withDeadline } from "./delivery";

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 10 * 60_000;
export const MAX_SUBSCRIPTIONS = 20;
/** Dropped notifications kept per subscriber for replay; the oldest go first. */
export const MAX_DROPPED_KEPT = 500;
/** Rounds of delivery one alarm run makes for notifications queued while it ran. */
const MAX_PASSES = 8;

export class NotificationQueue {
  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {}

  private live(now = Date.now(), kind?: SubscriptionKind): SubscriptionRow[] {
    return this.sql
      .exec<SubscriptionRow>("SELECT * FROM subscription WHERE (expires_at IS NULL OR expires_at > ?) AND (? IS NULL OR kind = ?) ORDER BY created_at, id", now, kind ?? null, kind ?? null)
      .toArray();
  }

  /**
   * A new subscription, or the existing one with the same clientCorrelator (OMA: a repeated
   * correlator means the client retried; it must not create a duplicate). `created` says which.
   */
  subscribe(s: NewSubscription): { subscription: SubscriptionRecord; signingSecret?: string; created: boolean } {
    if (s.clientCorrelator) {
      const existing = one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE client_id = ? AND client_correlator = ?", s.clientId, s.clientCorrelator);
      if (existing) return { subscription: subscriptionRecord(existing), created: false };
    }
    this.sql.exec("DELETE FROM subscription WHERE expires_at IS NOT NULL AND expires_at <= ?", Date.now());
    if (this.live().length >= MAX_SUBSCRIPTIONS) throw new RangeError(`at most ${MAX_SUBSCRIPTIONS} subscriptions per subscriber`);
    const id = base64url(crypto.getRandomValues(new Uint8Array(12)));
    const signingSecret = `whsec_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
    const now = Date.now();
    this.sql.exec(
      "INSERT INTO subscription (id, kind, client_id, notify_url, callback_data, client_correlator, channel_id, signing_secret, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      id, s.kind ?? "twinning", s.clientId, s.notifyURL, s.callbackData ?? null, s.clientCorrelator ?? null, s.channelId ?? null, signingSecret, now, s.expiresAt ?? null,
    );
    return { subscription: subscriptionRecord(one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE id = ?", id)!), signingSecret, created: true };
  }

  /** Live subscriptions, of one kind when given. */
  list(kind?: SubscriptionKind): SubscriptionRecord[] {
    return this.live(Date.now(), kind).map((r) => ({ ...subscriptionRecord(r), delivery: this.deliveryState(r.id)! }));
  }

  get(id: string): SubscriptionRecord | undefined {
    const row = one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)", id, Date.now());
    return row ? { ...subscriptionRecord(row), delivery: this.deliveryState(row.id)! } : undefined;
  }

  /** Ends a subscription; what was still queued for it is dropped. */
  unsubscribe(id: string): boolean {
    const removed = this.sql.exec("DELETE FROM subscription WHERE id = ?", id).rowsWritten > 0;
    if (removed) {
      this.sql.exec("DELETE FROM delivery WHERE subscription_id = ?", id);
      this.sql.exec("DELETE FROM dropped_notification WHERE subscription_id = ?", id);
    }
    return removed;
  }

  /** Everything, for a subscriber that is removed. */
  clear(): void {
    this.sql.exec("DELETE FROM delivery; DELETE FROM dropped_notification; DELETE FROM subscription;");
  }

  /** Queues `event` for every live twinning subscription. Call inside the transaction of the change. */
  enqueue(event: TwinningEvent): number {
    return this.enqueueNotification("twinningNotification", {
      event: event.event,
      primary: event.primary,
      secondary: event.secondary,
      name: event.name,
      ...(event.status ? { status: event.status } : {}),
      actor: event.actor,
      timestamp: new Date(event.at).toISOString(),
    });
  }

  /**
   * Queues a notification for every live subscription of `kind`: `{[root]: {notificationId,
   * ...fields, callbackData}}`, delivered like the twinning ones (signed callbacks or channels,
   * ordered per subscription, at least once). Other capabilities with subscriptions of their own
   * (WebRTC signaling) use it. Call inside the transaction of the change; returns how many
   * subscriptions it was queued for (the owner arms its alarm when that is not 0).
   */
  enqueueNotification(root: string, fields: Record<string, unknown>, kind: SubscriptionKind = "twinning"): number {
    const now = Date.now();
    const subs = this.live(now, kind);
    for (const s of subs) {
      const notificationId = crypto.randomUUID();
      const body = JSON.stringify({
        [root]: { notificationId, ...fields, ...(s.callback_data !== null ? { callbackData: s.callback_data } : {}) },
      });
      this.sql.exec("INSERT INTO delivery (subscription_id, notification_id, body, first_at, next_at) VALUES (?, ?, ?, ?, ?)", s.id, notificationId, body, now, now);
    }
    return subs.length;
  }

  /**
   * When the next delivery is due: the earliest head of a subscription's queue. A notification
   * behind a failing head is not due before the head is (order per subscription); counting it
   * would wake the alarm again and again with nothing to do.
   */
  nextDue(): number | undefined {
    return one<{ t: number | null }>(this.sql, `SELECT MIN(d.next_at) AS t FROM delivery d
      WHERE d.id = (SELECT MIN(h.id) FROM delivery h WHERE h.subscription_id = d.subscription_id)`)?.t ?? undefined;
  }

  stats(): { delivered: number; dropped: number; queued: number } {
    const s = one<{ delivered: number; dropped: number }>(this.sql, "SELECT delivered, dropped FROM delivery_stats")!;
    const queued = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM delivery")!.n;
    return { delivered: s.delivered, dropped: s.dropped, queued };
  }

  /**
   * Delivers everything due, in order per subscription, subscriptions side by side, and goes round
   * again for what was queued meanwhile (a bounded number of times; the alarm takes the rest).
   */
  async deliverDue(policy: { allowLoopback: boolean; retryWindowMs: number }): Promise<void> {
    for (let pass = 0; pass < MAX_PASSES; pass++) {
      // Deliveries whose subscription is gone (deleted or expired) are dropped.
      this.sql.exec("DELETE FROM delivery WHERE subscription_id NOT IN (SELECT id FROM subscription)");
      const subs = this.sql.exec<SubscriptionRow>(`SELECT * FROM subscription s WHERE EXISTS (SELECT 1 FROM delivery d WHERE d.subscription_id = s.id AND d.next_at <= ?
          AND d.id = (SELECT MIN(h.id) FROM delivery h WHERE h.subscription_id = s.id))`, Date.now()).toArray();
      if (subs.length === 0) return;
      await Promise.all(subs.map((s) => this.deliverInOrder(s, policy)));
    }
  }

  private head(subscriptionId: string): DeliveryRow | undefined {
    return one<DeliveryRow>(this.sql, "SELECT * FROM delivery WHERE subscription_id = ? ORDER BY id LIMIT 1", subscriptionId);
  }

  private async deliverInOrder(sub: SubscriptionRow, policy: { allowLoopback: boolean; retryWindowMs: number }): Promise<void> {
    for (;;) {
      const head = this.head(sub.id);
      if (!head || head.next_at > Date.now()) return;
      const result = await attemptDelivery(this.env, sub, head.notification_id, head.body, policy).catch((err): Attempt => ({ outcome: "failed", why: err instanceof Error ? err.message : String(err) }));
      const now = Date.now();
      // The row may have gone meanwhile (unsubscribed, replay, subscriber removed): nothing to record.
      if (!one(this.sql, "SELECT 1 AS x FROM delivery WHERE id = ?", head.id)) return;
      if (result.outcome === "delivered") {
        this.sql.exec("DELETE FROM delivery WHERE id = ?", head.id);
        this.sql.exec("UPDATE delivery_stats SET delivered = delivered + 1");
        recordEvent(this.env, "notify.delivered");
        this.sql.exec("UPDATE subscription SET last_attempt_at = ?, last_outcome = 'delivered', consecutive_failures = 0 WHERE id = ?", now, sub.id);
        continue;
      }
      if (result.outcome === "gone" || now - head.first_at >= policy.retryWindowMs) {
        this.drop(sub.id, head, now, result.outcome === "gone" ? result.why : `retry window passed (${result.why})`);
        continue;
      }
      // Exponential backoff with jitter, so a receiver coming back is not hit by every sender at once.
      const delay = backoffDelay(head.attempts, RETRY_BASE_MS, RETRY_MAX_MS);
      this.sql.exec("UPDATE delivery SET attempts = attempts + 1, next_at = ? WHERE id = ?", Math.round(now + delay), head.id);
      this.sql.exec("UPDATE subscription SET last_attempt_at = ?, last_outcome = ?, consecutive_failures = consecutive_failures + 1 WHERE id = ?", now, result.why, sub.id);
      return;
    }
  }

  /** Moves a delivery to the dropped ones, counted and kept (bounded) for the operator to replay. */
  private drop(subscriptionId: string, head: DeliveryRow, now: number, reason: string): void {
    this.sql.exec("DELETE FROM delivery WHERE id = ?", head.id);
    this.sql.exec("UPDATE delivery_stats SET dropped = dropped + 1");
    recordEvent(this.env, "notify.dropped");
    this.sql.exec(
      "UPDATE subscription SET last_attempt_at = ?, last_outcome = ?, consecutive_failures = consecutive_failures + 1, dropped = dropped + 1 WHERE id = ?",
      now, reason, subscriptionId,
    );
    this.sql.exec(
      "INSERT INTO dropped_notification (subscription_id, notification_id, body, attempts, first_at, dropped_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
      subscriptionId, head.notification_id, head.body, head.attempts + 1, head.first_at, now, reason,
    );
    this.sql.exec("DELETE FROM dropped_notification WHERE id <= (SELECT MAX(id) FROM dropped_notification) - ?", MAX_DROPPED_KEPT);
    console.warn(`notification ${head.notification_id} dropped after ${head.attempts + 1} attempts: ${reason}`);
  }

  /** Where a subscription's deliveries stand. */
  deliveryState(id: string): DeliveryState | undefined {
    const s = one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE id = ?", id);
    if (!s) return undefined;
    const head = this.head(id);
    const queued = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM delivery WHERE subscription_id = ?", id)!.n;
    return {
      ...(s.last_attempt_at !== null ? { lastAttemptAt: s.last_attempt_at } : {}),
      ...(s.last_outcome !== null ? { lastOutcome: s.last_outcome } : {}),
      ...(head ? { nextAttemptAt: head.next_at } : {}),
      consecutiveFailures: s.consecutive_failures,
      dropped: s.dropped,
      queued,
    };
  }

  /** Dropped notifications kept for replay, oldest first (of one subscription when given). */
  dropped(subscriptionId?: string): DroppedNotification[] {
    return this.sql
      .exec<{ subscription_id: string; notification_id: string; body: string; attempts: number; first_at: number; dropped_at: number; reason: string }>(
        "SELECT * FROM dropped_notification WHERE ? IS NULL OR subscription_id = ? ORDER BY id", subscriptionId ?? null, subscriptionId ?? null)
      .toArray()
      .map((r) => ({
        notificationId: r.notification_id,
        subscriptionId: r.subscription_id,
        attempts: r.attempts,
        firstAttemptAt: r.first_at,
        droppedAt: r.dropped_at,
        reason: r.reason,
        body: r.body,
      }));
  }

  /**
   * Queues dropped notifications again (all, or those with the given ids), oldest first, behind
   * what is already queued; each keeps its notificationId, so a receiver that had it after all
   * de-duplicates it. Subscriptions that are gone are skipped. Call inside a transaction.
   */
  replay(notificationIds?: string[]): number {
    const now = Date.now();
    const rows = this.sql
      .exec<{ id: number; subscription_id: string; notification_id: string; body: string }>(
        "SELECT d.* FROM dropped_notification d JOIN subscription s ON s.id = d.subscription_id ORDER BY d.id").toArray()
      .filter((r) => !notificationIds || notificationIds.includes(r.notification_id));
    for (const r of rows) {
      this.sql.exec("INSERT INTO delivery (subscription_id, notification_id, body, first_at, next_at) VALUES (?, ?, ?, ?, ?)", r.subscription_id, r.notification_id, r.body, now, now);
      this.sql.exec("DELETE FROM dropped_notification WHERE id = ?", r.id);
      this.sql.exec("UPDATE subscription SET consecutive_failures = 0 WHERE id = ?", r.subscription_id);
    }
    return rows.length;
  }
}
