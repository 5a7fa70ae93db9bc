// The subscriber object's notifications (HLF-PD-007, SD-008): its subscriptions and their delivery
// queue (../notify/queue.ts), as the object uses them. Most subscribers have no subscription; the
// object then queues nothing and has nothing due, which costs one read, kept until a subscription
// or a queued delivery changes.
import { config } from "../config";
import type { Env } from "../env";
import { ApiError, notFound } from "../http/errors";
import { one } from "../http/sql";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE, NotificationQueue, type DroppedNotification, type NewSubscription, type SubscriptionRecord, type TwinningEvent } from "../notify/queue";
import { addressOf } from "./outbox";

export const NOTIFICATIONS_SCHEMA = { name: "notifications", steps: [NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE] };

export class SubscriberNotifications {
  private readonly queue: NotificationQueue;
  /** Whether there is a subscription or a queued delivery; undefined until read again. */
  private notifying: boolean | undefined;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {
    this.queue = new NotificationQueue(sql, env);
  }

  /** Reads the subscriptions and deliveries again next time (after anything that may change them). */
  forget(): void {
    this.notifying = undefined;
  }

  private hasWork(): boolean {
    this.notifying ??= !!one(this.sql, "SELECT 1 AS x FROM subscription UNION ALL SELECT 1 FROM delivery LIMIT 1");
    return this.notifying;
  }

  /** Queues an event for this subscriber's subscriptions; the alarm delivers it. Inside the change's transaction. */
  notify(event: TwinningEvent): void {
    if (event.secondary === "" || event.primary === "" || !this.hasWork()) return;
    // The other side may be served by a peer ("peer:<mcc>-<mnc>:tel:+..."): devices see addresses only.
    this.queue.enqueue({ ...event, primary: addressOf(event.primary), secondary: addressOf(event.secondary) });
  }

  nextDue(): number | undefined {
    return this.hasWork() ? this.queue.nextDue() : undefined;
  }

  /** The alarm's share: every delivery that is due. */
  deliverDue(): Promise<void> {
    return this.queue.deliverDue({ allowLoopback: config(this.env).CALLBACK_ALLOW_LOOPBACK, retryWindowMs: config(this.env).NOTIFY_RETRY_WINDOW_SECONDS * 1000 });
  }

  subscribe(s: NewSubscription): { subscription: SubscriptionRecord; signingSecret?: string; created: boolean } {
    try {
      this.forget();
      return this.queue.subscribe(s);
    } catch (err) {
      if (err instanceof RangeError) throw new ApiError(403, "POL0001", [err.message]);
      throw err;
    }
  }

  list(): SubscriptionRecord[] {
    return this.queue.list();
  }

  get(id: string): SubscriptionRecord {
    const s = this.queue.get(id);
    if (!s) throw notFound("subscriptionId", id);
    return s;
  }

  unsubscribe(id: string): void {
    this.forget();
    if (!this.queue.unsubscribe(id)) throw notFound("subscriptionId", id);
  }

  stats(): { delivered: number; dropped: number; queued: number } {
    return this.queue.stats();
  }

  dropped(): DroppedNotification[] {
    return this.queue.dropped();
  }

  /** Queues dropped notifications again (all, or these ids); how many. Inside a transaction. */
  replay(notificationIds?: string[]): number {
    this.forget();
    return this.queue.replay(notificationIds);
  }

  clear(): void {
    this.queue.clear();
    this.forget();
  }
}
