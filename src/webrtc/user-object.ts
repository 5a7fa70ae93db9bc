// One object per subscriber address for WebRTC signaling: its wrtcsNotificationSubscriptions and
// their delivery, through the gateway's notification queue (signed callbacks or Notification
// Channels, ordered, at least once). Call sessions hand their notifications here; a session may
// hand one twice after a lost answer, so each is taken once by its id.
import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE, NotificationQueue, type NewSubscription, type SubscriptionRecord } from "../notify/queue";

const SCHEMA = [
  `${NOTIFY_SCHEMA}
   CREATE TABLE received (id TEXT PRIMARY KEY, at INTEGER NOT NULL);`,
  NOTIFY_SCHEMA_DELIVERY_STATE,
];
/** The kind of every subscription here (the queue also serves twinning subscriptions elsewhere). */
const KIND = "webrtc";
/** How long a session's notification id is remembered for de-duplication (a session retries for 10 minutes at most). */
const RECEIVED_TTL_MS = 30 * 60_000;

export class SignalingUserObject extends DurableObject<Env> {
  private readonly queue: NotificationQueue;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx, SCHEMA);
    this.queue = new NotificationQueue(ctx.storage.sql, env);
  }

  async subscribe(s: NewSubscription): Promise<{ subscription: SubscriptionRecord; signingSecret?: string; created: boolean } | { limit: string }> {
    try {
      return this.queue.subscribe({ ...s, kind: KIND });
    } catch (err) {
      if (err instanceof RangeError) return { limit: err.message };
      throw err;
    }
  }

  async subscriptions(): Promise<SubscriptionRecord[]> {
    return this.queue.list(KIND);
  }

  async subscription(id: string): Promise<SubscriptionRecord | undefined> {
    return this.queue.get(id);
  }

  async unsubscribe(id: string): Promise<boolean> {
    return this.queue.unsubscribe(id);
  }

  /** Whether anyone listens: a call to a device nobody subscribed for would ring nowhere. */
  async listening(): Promise<boolean> {
    return this.queue.list(KIND).length > 0;
  }

  /** A notification from a call session, queued for every subscription in one transaction. */
  async signal(id: string, root: string, fields: Record<string, unknown>): Promise<void> {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      if (one(sql, "SELECT 1 AS x FROM received WHERE id = ?", id)) return;
      sql.exec("DELETE FROM received WHERE at < ?", Date.now() - RECEIVED_TTL_MS);
      sql.exec("INSERT INTO received (id, at) VALUES (?, ?)", id, Date.now());
      this.queue.enqueueNotification(root, fields, KIND);
    });
    // Only the alarm delivers (one delivery at a time per subscription keeps the order).
    await this.schedule();
  }

  private async schedule(): Promise<void> {
    const next = this.queue.nextDue();
    if (next === undefined) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(Math.max(next, Date.now()));
  }

  override async alarm(): Promise<void> {
    const settings = config(this.env);
    await this.queue.deliverDue({ allowLoopback: settings.CALLBACK_ALLOW_LOOPBACK, retryWindowMs: settings.NOTIFY_RETRY_WINDOW_SECONDS * 1000 });
    const next = this.queue.nextDue();
    if (next !== undefined) await this.ctx.storage.setAlarm(Math.max(next, Date.now() + 10));
  }
}
