// One object per OMA Notification Channel, named by its unguessable channel id. Devices cannot
// take HTTP callbacks, so their notifications wait here: pushed at once to an open WebSocket
// (hibernation API, so an idle device costs nothing), handed to a held long-poll request, or kept
// until one comes or the channel expires. A notification leaves the queue only for a reader known
// to be there: a socket that took it, or a poll whose caller still answers (issue 12: a dropped poll
// must not swallow the next notification).
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { hasTable, migrate, one } from "../http/sql";

export type ChannelType = "LongPolling" | "WebSockets";

export interface ChannelInfo {
  channelId: string;
  owner: string;
  channelType: ChannelType;
  clientCorrelator?: string;
  applicationTag?: string;
  /** Notifications one long-poll answer carries at most (OMA channelData.maxNotifications). */
  maxNotifications: number;
  createdAt: number;
  expiresAt: number;
}

/** Notifications kept for an absent device, at most; the oldest go first (and are counted). */
export const MAX_QUEUED = 1000;
/** Open WebSockets per channel and long polls held at once per channel (issue 12). */
export const MAX_SOCKETS_PER_CHANNEL = 5;
export const MAX_POLLS_PER_CHANNEL = 2;

/** Why a channel refused a reader: the route answers 403 POL0001 with this text. */
export type ReaderRefusal = { refused: string };

interface Waiter {
  wake: () => void;
}

const SCHEMA = [
  `CREATE TABLE channel (id INTEGER PRIMARY KEY CHECK (id = 1), channel_id TEXT NOT NULL, owner TEXT NOT NULL, channel_type TEXT NOT NULL,
     client_correlator TEXT, application_tag TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, dropped INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE queued (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);`,
  `ALTER TABLE channel ADD COLUMN max_notifications INTEGER NOT NULL DEFAULT 100;`,
];

export class NotificationChannelObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Held long-poll requests. In memory on purpose: a held request keeps the object alive anyway. */
  private readonly waiters: Waiter[] = [];
  /**
   * Whether this object is a channel at all. An id nobody created (a guess, a typo) must not leave a
   * stored object behind, so nothing is written until create().
   */
  private initialised: boolean;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.initialised = hasTable(this.sql, "channel");
    if (this.initialised) migrate(ctx, SCHEMA);
    // Answered by the runtime without waking the object: keep-alives cost nothing.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  private row() {
    if (!this.initialised) return undefined;
    return one<{ channel_id: string; owner: string; channel_type: ChannelType; client_correlator: string | null; application_tag: string | null; max_notifications: number; created_at: number; expires_at: number }>(
      this.sql, "SELECT * FROM channel WHERE expires_at > ?", Date.now());
  }

  private view(): ChannelInfo | undefined {
    const r = this.row();
    if (!r) return undefined;
    return {
      channelId: r.channel_id,
      owner: r.owner,
      channelType: r.channel_type,
      ...(r.client_correlator ? { clientCorrelator: r.client_correlator } : {}),
      ...(r.application_tag ? { applicationTag: r.application_tag } : {}),
      maxNotifications: r.max_notifications,
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    };
  }

  async create(info: ChannelInfo): Promise<ChannelInfo> {
    migrate(this.ctx, SCHEMA);
    this.initialised = true;
    this.sql.exec(
      "INSERT INTO channel (id, channel_id, owner, channel_type, client_correlator, application_tag, max_notifications, created_at, expires_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
      info.channelId, info.owner, info.channelType, info.clientCorrelator ?? null, info.applicationTag ?? null, info.maxNotifications, info.createdAt, info.expiresAt,
    );
    await this.ctx.storage.setAlarm(info.expiresAt);
    return this.view()!;
  }

  /** The channel if `owner` owns it and it has not expired. */
  async info(owner: string): Promise<ChannelInfo | undefined> {
    const v = this.view();
    return v && v.owner === owner ? v : undefined;
  }

  async refresh(owner: string, lifetimeMs: number): Promise<ChannelInfo | undefined> {
    if (!(await this.info(owner))) return undefined;
    const expiresAt = Date.now() + lifetimeMs;
    this.sql.exec("UPDATE channel SET expires_at = ?", expiresAt);
    await this.ctx.storage.setAlarm(expiresAt);
    return this.view();
  }

  async remove(owner: string): Promise<boolean> {
    if (!(await this.info(owner))) return false;
    await this.close();
    return true;
  }

  /**
   * A notification for the device. Returns false when the channel is gone, so the sender drops
   * it instead of retrying.
   */
  async deliver(notification: unknown): Promise<boolean> {
    if (!this.row()) return false;
    const text = JSON.stringify(notification);
    let sent = false;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
        sent = true;
      } catch {
        /* closing socket: the notification is queued below if no other took it */
      }
    }
    if (sent) return true;
    // Queued first, taken by a reader afterwards: a poll whose caller has gone leaves it here.
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT INTO queued (body) VALUES (?)", text);
      const over = (one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM queued")?.n ?? 0) - MAX_QUEUED;
      if (over > 0) {
        this.sql.exec("DELETE FROM queued WHERE seq IN (SELECT seq FROM queued ORDER BY seq LIMIT ?)", over);
        this.sql.exec("UPDATE channel SET dropped = dropped + ?", over);
      }
    });
    this.waiters.shift()?.wake();
    return true;
  }

  private take(max: number): unknown[] {
    return this.ctx.storage.transactionSync(() => {
      const rows = this.sql.exec<{ seq: number; body: string }>("SELECT seq, body FROM queued ORDER BY seq LIMIT ?", max).toArray();
      if (rows.length) this.sql.exec("DELETE FROM queued WHERE seq <= ?", rows[rows.length - 1]!.seq);
      return rows.map((r) => JSON.parse(r.body));
    });
  }

  private queuedCount(): number {
    return one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM queued")?.n ?? 0;
  }

  /**
   * OMA long polling: what is waiting now, or what arrives within `timeoutMs`, or nothing.
   * `callerAlive` is a function of the calling Worker's request: it fails once that request is
   * gone (the device hung up), and then nothing is taken for it. Undefined when there is no
   * channel; a refusal when the channel already holds as many polls as it may.
   */
  async longPoll(max: number, timeoutMs: number, callerAlive: () => Promise<boolean>): Promise<unknown[] | ReaderRefusal | undefined> {
    const channel = this.row();
    if (!channel) return undefined;
    const limit = Math.min(max, channel.max_notifications);
    if (this.queuedCount() > 0) return this.take(limit);
    if (this.waiters.length >= MAX_POLLS_PER_CHANNEL) return { refused: `at most ${MAX_POLLS_PER_CHANNEL} long polls may wait on a channel at once` };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const woken = await this.waitForNotification(deadline);
      if (!this.row()) return [];
      if (!woken) return [];
      try {
        if (!(await callerAlive())) throw new Error("caller gone");
      } catch {
        // The device hung up: what woke this poll stays queued for the next reader.
        this.waiters.shift()?.wake();
        return [];
      }
      const taken = this.take(limit);
      if (taken.length) return taken;
    }
  }

  /** Resolves true when a notification may be waiting, false at the deadline. */
  private waitForNotification(deadline: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        wake: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, Math.max(0, deadline - Date.now()));
      this.waiters.push(waiter);
    });
  }

  /** WebSocket upgrade (the one use of fetch: RPC cannot carry a socket). */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    if (!this.row()) return new Response("no such channel", { status: 404 });
    if (this.ctx.getWebSockets().length >= MAX_SOCKETS_PER_CHANNEL) {
      return Response.json(
        { requestError: { policyException: { messageId: "POL0001", text: "A policy error occurred. Error code is %1", variables: [`at most ${MAX_SOCKETS_PER_CHANNEL} WebSockets may be open on a channel at once`] } } },
        { status: 403 },
      );
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    // Whatever arrived while no device was connected goes out first, in order.
    for (const n of this.take(MAX_QUEUED)) server.send(JSON.stringify(n));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    // The channel is one-way; anything but the auto-answered ping is ignored.
    if (message === "close") ws.close(1000, "closed by client");
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    try {
      ws.close(code === 1005 ? 1000 : code, "closing");
    } catch {
      /* already closed */
    }
  }

  private async close(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.close(1001, "channel deleted or expired");
      } catch {
        /* already closed */
      }
    }
    for (const w of this.waiters.splice(0)) w.wake();
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.initialised = false;
  }

  override async alarm(): Promise<void> {
    if (!this.initialised) return;
    const r = one<{ expires_at: number }>(this.sql, "SELECT expires_at FROM channel");
    if (r && r.expires_at > Date.now()) {
      await this.ctx.storage.setAlarm(r.expires_at);
      return;
    }
    await this.close();
  }
}
