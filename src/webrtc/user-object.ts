// One object per device address for WebRTC signaling: its wrtcsNotificationSubscriptions and
// their delivery, through the gateway's notification queue (signed callbacks or Notification
// Channels, ordered, at least once), and the calls it is in (for Busy). Call sessions hand their
// notifications here; a session may hand one twice after a lost answer, so each is taken once by its id.
import { DurableObject } from "cloudflare:workers";
import { config } from "../config";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";
import { DueAlarm } from "../notify/due-alarm";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE, NotificationQueue, type NewSubscription, type SubscriptionRecord } from "../notify/queue";

const SCHEMA = [
  `${NOTIFY_SCHEMA}
   CREATE TABLE received (id TEXT PRIMARY KEY, at INTEGER NOT NULL);`,
  NOTIFY_SCHEMA_DELIVERY_STATE,
  // The Connected calls this device is in: a device in one is Busy for a new call.
  "CREATE TABLE in_call (session_id TEXT PRIMARY KEY, since INTEGER NOT NULL);",
];
/** The kind of every subscription here (the queue also serves twinning subscriptions elsewhere). */
const KIND = "webrtc";
/** How long a session's notification id is remembered for de-duplication (a session retries for 10 minutes at most). */
const RECEIVED_TTL_MS = 30 * 60_000;
/** A call's session ends it after a day (session-object.ts MAX_CALL_MS): an older mark is one whose end was lost. */
const IN_CALL_MAX_MS = 24 * 3600_000 + 15 * 60_000;

export class SignalingUserObject extends DurableObject<Env> {
  private readonly queue: NotificationQueue;
  private readonly alarmClock: DueAlarm;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx, SCHEMA);
    this.queue = new NotificationQueue(ctx.storage.sql, env);
    this.alarmClock = new DueAlarm(ctx.storage, () => this.queue.nextDue());
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

  /** A notification from a call session, queued for every subscription in one transaction. */
  async signal(id: string, root: string, fields: Record<string, unknown>): Promise<void> {
    this.ctx.storage.transactionSync(() => {
      if (this.firstTime(id)) this.queue.enqueueNotification(root, fields, KIND);
    });
    // Delivered now, by one run at a time (which keeps the order per subscription); the alarm is
    // armed first as the fallback should this run not finish, and it retries what fails.
    this.alarmClock.arm();
    this.alarmClock.runNow(() => this.deliverDue());
  }

  /** A call session says this device's call connected or ended (idempotent by `id`, like signal). */
  async callState(id: string, sessionId: string, connected: boolean): Promise<void> {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      if (!this.firstTime(id)) return;
      if (connected) sql.exec("INSERT OR IGNORE INTO in_call (session_id, since) VALUES (?, ?)", sessionId, Date.now());
      else sql.exec("DELETE FROM in_call WHERE session_id = ?", sessionId);
    });
  }

  /** Whether this device is in a Connected call. */
  async busy(): Promise<boolean> {
    return !!one(this.ctx.storage.sql, "SELECT 1 AS x FROM in_call WHERE since > ?", Date.now() - IN_CALL_MAX_MS);
  }

  /** Inside a transaction: records `id` and says whether it is new. */
  private firstTime(id: string): boolean {
    const sql = this.ctx.storage.sql;
    if (one(sql, "SELECT 1 AS x FROM received WHERE id = ?", id)) return false;
    sql.exec("DELETE FROM received WHERE at < ?", Date.now() - RECEIVED_TTL_MS);
    sql.exec("DELETE FROM in_call WHERE since <= ?", Date.now() - IN_CALL_MAX_MS);
    sql.exec("INSERT INTO received (id, at) VALUES (?, ?)", id, Date.now());
    return true;
  }

  private deliverDue(): Promise<void> {
    const settings = config(this.env);
    return this.queue.deliverDue({ allowLoopback: settings.CALLBACK_ALLOW_LOOPBACK, retryWindowMs: settings.NOTIFY_RETRY_WINDOW_SECONDS * 1000 });
  }

  override async alarm(): Promise<void> {
    await this.alarmClock.run(() => this.deliverDue());
  }
}
