// One object per subscriber that has Notification Channels, named by its address: which channels
// it has. Channels per subscriber are capped here in one transaction (issue 12), and a repeated
// clientCorrelator of the same application names the existing channel (OMA). It is reached only
// after the subscriber's token was checked, so it never exists for a subscriber nobody is.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";

/** Live Notification Channels one subscriber may have at once. */
export const MAX_CHANNELS_PER_SUBSCRIBER = 10;

const SCHEMA = [
  `CREATE TABLE channel_ref (channel_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, client_correlator TEXT, expires_at INTEGER NOT NULL);
   CREATE UNIQUE INDEX channel_by_correlator ON channel_ref (client_id, client_correlator) WHERE client_correlator IS NOT NULL;`,
];

export type Reservation = { reserved: string } | { existing: string } | { refused: string };

export class ChannelDirectoryObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
  }

  private purge(): void {
    this.sql.exec("DELETE FROM channel_ref WHERE expires_at <= ?", Date.now());
  }

  /**
   * Claims a place for the channel `channelId` of application `clientId`; or names the live channel
   * this application already made with `clientCorrelator`; or refuses when the subscriber has as many
   * channels as it may.
   */
  async reserve(channelId: string, clientId: string, clientCorrelator: string | undefined, expiresAt: number): Promise<Reservation> {
    return this.ctx.storage.transactionSync((): Reservation => {
      this.purge();
      if (clientCorrelator) {
        const existing = one<{ channel_id: string }>(this.sql, "SELECT channel_id FROM channel_ref WHERE client_id = ? AND client_correlator = ?", clientId, clientCorrelator);
        if (existing) return { existing: existing.channel_id };
      }
      const n = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM channel_ref")!.n;
      if (n >= MAX_CHANNELS_PER_SUBSCRIBER) return { refused: `at most ${MAX_CHANNELS_PER_SUBSCRIBER} Notification Channels per subscriber; delete one or let it expire` };
      this.sql.exec("INSERT INTO channel_ref (channel_id, client_id, client_correlator, expires_at) VALUES (?, ?, ?, ?)", channelId, clientId, clientCorrelator ?? null, expiresAt);
      return { reserved: channelId };
    });
  }

  async refreshed(channelId: string, expiresAt: number): Promise<void> {
    this.sql.exec("UPDATE channel_ref SET expires_at = ? WHERE channel_id = ?", expiresAt, channelId);
  }

  async removed(channelId: string): Promise<void> {
    this.sql.exec("DELETE FROM channel_ref WHERE channel_id = ?", channelId);
  }

  /** The subscriber is removed: every channel it had, live or expired, leaves the directory; their ids. */
  async removeAll(): Promise<string[]> {
    return this.ctx.storage.transactionSync(() =>
      this.sql.exec<{ channel_id: string }>("DELETE FROM channel_ref RETURNING channel_id").toArray().map((r) => r.channel_id));
  }

  /** The subscriber's live channels, oldest first. */
  async channels(): Promise<string[]> {
    this.purge();
    return this.sql.exec<{ channel_id: string }>("SELECT channel_id FROM channel_ref ORDER BY rowid").toArray().map((r) => r.channel_id);
  }
}
