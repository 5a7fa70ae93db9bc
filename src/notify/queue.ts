// A subscriber's notification subscriptions and their delivery queue, kept in the subscriber's
// own SQLite (the SubscriberObject owns it and calls in). Events are enqueued in the same
// transaction as the change they report, so a change is never lost nor reported when it did not
// happen. Delivery is at least once, in order per subscription: only the alarm delivers, one
// delivery at a time per subscription, and a failed head waits (with backoff) before the next.
// Each subscription keeps its delivery state (last attempt, outcome, next attempt, failures in a
// row, dropped count) and what was dropped stays replayable by the operator.
import { backoffDelay } from "../http/backoff";
import type { Env } from "../env";
import { base64url } from "../http/crypto";
import { one } from "../http/sql";
import { recordEvent } from "../ops/metrics";
import { callbackUrlProblem } from "./callback-url";

export type TwinningEventKind = "Activated" | "StatusChanged" | "Deactivated";

export interface TwinningEvent {
  event: TwinningEventKind;
  primary: string;
  secondary: string;
  name: string;
  status?: "On" | "Off";
  actor: "primary" | "secondary";
  at: number;
}

/**
 * What a subscription is for: each API that takes subscriptions names its own, so that its
 * notifications go to its subscriptions only (twinning: "twinning"; WebRTC signaling: "webrtc").
 */
export type SubscriptionKind = string;

/** Where a subscription's deliveries stand, for the client's GET and the operator. */
export interface DeliveryState {
  lastAttemptAt?: number;
  /** `delivered`, or why the last attempt failed (`HTTP 503`, `timeout`, `network error`, ...). */
  lastOutcome?: string;
  /** When the head of its queue is next tried; absent when nothing is queued. */
  nextAttemptAt?: number;
  consecutiveFailures: number;
  dropped: number;
  queued: number;
}

export interface DroppedNotification {
  notificationId: string;
  subscriptionId: string;
  attempts: number;
  firstAttemptAt: number;
  droppedAt: number;
  reason: string;
  /** The JSON body that was being delivered. */
  body: string;
}

export interface SubscriptionRecord {
  id: string;
  kind: SubscriptionKind;
  clientId: string;
  notifyURL: string;
  callbackData?: string;
  clientCorrelator?: string;
  /** Set when notifyURL is one of this gateway's Notification Channels: delivered by RPC, not HTTP. */
  channelId?: string;
  createdAt: number;
  expiresAt?: number;
  delivery?: DeliveryState;
}

export interface NewSubscription extends Omit<SubscriptionRecord, "id" | "createdAt" | "kind"> {
  /** Default "twinning". */
  kind?: SubscriptionKind;
}

export const NOTIFY_SCHEMA = `
  CREATE TABLE subscription (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, notify_url TEXT NOT NULL, callback_data TEXT,
    client_correlator TEXT, channel_id TEXT, signing_secret TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER,
    UNIQUE (client_id, client_correlator));
  CREATE TABLE delivery (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL, notification_id TEXT NOT NULL,
    body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, first_at INTEGER NOT NULL, next_at INTEGER NOT NULL);
  CREATE INDEX delivery_by_subscription ON delivery (subscription_id, id);
  CREATE TABLE delivery_stats (id INTEGER PRIMARY KEY CHECK (id = 1), delivered INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0);
  INSERT INTO delivery_stats (id) VALUES (1);`;

/** Schema step after NOTIFY_SCHEMA: subscription kinds, delivery state, dropped notifications kept for replay. */
export const NOTIFY_SCHEMA_DELIVERY_STATE = `
  ALTER TABLE subscription ADD COLUMN kind TEXT NOT NULL DEFAULT 'twinning';
  ALTER TABLE subscription ADD COLUMN last_attempt_at INTEGER;
  ALTER TABLE subscription ADD COLUMN last_outcome TEXT;
  ALTER TABLE subscription ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE subscription ADD COLUMN dropped INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE dropped_notification (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL, notification_id TEXT NOT NULL,
    body TEXT NOT NULL, attempts INTEGER NOT NULL, first_at INTEGER NOT NULL, dropped_at INTEGER NOT NULL, reason TEXT NOT NULL);
  CREATE INDEX dropped_by_subscription ON dropped_notification (subscription_id, id);`;

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 10 * 60_000;
const DELIVERY_TIMEOUT_MS = 10_000;
export const MAX_SUBSCRIPTIONS = 20;
/** Dropped notifications kept per subscriber for replay; the oldest go first. */
export const MAX_DROPPED_KEPT = 500;
/** Rounds of delivery one alarm run makes for notifications queued while it ran. */
const MAX_PASSES = 8;

export const SIGNATURE_HEADER = "x-notification-signature";

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`: origin and freshness, as receivers check webhooks. */
export async function signNotification(secret: string, body: string, timestamp: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${timestamp}.${body}`)));
  return `t=${timestamp},v1=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

interface SubscriptionRow extends Record<string, SqlStorageValue> {
  id: string;
  kind: string;
  client_id: string;
  notify_url: string;
  callback_data: string | null;
  client_correlator: string | null;
  channel_id: string | null;
  signing_secret: string;
  created_at: number;
  expires_at: number | null;
  last_attempt_at: number | null;
  last_outcome: string | null;
  consecutive_failures: number;
  dropped: number;
}

interface DeliveryRow extends Record<string, SqlStorageValue> {
  id: number;
  subscription_id: string;
  notification_id: string;
  body: string;
  attempts: number;
  first_at: number;
  next_at: number;
}

type Attempt = { outcome: "delivered" } | { outcome: "failed"; why: string } | { outcome: "gone"; why: string };

const record = (r: SubscriptionRow): SubscriptionRecord => ({
  id: r.id,
  kind: r.kind,
  clientId: r.client_id,
  notifyURL: r.notify_url,
  ...(r.callback_data !== null ? { callbackData: r.callback_data } : {}),
  ...(r.client_correlator !== null ? { clientCorrelator: r.client_correlator } : {}),
  ...(r.channel_id !== null ? { channelId: r.channel_id } : {}),
  createdAt: r.created_at,
  ...(r.expires_at !== null ? { expiresAt: r.expires_at } : {}),
});

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
      if (existing) return { subscription: record(existing), created: false };
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
    return { subscription: record(one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE id = ?", id)!), signingSecret, created: true };
  }

  /** Live subscriptions, of one kind when given. */
  list(kind?: SubscriptionKind): SubscriptionRecord[] {
    return this.live(Date.now(), kind).map((r) => ({ ...record(r), delivery: this.deliveryState(r.id)! }));
  }

  get(id: string): SubscriptionRecord | undefined {
    const row = one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)", id, Date.now());
    return row ? { ...record(row), delivery: this.deliveryState(row.id)! } : undefined;
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
      const result = await this.attempt(sub, head.notification_id, head.body, policy).catch((err): Attempt => ({ outcome: "failed", why: err instanceof Error ? err.message : String(err) }));
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

  private async attempt(sub: SubscriptionRow, notificationId: string, body: string, policy: { allowLoopback: boolean }): Promise<Attempt> {
    if (sub.channel_id) {
      try {
        const taken = await withDeadline(this.env.CHANNELS.getByName(sub.channel_id).deliver(JSON.parse(body)), DELIVERY_TIMEOUT_MS);
        return taken ? { outcome: "delivered" } : { outcome: "gone", why: "channel deleted or expired" };
      } catch (err) {
        return { outcome: "failed", why: `channel: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    // Checked again at use: the policy may have changed since the subscription was made.
    const problem = callbackUrlProblem(sub.notify_url, policy);
    if (problem) return { outcome: "gone", why: `callback URL refused: ${problem}` };
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const res = await fetch(sub.notify_url, {
        method: "POST",
        redirect: "manual", // a redirect could point anywhere, the internal network included
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        headers: {
          "Content-Type": "application/json",
          "X-Notification-Id": notificationId,
          [SIGNATURE_HEADER]: await signNotification(sub.signing_secret, body, timestamp),
        },
        body,
      });
      await res.body?.cancel();
      return res.ok ? { outcome: "delivered" } : { outcome: "failed", why: `HTTP ${res.status}` };
    } catch (err) {
      const name = err instanceof Error ? err.name : "";
      return { outcome: "failed", why: name === "TimeoutError" || name === "AbortError" ? "timeout" : "network error" };
    }
  }
}

/** `promise`, or a rejection after `ms` (an RPC to another object has no deadline of its own). */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (err: unknown) => (clearTimeout(timer), reject(err)),
    );
  });
}
