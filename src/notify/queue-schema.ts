// The notification queue's tables and the shapes of its rows and records: what a subscription and a
// queued delivery are, and the schema steps every object hosting a NotificationQueue runs.

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

export interface SubscriptionRow extends Record<string, SqlStorageValue> {
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

export interface DeliveryRow extends Record<string, SqlStorageValue> {
  id: number;
  subscription_id: string;
  notification_id: string;
  body: string;
  attempts: number;
  first_at: number;
  next_at: number;
}

/** A subscription row as the API's record (no secret, no delivery state). */
export const subscriptionRecord = (r: SubscriptionRow): SubscriptionRecord => ({
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
