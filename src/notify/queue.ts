// A subscriber's notification subscriptions and their delivery queue, kept in the subscriber's
// own SQLite (the SubscriberObject owns it and calls in). Events are enqueued in the same
// transaction as the change they report, so a change is never lost nor reported when it did not
// happen. Delivery is at least once, in order per subscription: only the alarm delivers, one
// delivery at a time per subscription, and a failed head waits (with backoff) before the next.
import type { Env } from "../env";
import { base64url } from "../http/crypto";
import { one } from "../http/sql";
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

export interface SubscriptionRecord {
  id: string;
  clientId: string;
  notifyURL: string;
  callbackData?: string;
  clientCorrelator?: string;
  /** Set when notifyURL is one of this gateway's Notification Channels: delivered by RPC, not HTTP. */
  channelId?: string;
  createdAt: number;
  expiresAt?: number;
}

export interface NewSubscription extends Omit<SubscriptionRecord, "id" | "createdAt"> {}

export const NOTIFY_SCHEMA = `
  CREATE TABLE subscription (id TEXT PRIMARY KEY, client_id TEXT NOT NULL, notify_url TEXT NOT NULL, callback_data TEXT,
    client_correlator TEXT, channel_id TEXT, signing_secret TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER,
    UNIQUE (client_id, client_correlator));
  CREATE TABLE delivery (id INTEGER PRIMARY KEY AUTOINCREMENT, subscription_id TEXT NOT NULL, notification_id TEXT NOT NULL,
    body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, first_at INTEGER NOT NULL, next_at INTEGER NOT NULL);
  CREATE INDEX delivery_by_subscription ON delivery (subscription_id, id);
  CREATE TABLE delivery_stats (id INTEGER PRIMARY KEY CHECK (id = 1), delivered INTEGER NOT NULL DEFAULT 0, dropped INTEGER NOT NULL DEFAULT 0);
  INSERT INTO delivery_stats (id) VALUES (1);`;

const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 10 * 60_000;
const DELIVERY_TIMEOUT_MS = 10_000;
export const MAX_SUBSCRIPTIONS = 20;

export const SIGNATURE_HEADER = "x-notification-signature";

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`: origin and freshness, as receivers check webhooks. */
export async function signNotification(secret: string, body: string, timestamp: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${timestamp}.${body}`)));
  return `t=${timestamp},v1=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

interface SubscriptionRow extends Record<string, SqlStorageValue> {
  id: string;
  client_id: string;
  notify_url: string;
  callback_data: string | null;
  client_correlator: string | null;
  channel_id: string | null;
  signing_secret: string;
  created_at: number;
  expires_at: number | null;
}

const record = (r: SubscriptionRow): SubscriptionRecord => ({
  id: r.id,
  clientId: r.client_id,
  notifyURL: r.notify_url,
  ...(r.callback_data !== null ? { callbackData: r.callback_data } : {}),
  ...(r.client_correlator !== null ? { clientCorrelator: r.client_correlator } : {}),
  ...(r.channel_id !== null ? { channelId: r.channel_id } : {}),
  createdAt: r.created_at,
  ...(r.expires_at !== null ? { expiresAt: r.expires_at } : {}),
});

/** How deliveries are made under this deployment's settings (CALLBACK_ALLOW_LOOPBACK, NOTIFY_RETRY_WINDOW_SECONDS). */
export function deliveryPolicy(env: Env): { allowLoopback: boolean; retryWindowMs: number } {
  const s = Number(env.NOTIFY_RETRY_WINDOW_SECONDS ?? 86_400);
  return { allowLoopback: env.CALLBACK_ALLOW_LOOPBACK === "true", retryWindowMs: (Number.isFinite(s) && s > 0 ? s : 86_400) * 1000 };
}

export class NotificationQueue {
  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {}

  private live(now = Date.now()): SubscriptionRow[] {
    return this.sql.exec<SubscriptionRow>("SELECT * FROM subscription WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at, id", now).toArray();
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
      "INSERT INTO subscription (id, client_id, notify_url, callback_data, client_correlator, channel_id, signing_secret, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      id, s.clientId, s.notifyURL, s.callbackData ?? null, s.clientCorrelator ?? null, s.channelId ?? null, signingSecret, now, s.expiresAt ?? null,
    );
    return { subscription: record(one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE id = ?", id)!), signingSecret, created: true };
  }

  list(): SubscriptionRecord[] {
    return this.live().map(record);
  }

  get(id: string): SubscriptionRecord | undefined {
    const row = one<SubscriptionRow>(this.sql, "SELECT * FROM subscription WHERE id = ? AND (expires_at IS NULL OR expires_at > ?)", id, Date.now());
    return row ? record(row) : undefined;
  }

  /** Ends a subscription; what was still queued for it is dropped. */
  unsubscribe(id: string): boolean {
    const removed = this.sql.exec("DELETE FROM subscription WHERE id = ?", id).rowsWritten > 0;
    if (removed) this.sql.exec("DELETE FROM delivery WHERE subscription_id = ?", id);
    return removed;
  }

  /** Queues `event` for every live subscription. Call inside the transaction of the change. */
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
   * Queues a notification of any kind for every live subscription: `{[root]: {notificationId,
   * ...fields, callbackData}}`, delivered like the twinning ones (signed, ordered, at least once).
   * Other capabilities that keep their own subscriptions (WebRTC signaling) use it. Call inside the
   * transaction of the change.
   */
  enqueueNotification(root: string, fields: Record<string, unknown>): number {
    const now = Date.now();
    const subs = this.live(now);
    for (const s of subs) {
      const notificationId = crypto.randomUUID();
      const body = JSON.stringify({
        [root]: { notificationId, ...fields, ...(s.callback_data !== null ? { callbackData: s.callback_data } : {}) },
      });
      this.sql.exec("INSERT INTO delivery (subscription_id, notification_id, body, first_at, next_at) VALUES (?, ?, ?, ?, ?)", s.id, notificationId, body, now, now);
    }
    return subs.length;
  }

  nextDue(): number | undefined {
    return one<{ t: number | null }>(this.sql, "SELECT MIN(next_at) AS t FROM delivery")?.t ?? undefined;
  }

  stats(): { delivered: number; dropped: number; queued: number } {
    const s = one<{ delivered: number; dropped: number }>(this.sql, "SELECT delivered, dropped FROM delivery_stats")!;
    const queued = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM delivery")!.n;
    return { delivered: s.delivered, dropped: s.dropped, queued };
  }

  /** Delivers everything due, in order per subscription, subscriptions side by side. */
  async deliverDue(policy: { allowLoopback: boolean; retryWindowMs: number }): Promise<void> {
    const subs = this.sql.exec<SubscriptionRow>("SELECT * FROM subscription WHERE id IN (SELECT subscription_id FROM delivery WHERE next_at <= ?)", Date.now()).toArray();
    // Deliveries whose subscription is gone are dropped.
    this.sql.exec("DELETE FROM delivery WHERE subscription_id NOT IN (SELECT id FROM subscription)");
    await Promise.all(subs.map((s) => this.deliverInOrder(s, policy)));
  }

  private async deliverInOrder(sub: SubscriptionRow, policy: { allowLoopback: boolean; retryWindowMs: number }): Promise<void> {
    for (;;) {
      const head = one<{ id: number; notification_id: string; body: string; attempts: number; first_at: number; next_at: number }>(
        this.sql, "SELECT * FROM delivery WHERE subscription_id = ? ORDER BY id LIMIT 1", sub.id);
      if (!head || head.next_at > Date.now()) return;
      const outcome = await this.attempt(sub, head.notification_id, head.body, policy);
      const now = Date.now();
      if (outcome === "delivered" || outcome === "gone") {
        this.sql.exec("DELETE FROM delivery WHERE id = ?", head.id);
        this.sql.exec(`UPDATE delivery_stats SET ${outcome === "delivered" ? "delivered = delivered + 1" : "dropped = dropped + 1"}`);
        continue;
      }
      if (now - head.first_at >= policy.retryWindowMs) {
        this.sql.exec("DELETE FROM delivery WHERE id = ?", head.id);
        this.sql.exec("UPDATE delivery_stats SET dropped = dropped + 1");
        console.warn(`notification ${head.notification_id} dropped after ${head.attempts + 1} attempts`);
        continue;
      }
      // Exponential backoff with jitter, so a receiver coming back is not hit by every sender at once.
      const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** head.attempts) * (0.5 + Math.random() / 2);
      this.sql.exec("UPDATE delivery SET attempts = attempts + 1, next_at = ? WHERE id = ?", now + delay, head.id);
      return;
    }
  }

  private async attempt(sub: SubscriptionRow, notificationId: string, body: string, policy: { allowLoopback: boolean }): Promise<"delivered" | "failed" | "gone"> {
    if (sub.channel_id) {
      try {
        return (await this.env.CHANNELS.getByName(sub.channel_id).deliver(JSON.parse(body))) ? "delivered" : "gone";
      } catch {
        return "failed";
      }
    }
    // Checked again at use: the policy may have changed since the subscription was made.
    if (callbackUrlProblem(sub.notify_url, policy)) return "gone";
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
      return res.ok ? "delivered" : "failed";
    } catch {
      return "failed";
    }
  }
}
