// One object per OMA Notification Channel, named by its unguessable channel id. Devices cannot
// take HTTP callbacks, so their notifications wait here: pushed at once to an open WebSocket
// (hibernation API, so an idle device costs nothing), handed to a held long-poll request, or kept
// until one comes or the channel expires.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";

export type ChannelType = "LongPolling" | "WebSockets";

export interface ChannelInfo {
  channelId: string;
  owner: string;
  channelType: ChannelType;
  clientCorrelator?: string;
  applicationTag?: string;
  createdAt: number;
  expiresAt: number;
}

/** Notifications kept for an absent device, at most; the oldest go first (and are counted). */
const MAX_QUEUED = 1000;

interface Waiter {
  max: number;
  resolve: (notifications: unknown[]) => void;
}

const SCHEMA = [
  `CREATE TABLE channel (id INTEGER PRIMARY KEY CHECK (id = 1), channel_id TEXT NOT NULL, owner TEXT NOT NULL, channel_type TEXT NOT NULL,
     client_correlator TEXT, application_tag TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, dropped INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE queued (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);`,
];

export class NotificationChannelObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  /** Held long-poll requests. In memory on purpose: a held request keeps the object alive anyway. */
  private readonly waiters: Waiter[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
    // Answered by the runtime without waking the object: keep-alives cost nothing.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  private row() {
    return one<{ channel_id: string; owner: string; channel_type: ChannelType; client_correlator: string | null; application_tag: string | null; created_at: number; expires_at: number }>(
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
      createdAt: r.created_at,
      expiresAt: r.expires_at,
    };
  }

  async create(info: ChannelInfo): Promise<ChannelInfo> {
    this.sql.exec(
      "INSERT INTO channel (id, channel_id, owner, channel_type, client_correlator, application_tag, created_at, expires_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
      info.channelId, info.owner, info.channelType, info.clientCorrelator ?? null, info.applicationTag ?? null, info.createdAt, info.expiresAt,
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
    const sockets = this.ctx.getWebSockets();
    const text = JSON.stringify(notification);
    let sent = false;
    for (const ws of sockets) {
      try {
        ws.send(text);
        sent = true;
      } catch {
        /* closing socket: the notification is queued below if no other took it */
      }
    }
    if (sent) return true;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve([notification]);
      return true;
    }
    this.ctx.storage.transactionSync(() => {
      this.sql.exec("INSERT INTO queued (body) VALUES (?)", text);
      const over = (one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM queued")?.n ?? 0) - MAX_QUEUED;
      if (over > 0) {
        this.sql.exec("DELETE FROM queued WHERE seq IN (SELECT seq FROM queued ORDER BY seq LIMIT ?)", over);
        this.sql.exec("UPDATE channel SET dropped = dropped + ?", over);
      }
    });
    return true;
  }

  private take(max: number): unknown[] {
    return this.ctx.storage.transactionSync(() => {
      const rows = this.sql.exec<{ seq: number; body: string }>("SELECT seq, body FROM queued ORDER BY seq LIMIT ?", max).toArray();
      if (rows.length) this.sql.exec("DELETE FROM queued WHERE seq <= ?", rows[rows.length - 1]!.seq);
      return rows.map((r) => JSON.parse(r.body));
    });
  }

  /** OMA long polling: what is waiting now, or the next notification, or nothing after `timeoutMs`. */
  async longPoll(max: number, timeoutMs: number): Promise<unknown[] | undefined> {
    if (!this.row()) return undefined;
    const waiting = this.take(max);
    if (waiting.length) return waiting;
    return new Promise<unknown[]>((resolve) => {
      const waiter: Waiter = { max, resolve };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve([]);
      }, timeoutMs);
      waiter.resolve = (n) => {
        clearTimeout(timer);
        resolve(n);
      };
      this.waiters.push(waiter);
    });
  }

  /** WebSocket upgrade (the one use of fetch: RPC cannot carry a socket). */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    if (!this.row()) return new Response("no such channel", { status: 404 });
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
    for (const w of this.waiters.splice(0)) w.resolve([]);
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    migrate(this.ctx, SCHEMA);
  }

  override async alarm(): Promise<void> {
    const r = one<{ expires_at: number }>(this.sql, "SELECT expires_at FROM channel");
    if (r && r.expires_at > Date.now()) {
      await this.ctx.storage.setAlarm(r.expires_at);
      return;
    }
    await this.close();
  }
}
