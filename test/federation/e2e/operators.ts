// Two operators on one machine: each gateway is its own `wrangler dev` process on its own loopback
// port with its own state (--persist-to), configured by --var as the MNO it serves. Everything the
// tests do to them goes over HTTP, as an operator's staff and devices would.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { freePort, startDevServer, stopAllDevServers, type DevServer } from "../../e2e/dev-server";

export const ADMIN = { Authorization: "Bearer dev-admin-token" };
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
export const enc = encodeURIComponent;

export interface Reply {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

export async function call(
  base: string,
  method: string,
  path: string,
  opts: { token?: string; headers?: Record<string, string>; body?: unknown; form?: Record<string, string> } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.form) {
    body = new URLSearchParams(opts.form).toString();
    headers["Content-Type"] = "application/x-www-form-urlencoded";
  } else if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers["Content-Type"] ??= "application/json";
  }
  const res = await fetch(`${base}${path}`, { method, headers, body, signal: AbortSignal.timeout(20_000) });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export interface Mno {
  mcc: string;
  mnc: string;
}

export interface Operator {
  readonly mno: Mno;
  /** "001-01" */
  readonly key: string;
  readonly url: string;
  readonly port: number;
  server: DevServer;
  /** Everything its gateway wrote, across restarts (for a failing test's report). */
  output(): string;
  /** Kills the gateway (its whole process group); its state stays on disk. */
  stop(): Promise<void>;
  /** Starts it again on the same port and state. */
  start(): Promise<void>;
}

export const PRIMARY_SERVICES = (port: number) => ({
  messaging: `https://messaging.mno-${port}.example/messaging/v1`,
  nms: `https://nms.mno-${port}.example/nms/v1`,
});

/** The state directories of every operator started, kept until disposeOperators(). */
const stateDirs: string[] = [];

/**
 * Stops every gateway started here, those still starting included (a start-up hook that timed out
 * leaves no wrangler or workerd behind), and removes their state.
 */
export async function disposeOperators(): Promise<void> {
  await stopAllDevServers();
  await Promise.all(stateDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

export async function startOperator(mno: Mno): Promise<Operator> {
  const persistTo = await mkdtemp(join(tmpdir(), `oma-edge-${mno.mcc}${mno.mnc}-`));
  stateDirs.push(persistTo);
  const port = await freePort();
  const key = `${mno.mcc}-${mno.mnc}`;
  const earlier: string[] = [];
  const launch = () =>
    startDevServer({
      persistTo,
      port,
      readyTimeoutMs: 90_000,
      args: ["--var", `HOME_MNOS:${key}`, "--var", `PRIMARY_SERVICES:${JSON.stringify(PRIMARY_SERVICES(port))}`],
    });
  const op: Operator = {
    mno,
    key,
    url: `http://127.0.0.1:${port}`,
    port,
    server: await launch(),
    output: () => [...earlier, op.server.output()].join("\n---- restarted ----\n"),
    stop: () => op.server.stop(),
    start: async () => {
      earlier.push(op.server.output());
      op.server = await launch();
    },
  };
  return op;
}

let counter = 0;
/** A unique E.164 address per call and run, so subscribers never collide. */
export function newAddress(): string {
  counter += 1;
  return `tel:+1555${String(Date.now() % 1_000_000).padStart(6, "0")}${String(counter).padStart(3, "0")}`.slice(0, 20);
}

export interface Device {
  address: string;
  key: Uint8Array;
  token: string;
  op: Operator;
}

export interface AppClient {
  client_id: string;
  client_secret: string;
}

const clients = new Map<string, AppClient>();

/** The twinning app registered at an operator (once per gateway). */
export async function appClient(op: Operator): Promise<AppClient> {
  const hit = clients.get(op.url);
  if (hit) return hit;
  const res = await call(op.url, "POST", "/admin/v1/clients", {
    headers: ADMIN,
    body: { name: "Twinning app", scopes: ["twinning:primary", "twinning:secondary", "twinning:delegated"] },
  });
  if (res.status !== 201) throw new Error(`client registration at ${op.key}: ${res.status} ${res.text}`);
  clients.set(op.url, res.json);
  return res.json;
}

export function basic(client: AppClient): string {
  return `Basic ${Buffer.from(`${enc(client.client_id)}:${enc(client.client_secret)}`).toString("base64")}`;
}

/** A subscriber provisioned at `op` with a device token for every twinning scope. */
export async function device(op: Operator): Promise<Device> {
  const address = newAddress();
  const key = new Uint8Array(randomBytes(32));
  const prov = await call(op.url, "PUT", `/admin/v1/subscribers/${enc(address)}`, {
    headers: ADMIN,
    body: { mno: op.mno, deviceKey: Buffer.from(key).toString("base64url") },
  });
  if (prov.status !== 201) throw new Error(`provisioning at ${op.key}: ${prov.status} ${prov.text}`);
  const client = await appClient(op);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(client.client_id)
    .setSubject(address)
    .setAudience(`${op.url}/oauth/token`)
    .setIssuedAt()
    .setExpirationTime("2m")
    .setJti(randomUUID())
    .sign(key);
  const tok = await call(op.url, "POST", "/oauth/token", {
    headers: { Authorization: basic(client) },
    form: { grant_type: JWT_BEARER, assertion, scope: "twinning:primary twinning:secondary" },
  });
  if (tok.status !== 200) throw new Error(`device token at ${op.key}: ${tok.status} ${tok.text}`);
  return { address, key, token: tok.json.access_token, op };
}

/** The operator registers `peer` through its admin API. */
export function registerPeer(op: Operator, peer: Operator): Promise<Reply> {
  return call(op.url, "PUT", `/admin/v1/peers/${peer.key}`, { headers: ADMIN, body: { issuer: peer.url } });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns something other than undefined, or fails after `ms`. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (${String(last)})` : ""}`);
    await sleep(250);
  }
}

/** A loopback port nobody listens on. */
export const freePortClosed = () => freePort();

export interface Receiver {
  url: string;
  /** The twinningNotification bodies received so far, in order. */
  received: any[];
  close(): Promise<void>;
}

/** A callback receiver on loopback, like a customer's server. */
export async function startReceiver(): Promise<Receiver> {
  const received: any[] = [];
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")).twinningNotification);
      } catch {
        received.push(undefined);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}/hook`, received, close: () => new Promise((r) => server.close(() => r())) };
}

/** Subscribes the device's notifications (HLF-PD-007, SD-008) to `receiver`. */
export async function subscribe(d: Device, receiver: Receiver): Promise<void> {
  const res = await call(d.op.url, "POST", `/twinning/v1/${enc(d.address)}/subscriptions`, {
    token: d.token,
    body: { subscription: { callbackReference: { notifyURL: receiver.url, callbackData: d.address } } },
  });
  if (res.status !== 201) throw new Error(`subscription at ${d.op.key}: ${res.status} ${res.text}`);
}

/** What one device hears: its callback receiver and its WebSocket Notification Channel, each subscribed to its twinning notifications. */
export interface Listener {
  callback: Receiver;
  /** twinningNotification bodies that arrived on the WebSocket, in order. */
  socket: any[];
  close(): Promise<void>;
}

export async function listen(d: Device): Promise<Listener> {
  const { WebSocket } = await import("undici");
  const callback = await startReceiver();
  await subscribe(d, callback);
  const ch = await call(d.op.url, "POST", `/notificationchannel/v1/${enc(d.address)}/channels`, {
    token: d.token,
    body: { notificationChannel: { channelType: "WebSockets", channelLifetime: 600 } },
  });
  if (ch.status !== 201) throw new Error(`channel at ${d.op.key}: ${ch.status} ${ch.text}`);
  const channel = ch.json.notificationChannel;
  const sub = await call(d.op.url, "POST", `/twinning/v1/${enc(d.address)}/subscriptions`, {
    token: d.token,
    body: { subscription: { callbackReference: { notifyURL: channel.callbackURL, callbackData: "ws" } } },
  });
  if (sub.status !== 201) throw new Error(`channel subscription at ${d.op.key}: ${sub.status} ${sub.text}`);
  const socket: any[] = [];
  const ws = new WebSocket(channel.channelData.channelURL);
  ws.addEventListener("message", (m) => {
    if (m.data === "pong") return;
    try {
      socket.push(JSON.parse(String(m.data)).twinningNotification);
    } catch {
      socket.push(undefined);
    }
  });
  await new Promise((resolve, reject) => (ws.addEventListener("open", resolve), ws.addEventListener("error", reject)));
  return {
    callback,
    socket,
    close: async () => {
      ws.close(1000, "done");
      await callback.close();
    },
  };
}

/** Waits until both the callback and the WebSocket of `l` heard an event matching `match`, and returns it. */
export async function heard(l: Listener, what: string, match: (n: any) => boolean): Promise<any> {
  await eventually(`${what} on the WebSocket`, async () => l.socket.find((n) => n && match(n)));
  return eventually(`${what} at the callback`, async () => l.callback.received.find((n) => n && match(n)));
}

/** The claims of a JWT, unverified (the gateway that issued it checks it; the test only reads them). */
export const claimsOf = (jwt: string): any => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"));
