// A SyncML DM 1.2 device (DM client), written from the OMA specifications, not from the gateway's
// server: OMA-TS-DM_Protocol-V1_2 (sessions, packages, alerts, status codes), OMA-TS-DM_RepPro-V1_2
// and SyncML RepPro 1.2 (commands, multiple messages per package, large objects),
// OMA-TS-DM_Security-V1_2 (auth-basic, auth-md5, HMAC, mutual authentication) and
// OMA-TS-DM_Notification-V1_2 (package 0).
//
// It keeps a management tree, executes what the server sends on it and answers with exactly the
// Status/Results a conforming device would send. Everything it sees that a conforming server would not
// send is written to `violations` (per session and for the client), so tests can assert on an empty list
// and a failure names the rule that was broken.
import {
  authMd5Digest, base64, basicCredential, decodeMessage, decodePackage0, encodeMessage, hmacHeader, nonceFromNextNonce,
  parseBasicCredential, parseHmacHeader, verifyAuthMd5, verifyHmacHeader, verifyPackage0,
} from "../../src/codec";
import type { Alert, Command, Encoding, Item, ItemData, Meta, Package0, Results, Status, SyncMLMessage, UiMode } from "../../src/codec";

export type AuthType = "syncml:auth-basic" | "syncml:auth-md5" | "syncml:auth-MAC";
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

export interface NodeValue {
  /** Leaf value; absent for interior nodes (format "node"). */
  value?: string | Uint8Array;
  format?: string;
  type?: string;
}

/** A generic alert (Alert 1226, OMA-TS-DM_Protocol-V1_2 §8.7), e.g. a firmware update's outcome. */
export interface GenericAlert {
  correlator?: string;
  source?: string;
  type: string;
  format?: string;
  mark?: string;
  data: string;
}

export interface ExecOutcome {
  /** "200" done, "202" accepted for asynchronous processing, or an error code. */
  status: string;
  /** A generic alert the device reports later (default: at the start of its next session, as FUMO devices do after reboot). */
  alert?: GenericAlert & { when?: "same-session" | "next-session" };
}

export interface UiBehaviour {
  /** Alert 1101: true = yes (200), false = no (304). Default true. */
  confirm?: boolean | ((text: string) => boolean);
  /** Alert 1102: the text the user types. Default "input". */
  input?: string | ((text: string) => string);
  /** Alert 1103/1104: 1-based choice indexes. Default [1]. */
  choose?: number[] | ((text: string, choices: string[]) => number[]);
  /** The user cancels every UI alert (214). */
  cancel?: boolean;
}

export interface DmClientOptions {
  devId: string;
  serverUrl: string;
  encoding: Encoding;
  /** Default application/vnd.syncml.dm+xml or +wbxml. */
  contentType?: string;
  authType: AuthType;
  username: string;
  password: string;
  serverId: string;
  serverPassword: string;
  maxMsgSize?: number;
  maxObjSize?: number;
  /** Initial management tree: URI -> value (a string is a chr leaf). DevInfo defaults are added when missing. */
  tree?: Record<string, NodeValue | string>;
  fetch: Fetcher;
  /** Subtrees the server may only read (Add/Replace/Delete/Copy into them get 405). Default ["./DevInfo", "./DevDetail"]. */
  readOnly?: string[];
  /** Exec handlers by URI; without one, Exec on an existing node answers 200. */
  exec?: Record<string, (data: string | undefined, correlator: string | undefined) => ExecOutcome>;
  ui?: UiBehaviour;
  /** A NextNonce (base64) provisioned at bootstrap; without it an md5/MAC client first sends no credentials. */
  initialNonce?: string;
  /** The nonce this client last gave the server (raw); default empty, as agreed for a fresh device. */
  serverNonce?: Uint8Array;
  /** Credentials sent per session before giving up on 401/407. Default 3. */
  maxAuthAttempts?: number;
  /** Session ids: the hex form of package 0's 16-bit id. Default upper case ("%X"). */
  sessionIdCase?: "upper" | "lower";
  // Behaviours of deployed clients (seen in a real C DM client), all off by default:
  /** Every client-initiated session uses this SessionID (the client tried uses "1"). */
  fixedSessionId?: string;
  /** Every Data goes as WBXML opaque (bytes), text included: opaque is only the wire encoding. */
  opaqueData?: boolean;
  /** false: no large-object support: a chunk is stored as the whole value and answered 200, not 213; DevDetail/LrgObj false, no MaxObjSize. */
  largeObjects?: boolean;
  /** false: no Status for an Atomic (its children's statuses only). */
  atomicStatus?: boolean;
  /** The credentials the device wants from the server (its Chal's type); default auth-md5 (auth-MAC for MAC devices). */
  serverAuthType?: AuthType;
  /** "401": when the server's credentials are refused, every command of its message is answered 401 (not executed). Default: no statuses. */
  refusedCommandStatus?: "401";
}

export interface SessionOptions {
  /** Package 0 (bytes or base64): the session is notification-initiated (Alert 1200, its SessionID). */
  package0?: Uint8Array | string;
  /** What package 0 must say; the session does not start otherwise. */
  expectPackage0?: { uiMode?: UiMode; sessionId?: string };
  /** Client-initiated session id (default: a counter in hex). */
  sessionId?: string;
  /** Generic alerts to report in package 1, besides those queued by earlier Execs. */
  alerts?: GenericAlert[];
  /** The device loses its connection after it has received (and, unless execute is false, executed) this many server messages. */
  drop?: { afterServerMessages: number; execute?: boolean };
  /** The device aborts (Alert 1223) in its answer to this server message. */
  abort?: { afterServerMessages: number };
  /** Safety net against a server that never ends a session. */
  maxMessages?: number;
}

export interface Exchange {
  url: string;
  request: SyncMLMessage;
  requestBytes: number;
  requestHeaders: Record<string, string>;
  httpStatus: number;
  responseContentType: string | null;
  responseBytes: number;
  response?: SyncMLMessage;
  /** The body when it is not a SyncML message (HTTP errors). */
  responseText?: string;
  /** Did the server's credentials (SyncHdr Cred or x-syncml-hmac) verify, and with which nonce. */
  serverAuth?: "ok" | "failed" | "absent";
  serverNonceUsed?: "current" | "previous";
}

export interface ServerStatus {
  msgRef: string;
  cmdRef: string;
  cmd: string;
  data: string;
  /** The kind of the command of ours it answers, if any. */
  answers?: string;
  chal?: Meta;
  items?: Item[];
}

export interface Executed {
  kind: string;
  target?: string;
  source?: string;
  status: string;
  /** Set for commands inside an Atomic or a Sequence. */
  parent?: string;
}

export type Outcome =
  | "completed" | "dropped" | "aborted" | "aborted-by-server" | "auth-failed" | "server-auth-failed"
  | "http-error" | "protocol-error" | "package0-rejected" | "too-many-messages";

export interface SessionResult {
  sessionId: string;
  initiator: "1200" | "1201";
  outcome: Outcome;
  exchanges: Exchange[];
  /** The server's status codes for our SyncHdr, one per message. */
  hdrStatuses: string[];
  serverStatuses: ServerStatus[];
  executed: Executed[];
  ui: { code: string; text: string; options: string; choices: string[]; answer: string }[];
  violations: string[];
  error?: string;
}

export interface Package0Check {
  ok: boolean;
  problems: string[];
  fields?: Package0;
  sessionId?: string;
}

const CODEC_MAX = 1 << 20;
const CHUNK_MARGIN = 16;
const te = new TextEncoder();
const td = new TextDecoder();

export const DEFAULT_TREE: Record<string, NodeValue> = {
  "./DevInfo/Man": { value: "Simulated Devices Inc." },
  "./DevInfo/Mod": { value: "SIM-1000" },
  "./DevInfo/DmV": { value: "1.2" },
  "./DevInfo/Lang": { value: "en-US" },
  "./DevDetail/DevTyp": { value: "phone" },
  "./DevDetail/OEM": { value: "Simulated Devices Inc." },
  "./DevDetail/FwV": { value: "1.0.0" },
  "./DevDetail/SwV": { value: "1.0.0" },
  "./DevDetail/HwV": { value: "A" },
  "./DevDetail/LrgObj": { value: "true", format: "bool" },
  "./DevDetail/URI/MaxDepth": { value: "16", format: "int" },
  "./DevDetail/URI/MaxTotLen": { value: "256", format: "int" },
  "./DevDetail/URI/MaxSegLen": { value: "32", format: "int" },
};

export function bytesOf(v: ItemData | undefined): Uint8Array {
  if (v === undefined) return new Uint8Array(0);
  if (typeof v === "string") return te.encode(v);
  if (v instanceof Uint8Array) return v;
  return te.encode(JSON.stringify(v));
}

export function b64decode(s: string): Uint8Array {
  return nonceFromNextNonce(s);
}

function randomNonce(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(16));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** "./A/B/" -> "./A/B"; "A/B" -> "./A/B"; "/A" -> "./A"; the query part is kept apart. */
export function normalizeUri(uri: string): { path: string; query?: string } {
  const q = uri.indexOf("?");
  let path = q >= 0 ? uri.slice(0, q) : uri;
  const query = q >= 0 ? uri.slice(q + 1) : undefined;
  path = path.trim();
  if (path === "." || path === "./" || path === "" || path === "/") return { path: ".", query };
  if (path.startsWith("./")) path = path.slice(2);
  else if (path.startsWith("/")) path = path.slice(1);
  path = path.replace(/\/+$/, "");
  return { path: `./${path}`, query };
}

/** The management tree: leaves and explicit interior nodes; interior nodes are also implied by their descendants. */
export class ManagementTree {
  readonly nodes = new Map<string, NodeValue>();

  constructor(init: Record<string, NodeValue | string> = {}) {
    for (const [k, v] of Object.entries(init)) this.nodes.set(normalizeUri(k).path, typeof v === "string" ? { value: v } : { ...v });
  }

  clone(): Map<string, NodeValue> {
    return new Map([...this.nodes].map(([k, v]) => [k, { ...v }]));
  }

  restore(snapshot: Map<string, NodeValue>): void {
    this.nodes.clear();
    for (const [k, v] of snapshot) this.nodes.set(k, v);
  }

  exists(uri: string): boolean {
    if (uri === ".") return true;
    if (this.nodes.has(uri)) return true;
    for (const k of this.nodes.keys()) if (k.startsWith(`${uri}/`)) return true;
    return false;
  }

  isInterior(uri: string): boolean {
    if (uri === ".") return true;
    const n = this.nodes.get(uri);
    if (n && n.format === "node") return true;
    if (n && n.value !== undefined) return false;
    for (const k of this.nodes.keys()) if (k.startsWith(`${uri}/`)) return true;
    return n?.format === "node";
  }

  children(uri: string): string[] {
    const prefix = uri === "." ? "./" : `${uri}/`;
    const names = new Set<string>();
    for (const k of this.nodes.keys()) if (k.startsWith(prefix)) names.add(k.slice(prefix.length).split("/")[0]!);
    return [...names];
  }

  get(uri: string): NodeValue | undefined {
    const { path } = normalizeUri(uri);
    if (!this.exists(path)) return undefined;
    if (this.isInterior(path)) return { value: this.children(path).join("/"), format: "node" };
    return this.nodes.get(path);
  }

  value(uri: string): string | undefined {
    const v = this.get(uri)?.value;
    return v === undefined ? undefined : typeof v === "string" ? v : td.decode(v);
  }

  set(uri: string, node: NodeValue): void {
    this.nodes.set(normalizeUri(uri).path, node);
  }

  delete(uri: string): void {
    for (const k of [...this.nodes.keys()]) if (k === uri || k.startsWith(`${uri}/`)) this.nodes.delete(k);
  }

  /** Leaves under a prefix, for package 1. */
  leaves(prefix: string): [string, NodeValue][] {
    return [...this.nodes].filter(([k, v]) => (k === prefix || k.startsWith(`${prefix}/`)) && v.format !== "node" && v.value !== undefined);
  }
}

function parentOf(uri: string): string {
  const i = uri.lastIndexOf("/");
  return i <= 1 ? "." : uri.slice(0, i);
}

function isSuccess(code: string): boolean {
  return /^2\d\d$/.test(code);
}

type OutCmd = Exclude<Command, Status>;

/** A Results value too large for one message, sent in chunks (SyncML RepPro 1.2 §7, large objects). */
interface OutChunking {
  bytes: Uint8Array;
  offset: number;
  binary: boolean;
}

interface QueuedCmd {
  cmd: OutCmd;
  /** A generic alert queued from an earlier session: forgotten once the server has acknowledged it. */
  pending?: GenericAlert;
  chunking?: OutChunking;
  /** Whether the server must answer it with a Status (for the missing-status check). */
  requireStatus: boolean;
}

interface IncomingObject {
  kind: "Add" | "Replace";
  target: string;
  size: number;
  format?: string;
  type?: string;
  parts: Uint8Array[];
  binary: boolean;
}

export class DmClient {
  readonly opts: DmClientOptions;
  readonly tree: ManagementTree;
  readonly sessions: SessionResult[] = [];
  /** Every violation seen, in all sessions. */
  readonly violations: string[] = [];
  /** The raw nonce the server gave in its last Chal: the client's credentials use it. */
  clientNonce: Uint8Array | undefined;
  /** The raw nonce this client last gave the server in a Chal: the server's credentials must use it. */
  serverNonce: Uint8Array;
  /** The nonce given before serverNonce, for the tolerance described in Session.verifyServer. */
  previousServerNonce: Uint8Array | undefined;
  /** Every nonce given to the server, oldest first (the first is the initial one), for diagnostics. */
  readonly givenNonces: Uint8Array[];
  /** Generic alerts waiting for the next session. */
  pendingAlerts: GenericAlert[] = [];
  /** Texts the UI displayed (Alerts 1100-1104). */
  readonly displayed: string[] = [];
  private sessionCounter = 0;

  constructor(opts: DmClientOptions) {
    this.opts = { maxAuthAttempts: 3, readOnly: ["./DevInfo", "./DevDetail"], ...opts };
    if (opts.largeObjects === false) delete this.opts.maxObjSize;
    this.tree = new ManagementTree({
      ...DEFAULT_TREE, "./DevInfo/DevId": { value: opts.devId },
      ...(opts.largeObjects === false ? { "./DevDetail/LrgObj": { value: "false", format: "bool" } } : {}),
      ...(opts.tree ?? {}),
    });
    this.clientNonce = opts.initialNonce !== undefined ? b64decode(opts.initialNonce) : undefined;
    this.serverNonce = opts.serverNonce ?? new Uint8Array(0);
    this.givenNonces = [this.serverNonce];
  }

  get contentType(): string {
    return this.opts.contentType ?? (this.opts.encoding === "xml" ? "application/vnd.syncml.dm+xml" : "application/vnd.syncml.dm+wbxml");
  }

  hexSessionId(n: number): string {
    const h = n.toString(16);
    return this.opts.sessionIdCase === "lower" ? h : h.toUpperCase();
  }

  /**
   * Checks a package 0 (OMA-TS-DM_Notification-V1_2 §6) as the device does before it connects: the
   * digest with the server's password and the nonce this client gave the server, version 1.2, a
   * server initiator, our server id, and (when given) the expected ui-mode and session id.
   */
  checkPackage0(pkg: Uint8Array | string, expect: SessionOptions["expectPackage0"] = {}): Package0Check {
    const bytes = typeof pkg === "string" ? b64decode(pkg) : pkg;
    const problems: string[] = [];
    let fields: Package0;
    try {
      fields = decodePackage0(bytes);
    } catch (e) {
      return { ok: false, problems: [`package 0 does not decode: ${(e as Error).message}`] };
    }
    if (!verifyPackage0(bytes, { password: this.opts.serverPassword, nonce: this.serverNonce })) {
      problems.push(`package 0 digest does not verify with serverId ${this.opts.serverId}, the server password and the nonce this client gave the server (${this.serverNonce.length} bytes)`);
    }
    if (fields.version !== 12) problems.push(`package 0 version ${fields.version}, expected 12 (DM 1.2)`);
    if (fields.initiator !== "server") problems.push(`package 0 initiator ${fields.initiator}, expected server`);
    if (fields.serverId !== this.opts.serverId) problems.push(`package 0 server id ${JSON.stringify(fields.serverId)}, expected ${JSON.stringify(this.opts.serverId)}`);
    if (fields.futureUse !== 0) problems.push(`package 0 future-use bits ${fields.futureUse}, expected 0`);
    if (expect.uiMode && fields.uiMode !== expect.uiMode) problems.push(`package 0 ui-mode ${fields.uiMode}, expected ${expect.uiMode}`);
    const sessionId = this.hexSessionId(fields.sessionId);
    if (expect.sessionId !== undefined && parseInt(expect.sessionId, 16) !== fields.sessionId) {
      problems.push(`package 0 session id ${sessionId}, expected ${expect.sessionId}`);
    }
    return { ok: problems.length === 0, problems, fields, sessionId };
  }

  /** Runs one DM session to its end (or to the drop/abort the options ask for). */
  async startSession(options: SessionOptions = {}): Promise<SessionResult> {
    let sessionId: string;
    let initiator: "1200" | "1201" = "1201";
    if (options.package0 !== undefined) {
      const check = this.checkPackage0(options.package0, options.expectPackage0);
      if (!check.ok) {
        const r: SessionResult = {
          sessionId: check.sessionId ?? "", initiator: "1200", outcome: "package0-rejected", exchanges: [], hdrStatuses: [],
          serverStatuses: [], executed: [], ui: [], violations: check.problems,
        };
        this.sessions.push(r);
        this.violations.push(...check.problems);
        return r;
      }
      sessionId = check.sessionId!;
      initiator = "1200";
    } else {
      this.sessionCounter += 1;
      sessionId = options.sessionId ?? this.opts.fixedSessionId ?? this.hexSessionId(this.sessionCounter);
    }
    const session = new Session(this, sessionId, initiator, options);
    const result = await session.run();
    this.sessions.push(result);
    this.violations.push(...result.violations);
    return result;
  }
}

class Session {
  private msgId = 0;
  private url: string;
  private authenticated = false;
  private authAttempts = 0;
  private serverAuthFailures = 0;
  /** We answered 212 to a server message whose credentials verified. */
  private serverAuthenticated = false;
  private chalGiven = false;
  private serverMaxMsgSize: number | undefined;
  private serverMaxObjSize: number | undefined;
  private lastServerMsgId = 0;
  private statusQueue: Omit<Status, "cmdId">[] = [];
  private cmdQueue: QueuedCmd[] = [];
  /** Our commands by "msgId:cmdId", to match the server's statuses. */
  private sent = new Map<string, { kind: string; requireStatus: boolean; answered: boolean; pending?: GenericAlert }>();
  private incoming: IncomingObject | undefined;
  private readonly result: SessionResult;
  private serverMessages = 0;
  private readonly c: DmClient;

  constructor(client: DmClient, readonly sessionId: string, readonly initiator: "1200" | "1201", private readonly options: SessionOptions) {
    this.c = client;
    this.url = client.opts.serverUrl;
    this.result = {
      sessionId, initiator, outcome: "completed", exchanges: [], hdrStatuses: [], serverStatuses: [], executed: [], ui: [], violations: [],
    };
  }

  private violation(text: string): void {
    this.result.violations.push(text);
  }

  /** Package 1 (DM_Protocol §8.3): Alert 1201/1200, generic alerts, Replace with DevInfo. */
  private package1(): QueuedCmd[] {
    const out: QueuedCmd[] = [{ cmd: { kind: "Alert", cmdId: "", data: this.initiator, items: [] }, requireStatus: true }];
    for (const a of this.options.alerts ?? []) out.push({ cmd: genericAlertCommand(a), requireStatus: true });
    for (const a of this.c.pendingAlerts) out.push({ cmd: genericAlertCommand(a), requireStatus: true, pending: a });
    const items: Item[] = this.c.tree.leaves("./DevInfo").map(([uri, n]) => {
      const item: Item = { source: { locURI: uri }, data: n.value };
      if (n.format && n.format !== "chr") item.meta = { format: n.format };
      return item;
    });
    out.push({ cmd: { kind: "Replace", cmdId: "", items }, requireStatus: true });
    return out;
  }

  private limit(): number {
    return Math.min(this.c.opts.maxMsgSize ?? CODEC_MAX, this.serverMaxMsgSize ?? CODEC_MAX, CODEC_MAX);
  }

  private header(): SyncMLMessage["header"] {
    const o = this.c.opts;
    const header: SyncMLMessage["header"] = {
      verDTD: "1.2", verProto: "DM/1.2", sessionId: this.sessionId, msgId: String(this.msgId),
      target: { locURI: o.serverUrl }, source: { locURI: o.devId, locName: o.username },
    };
    const meta: Meta = {};
    if (o.maxMsgSize !== undefined) meta.maxMsgSize = o.maxMsgSize;
    if (o.maxObjSize !== undefined) meta.maxObjSize = o.maxObjSize;
    if (Object.keys(meta).length) header.meta = meta;
    // Credentials until the server has accepted them (212); none for HMAC (the header carries the MAC).
    if (!this.authenticated) {
      if (o.authType === "syncml:auth-basic") {
        header.cred = { meta: { type: "syncml:auth-basic", format: "b64" }, data: basicCredential(o.username, o.password) };
      } else if (o.authType === "syncml:auth-md5" && this.c.clientNonce !== undefined) {
        header.cred = { meta: { type: "syncml:auth-md5", format: "b64" }, data: authMd5Digest(o.username, o.password, this.c.clientNonce) };
      }
    }
    return header;
  }

  private encodedSize(msg: SyncMLMessage): number {
    return this.encode(msg).length;
  }

  /** The wire form; with opaqueData every Data is sent as opaque bytes. */
  private encode(msg: SyncMLMessage): Uint8Array {
    return encodeMessage(this.c.opts.opaqueData ? opaque(msg) : msg, this.c.opts.encoding);
  }

  /**
   * Builds the next message: Status for the server's SyncHdr, queued statuses, then queued commands,
   * as many as fit in MaxMsgSize (the smaller of ours and the server's). A Results value that does not
   * fit is sent in chunks, the chunk last in its message. Final only when everything is out and the
   * server's package is complete.
   */
  private build(hdrStatus: Omit<Status, "cmdId"> | undefined, serverFinal: boolean, extra: OutCmd[] = []): { msg: SyncMLMessage; sentCmds: QueuedCmd[] } {
    this.msgId += 1;
    const limit = this.limit();
    const msg: SyncMLMessage = { header: this.header(), body: [], final: true };
    let cmdId = 0;
    const next = () => String(++cmdId);
    const fits = () => this.encodedSize(msg) <= limit;
    if (hdrStatus) msg.body.push({ ...hdrStatus, cmdId: next() });
    // Alerts 1222/1223 go in whatever else fits: they are placed first and kept last (renumbered below).
    const sentCmds: QueuedCmd[] = [];
    const extras: OutCmd[] = [];
    for (const e of extra) {
      const cmd = { ...e, cmdId: next() } as OutCmd;
      extras.push(cmd);
      msg.body.push(cmd);
      sentCmds.push({ cmd, requireStatus: false });
    }
    while (this.statusQueue.length) {
      const s = { ...this.statusQueue[0]!, cmdId: next() } as Status;
      msg.body.splice(msg.body.length - extras.length, 0, s);
      if (!fits() && msg.body.length > 1 + extras.length) {
        msg.body.splice(msg.body.indexOf(s), 1);
        cmdId -= 1;
        break;
      }
      this.statusQueue.shift();
    }
    // from here on commands go after the extras; move the extras to the end at the close
    const closeExtras = () => {
      for (const e of extras) msg.body.splice(msg.body.indexOf(e), 1);
      msg.body.push(...extras);
      let n = 0;
      for (const c of msg.body) c.cmdId = String(++n);
    };
    let stop = this.statusQueue.length > 0;
    while (!stop && this.cmdQueue.length) {
      const q = this.cmdQueue[0]!;
      if (q.chunking) {
        const chunk = this.nextChunk(msg, q, next);
        if (chunk) sentCmds.push({ cmd: chunk, requireStatus: false });
        stop = true;
        break;
      }
      const cmd = { ...q.cmd, cmdId: next() } as OutCmd;
      msg.body.push(cmd);
      if (fits()) {
        this.cmdQueue.shift();
        sentCmds.push({ ...q, cmd });
        continue;
      }
      msg.body.pop();
      cmdId -= 1;
      // Too big: split a multi-item command by items, or switch a large Results to chunks.
      if ((cmd.kind === "Replace" || cmd.kind === "Add" || cmd.kind === "Results") && cmd.items.length > 1) {
        const part = { ...cmd, cmdId: next(), items: [] as Item[] } as typeof cmd;
        msg.body.push(part);
        let n = 0;
        while (n < cmd.items.length) {
          part.items.push(cmd.items[n]!);
          if (!fits()) {
            part.items.pop();
            break;
          }
          n++;
        }
        if (n === 0) {
          msg.body.pop();
          cmdId -= 1;
          if (msg.body.length === 0) throw new Error("a single item does not fit MaxMsgSize");
        } else {
          sentCmds.push({ ...q, cmd: part });
          q.cmd = { ...cmd, items: cmd.items.slice(n) } as OutCmd;
        }
        stop = true;
        break;
      }
      if (cmd.kind === "Results" && cmd.items.length === 1) {
        const data = cmd.items[0]!.data;
        q.chunking = { bytes: bytesOf(data), offset: 0, binary: data instanceof Uint8Array };
        const chunk = this.nextChunk(msg, q, next);
        if (chunk) sentCmds.push({ cmd: chunk, requireStatus: false });
        stop = true;
        break;
      }
      if (msg.body.length === 0) throw new Error(`a ${cmd.kind} does not fit MaxMsgSize ${limit}`);
      stop = true;
    }
    closeExtras();
    msg.final = this.statusQueue.length === 0 && this.cmdQueue.length === 0 && serverFinal;
    if (!msg.final) delete msg.final;
    if (!fits()) this.violation(`simulator: message ${this.msgId} is ${this.encodedSize(msg)} bytes, over the limit ${limit}`);
    return { msg, sentCmds };
  }

  /** Puts the next chunk of a large Results into `msg` (MoreData until the last, Meta Size on the first). */
  private nextChunk(msg: SyncMLMessage, q: QueuedCmd, next: () => string): Results | undefined {
    const ch = q.chunking!;
    const base = q.cmd as Results;
    const item0 = base.items[0]!;
    const first = ch.offset === 0;
    const make = (n: number): Results => {
      let end = ch.offset + n;
      // never split a UTF-8 sequence when the value is text
      if (!ch.binary) while (end < ch.bytes.length && end > ch.offset && (ch.bytes[end]! & 0xc0) === 0x80) end--;
      const slice = ch.bytes.subarray(ch.offset, end);
      const last = end >= ch.bytes.length;
      const meta: Meta = { ...(item0.meta ?? {}) };
      if (first) meta.size = ch.bytes.length;
      else delete meta.size;
      const item: Item = { ...item0, data: ch.binary ? slice : td.decode(slice) };
      if (Object.keys(meta).length) item.meta = meta;
      else delete item.meta;
      if (!last) item.moreData = true;
      else delete item.moreData;
      return { ...base, items: [item] };
    };
    const cmdId = next();
    const probe = { ...make(0), cmdId };
    probe.items[0]!.moreData = true;
    msg.body.push(probe);
    const overhead = this.encodedSize(msg);
    msg.body.pop();
    let n = Math.min(ch.bytes.length - ch.offset, this.limit() - overhead - CHUNK_MARGIN);
    if (n <= 0) return undefined;
    for (;;) {
      const r = { ...make(n), cmdId };
      msg.body.push(r);
      if (this.encodedSize(msg) <= this.limit() || n <= 1) {
        const d = r.items[0]!.data;
        ch.offset += bytesOf(d).length;
        if (ch.offset >= ch.bytes.length) this.cmdQueue.shift();
        return r;
      }
      msg.body.pop();
      n = Math.floor(n * 0.9);
    }
  }

  private hdrStatusFor(server: SyncMLMessage, code: string): Omit<Status, "cmdId"> {
    const s: Omit<Status, "cmdId"> = {
      kind: "Status", msgRef: server.header.msgId, cmdRef: "0", cmd: "SyncHdr",
      targetRefs: [server.header.target.locURI], sourceRefs: [server.header.source.locURI], data: code,
    };
    return s;
  }

  /**
   * Mutual authentication (DM_Security §5.3, §5.4): the server proves itself with auth-md5 Cred in its
   * SyncHdr (username = serverId) or, for HMAC devices, an x-syncml-hmac response header, computed
   * with the nonce this client last gave it in a Chal (a fresh device: the empty nonce).
   *
   * TOLERANCE (the lead will align; see the report): the server may not yet have applied a nonce we
   * gave in the message it is answering, so the nonce given before it is accepted too, and the exchange
   * records which one verified (`serverNonceUsed`). The mutual-auth test asserts "current".
   */
  private verifyServer(msg: SyncMLMessage, bytes: Uint8Array, hmac: string | null, ex: Exchange): boolean {
    const o = this.c.opts;
    const candidates: ["current" | "previous", Uint8Array][] = [["current", this.c.serverNonce]];
    if (this.c.previousServerNonce) candidates.push(["previous", this.c.previousServerNonce]);
    // For the report only: which older nonce (or the empty one) the server used when neither verifies.
    const diagnose = (verify: (nonce: Uint8Array) => boolean) => {
      const older = this.c.givenNonces.findIndex((n) => verify(n));
      return older < 0 ? "none of the nonces this device ever gave" : older === 0 ? "the empty initial nonce" : `the nonce given ${this.c.givenNonces.length - older} Chal(s) ago`;
    };
    if (o.authType === "syncml:auth-MAC") {
      if (!hmac) {
        ex.serverAuth = "absent";
        return false;
      }
      let h;
      try {
        h = parseHmacHeader(hmac);
      } catch {
        ex.serverAuth = "failed";
        this.violation(`message ${msg.header.msgId}: x-syncml-hmac header does not parse: ${hmac}`);
        return false;
      }
      if (h.username !== o.serverId) this.violation(`message ${msg.header.msgId}: x-syncml-hmac username ${h.username}, expected the server id ${o.serverId}`);
      for (const [which, nonce] of candidates) {
        if (verifyHmacHeader(hmac, { password: o.serverPassword, nonce, body: bytes }) && h.username === o.serverId) {
          ex.serverAuth = "ok";
          ex.serverNonceUsed = which;
          return true;
        }
      }
      ex.serverAuth = "failed";
      this.violation(`message ${msg.header.msgId}: x-syncml-hmac verifies with ${diagnose((n) => verifyHmacHeader(hmac, { password: o.serverPassword, nonce: n, body: bytes }))}`);
      return false;
    }
    const cred = msg.header.cred;
    if (!cred) {
      ex.serverAuth = "absent";
      // 212 "authentication accepted" covers the rest of the session (SyncML RepPro status 212): after
      // we have answered 212, the server need not send Cred again. (MAC is per message, see above.)
      return this.serverAuthenticated;
    }
    const type = cred.meta?.type ?? "syncml:auth-basic";
    const wanted = o.serverAuthType ?? "syncml:auth-md5";
    if (type === "syncml:auth-basic") {
      // Valid only when the device asked for it (its Chal); otherwise the contract says auth-md5.
      try {
        const b = parseBasicCredential(cred.data);
        if (b.username === o.serverId && b.password === o.serverPassword) {
          ex.serverAuth = "ok";
          if (wanted !== "syncml:auth-basic") this.violation(`message ${msg.header.msgId}: server sent auth-basic credentials, the contract says auth-md5`);
          return true;
        }
      } catch { /* falls through */ }
      ex.serverAuth = "failed";
      return false;
    }
    if (wanted === "syncml:auth-basic") {
      // A device that verifies the server by auth-basic only refuses anything else (and says so in its Chal).
      ex.serverAuth = "failed";
      return false;
    }
    if (type !== "syncml:auth-md5") {
      ex.serverAuth = "failed";
      this.violation(`message ${msg.header.msgId}: server credentials of type ${type}`);
      return false;
    }
    for (const [which, nonce] of candidates) {
      if (verifyAuthMd5(cred.data, o.serverId, o.serverPassword, nonce)) {
        ex.serverAuth = "ok";
        ex.serverNonceUsed = which;
        return true;
      }
    }
    ex.serverAuth = "failed";
    this.violation(`message ${msg.header.msgId}: server Cred verifies with ${diagnose((n) => verifyAuthMd5(cred.data, o.serverId, o.serverPassword, n))}`);
    return false;
  }

  private chal(): { chal: Status["chal"]; nonce: Uint8Array } {
    const nonce = randomNonce();
    const type = this.c.opts.authType === "syncml:auth-MAC" ? "syncml:auth-MAC" : this.c.opts.serverAuthType ?? "syncml:auth-md5";
    return { chal: { meta: { type, format: "b64", nextNonce: base64(nonce) } }, nonce };
  }

  async run(): Promise<SessionResult> {
    const r = this.result;
    try {
      await this.loop();
    } catch (e) {
      r.outcome = "protocol-error";
      r.error = (e as Error).stack ?? String(e);
      this.violation(`simulator stopped: ${(e as Error).message}`);
    }
    // Every command of ours that needs a Status must have got one (unless the session was cut short).
    if (r.outcome === "completed") {
      for (const [key, s] of this.sent) if (s.requireStatus && !s.answered) this.violation(`no Status for our ${s.kind} (MsgRef:CmdRef ${key})`);
    }
    return r;
  }

  private async loop(): Promise<void> {
    const r = this.result;
    const o = this.c.opts;
    this.cmdQueue = this.package1();
    let hdrStatus: Omit<Status, "cmdId"> | undefined;
    let serverFinal = true;
    let extra: OutCmd[] = [];
    let pendingChalNonce: Uint8Array | undefined;
    let abortNow = false;
    const maxMessages = this.options.maxMessages ?? 400;
    for (;;) {
      if (this.msgId >= maxMessages) {
        r.outcome = "too-many-messages";
        return;
      }
      const { msg, sentCmds } = this.build(hdrStatus, serverFinal, extra);
      extra = [];
      for (const q of sentCmds) this.sent.set(`${msg.header.msgId}:${q.cmd.cmdId}`, { kind: q.cmd.kind, requireStatus: q.requireStatus, answered: false, pending: q.pending });
      this.sent.set(`${msg.header.msgId}:0`, { kind: "SyncHdr", requireStatus: !abortNow, answered: false });
      const body = this.encode(msg);
      const headers: Record<string, string> = { "Content-Type": this.c.contentType, Accept: this.c.contentType };
      if (o.authType === "syncml:auth-MAC" && this.c.clientNonce !== undefined) {
        headers["x-syncml-hmac"] = hmacHeader({ username: o.username, password: o.password, nonce: this.c.clientNonce, body });
      }
      const res = await o.fetch(this.url, { method: "POST", headers, body });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const ex: Exchange = {
        url: this.url, request: msg, requestBytes: body.length, requestHeaders: headers, httpStatus: res.status,
        responseContentType: res.headers.get("content-type"), responseBytes: bytes.length,
      };
      r.exchanges.push(ex);
      if (pendingChalNonce) {
        // The server has our Chal now: from here on its credentials use this nonce.
        this.c.previousServerNonce = this.c.serverNonce;
        this.c.serverNonce = pendingChalNonce;
        this.c.givenNonces.push(pendingChalNonce);
        pendingChalNonce = undefined;
      }
      if (abortNow) {
        r.outcome = "aborted";
        return;
      }
      if (res.status !== 200) {
        ex.responseText = td.decode(bytes);
        r.outcome = "http-error";
        r.error = `HTTP ${res.status}: ${ex.responseText.slice(0, 500)}`;
        return;
      }
      const ct = (ex.responseContentType ?? "").split(";")[0]!.trim().toLowerCase();
      if (ct !== this.c.contentType) this.violation(`message ${msg.header.msgId}: response Content-Type ${ex.responseContentType}, expected ${this.c.contentType} (the client's)`);
      let server: SyncMLMessage;
      try {
        server = decodeMessage(bytes, { encoding: o.encoding });
      } catch (e) {
        ex.responseText = td.decode(bytes).slice(0, 2000);
        r.outcome = "protocol-error";
        r.error = `server message does not decode as ${o.encoding}: ${(e as Error).message}`;
        this.violation(r.error);
        return;
      }
      ex.response = server;
      this.serverMessages += 1;
      this.checkHeader(server, bytes.length);

      // The server's credentials, checked before anything it asks is done.
      const serverOk = this.verifyServer(server, bytes, res.headers.get("x-syncml-hmac"), ex);

      // The server's verdict on our credentials.
      const statuses = server.body.filter((c): c is Status => c.kind === "Status");
      const hdr = statuses.find((s) => s.cmd === "SyncHdr" && s.cmdRef === "0" && s.msgRef === msg.header.msgId);
      for (const s of statuses) {
        const m = s.chal?.meta;
        if (m?.nextNonce !== undefined) {
          if (m.type && m.type !== o.authType && !(o.authType === "syncml:auth-MAC" && m.type === "syncml:auth-MAC")) {
            this.violation(`message ${server.header.msgId}: Chal of type ${m.type}, the device's auth type is ${o.authType}`);
          }
          if (m.format && m.format !== "b64") this.violation(`message ${server.header.msgId}: Chal Format ${m.format}, expected b64`);
          try {
            this.c.clientNonce = b64decode(m.nextNonce);
          } catch {
            this.violation(`message ${server.header.msgId}: NextNonce ${m.nextNonce} is not base64`);
          }
        }
      }
      if (!hdr) this.violation(`message ${server.header.msgId}: no Status for our SyncHdr (MsgRef ${msg.header.msgId}, CmdRef 0)`);
      else r.hdrStatuses.push(hdr.data);
      this.recordStatuses(server, statuses);

      // Our answer to its SyncHdr: 212 the first time its credentials check out (with a Chal giving the
      // nonce for its next credentials), 401 + Chal when they do not.
      if (serverOk) {
        // 212 when its credentials were there and verified, 200 for a later message without them.
        hdrStatus = this.hdrStatusFor(server, ex.serverAuth === "ok" ? "212" : "200");
        if (ex.serverAuth === "ok") this.serverAuthenticated = true;
        if (!this.chalGiven) {
          const { chal, nonce } = this.chal();
          hdrStatus.chal = chal;
          pendingChalNonce = nonce;
          this.chalGiven = true;
        }
      } else {
        this.serverAuthFailures += 1;
        this.violation(`message ${server.header.msgId}: server credentials ${ex.serverAuth} (${o.authType === "syncml:auth-MAC" ? "x-syncml-hmac" : "SyncHdr Cred"}; nonce given: ${this.c.serverNonce.length} bytes)`);
        hdrStatus = this.hdrStatusFor(server, ex.serverAuth === "absent" ? "407" : "401");
        const { chal, nonce } = this.chal();
        hdrStatus.chal = chal;
        pendingChalNonce = nonce;
        this.chalGiven = true;
      }

      if (hdr && (hdr.data === "401" || hdr.data === "407")) {
        this.authAttempts += 1;
        if (this.authAttempts >= (o.maxAuthAttempts ?? 3)) {
          r.outcome = "auth-failed";
          return;
        }
        // Package 1 again, with credentials from the new nonce, in the same session. The refused
        // commands are superseded: the server owes no Status for them.
        for (const v of this.sent.values()) v.requireStatus = false;
        this.authenticated = false;
        this.statusQueue = [];
        this.cmdQueue = this.package1();
        serverFinal = true;
        this.updateRespUri(server);
        continue;
      }
      if (hdr && (hdr.data === "212" || hdr.data === "200")) this.authenticated = true;
      this.updateRespUri(server);

      if (!serverOk) {
        // Commands from a server we could not authenticate are not executed (a real client says so with 401 for each).
        if (o.refusedCommandStatus === "401") {
          for (const cmd of server.body) if (cmd.kind !== "Status" && cmd.kind !== "Results" && !cmd.noResp) this.statusQueue.push(this.statusFor(cmd, server.header.msgId, "401"));
        }
        if (this.serverAuthFailures >= 2) {
          r.outcome = "server-auth-failed";
          return;
        }
        serverFinal = true;
        continue;
      }

      const dropHere = this.options.drop && this.serverMessages >= this.options.drop.afterServerMessages;
      if (dropHere && this.options.drop!.execute === false) {
        r.outcome = "dropped";
        return;
      }

      // Execute the body.
      let needsAnswer = false;
      let serverAborted = false;
      for (const cmd of server.body) {
        if (cmd.kind === "Status") continue;
        if (cmd.kind === "Results") {
          this.violation(`message ${server.header.msgId}: unexpected Results from the server`);
          continue;
        }
        needsAnswer = true;
        if (cmd.kind === "Alert" && cmd.data === "1223") {
          serverAborted = true;
          continue;
        }
        const status = this.execute(cmd, server.header.msgId);
        if (!cmd.noResp) for (const s of status) this.statusQueue.push(s);
      }
      if (serverAborted) {
        r.outcome = "aborted-by-server";
        return;
      }
      if (dropHere) {
        r.outcome = "dropped";
        return;
      }
      // Alert 1222 from the server asks for the next message of OUR package: its own package is not
      // continuing then, whether or not it wrote Final (RepPro: multiple messages per package).
      const wantsNext = server.body.some((c) => c.kind === "Alert" && c.data === "1222");
      serverFinal = server.final === true || wantsNext;
      if (!serverFinal) needsAnswer = true;
      if (this.options.abort && this.serverMessages >= this.options.abort.afterServerMessages) {
        // The abort message: Status for the server's SyncHdr and Alert 1223, nothing else; the
        // outcomes of what was executed are not reported (the server must send those commands again).
        extra.push({ kind: "Alert", cmdId: "", data: "1223", items: [] });
        this.cmdQueue = [];
        this.statusQueue = [];
        serverFinal = true;
        abortNow = true;
        continue;
      }
      // A message without Final: ask for the next one (Alert 1222) with our answer.
      if (!serverFinal) {
        extra.push({ kind: "Alert", cmdId: "", data: "1222", items: [{ target: { locURI: server.header.source.locURI }, source: { locURI: o.devId } }] });
      }
      if (!needsAnswer && this.cmdQueue.length === 0 && this.statusQueue.length === 0) {
        // Only statuses, with Final: the session is over (DM_Protocol §8: no answer to a message without commands).
        r.outcome = "completed";
        return;
      }
    }
  }

  private updateRespUri(server: SyncMLMessage): void {
    if (server.header.respURI) {
      try {
        this.url = new URL(server.header.respURI, this.url).toString();
      } catch {
        this.violation(`RespURI ${server.header.respURI} is not a URL`);
      }
    }
  }

  private checkHeader(server: SyncMLMessage, size: number): void {
    const h = server.header;
    const o = this.c.opts;
    if (h.sessionId !== this.sessionId) this.violation(`message ${h.msgId}: SessionID ${h.sessionId}, expected ours echoed (${this.sessionId})`);
    if (h.verDTD !== "1.2") this.violation(`message ${h.msgId}: VerDTD ${h.verDTD}`);
    if (h.verProto !== "DM/1.2") this.violation(`message ${h.msgId}: VerProto ${h.verProto}`);
    if (h.target.locURI !== o.devId) this.violation(`message ${h.msgId}: Target ${h.target.locURI}, expected the device ${o.devId}`);
    const id = Number(h.msgId);
    if (!(id === this.lastServerMsgId + 1)) this.violation(`server MsgID ${h.msgId} after ${this.lastServerMsgId} (must increase by one per message in a session)`);
    this.lastServerMsgId = Number.isFinite(id) ? id : this.lastServerMsgId + 1;
    if (h.meta?.maxMsgSize !== undefined) this.serverMaxMsgSize = h.meta.maxMsgSize;
    if (h.meta?.maxObjSize !== undefined) this.serverMaxObjSize = h.meta.maxObjSize;
    if (o.maxMsgSize !== undefined && size > o.maxMsgSize) this.violation(`message ${h.msgId}: ${size} bytes, over our MaxMsgSize ${o.maxMsgSize}`);
    const ids = new Set<string>();
    const walk = (cmds: Command[]) => {
      for (const c of cmds) {
        if (ids.has(c.cmdId)) this.violation(`message ${h.msgId}: CmdID ${c.cmdId} used twice`);
        ids.add(c.cmdId);
        if (c.kind === "Atomic" || c.kind === "Sequence") walk(c.commands);
      }
    };
    walk(server.body);
  }

  private recordStatuses(server: SyncMLMessage, statuses: Status[]): void {
    for (const s of statuses) {
      const key = `${s.msgRef}:${s.cmdRef}`;
      const ours = this.sent.get(key);
      const rec: ServerStatus = { msgRef: s.msgRef, cmdRef: s.cmdRef, cmd: s.cmd, data: s.data };
      if (s.chal) rec.chal = s.chal.meta;
      if (s.items) rec.items = s.items;
      if (!ours) this.violation(`message ${server.header.msgId}: Status for MsgRef ${s.msgRef} CmdRef ${s.cmdRef} (${s.cmd}), which we never sent`);
      else {
        rec.answers = ours.kind;
        if (ours.kind !== s.cmd) this.violation(`message ${server.header.msgId}: Status Cmd ${s.cmd} for MsgRef ${s.msgRef} CmdRef ${s.cmdRef}, which is our ${ours.kind}`);
        if (ours.answered && ours.kind !== "SyncHdr") this.violation(`message ${server.header.msgId}: second Status for our ${ours.kind} ${key}`);
        ours.answered = true;
        if (ours.pending && isSuccess(s.data)) {
          const i = this.c.pendingAlerts.indexOf(ours.pending);
          if (i >= 0) this.c.pendingAlerts.splice(i, 1);
        }
      }
      if (!/^\d{3}$/.test(s.data)) this.violation(`message ${server.header.msgId}: Status Data ${s.data} is not a status code`);
      this.result.serverStatuses.push(rec);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Executing the server's commands

  private statusFor(cmd: Command, msgRef: string, code: string, items?: Item[]): Omit<Status, "cmdId"> {
    const s: Omit<Status, "cmdId"> = { kind: "Status", msgRef, cmdRef: cmd.cmdId, cmd: cmd.kind, data: code };
    if ("items" in cmd && cmd.kind !== "Results" && cmd.kind !== "Status") {
      const targets = cmd.items.map((i) => i.target?.locURI).filter((x): x is string => !!x);
      const sources = cmd.items.map((i) => i.source?.locURI).filter((x): x is string => !!x);
      if (targets.length) s.targetRefs = targets;
      if (sources.length) s.sourceRefs = sources;
    }
    if (items) s.items = items;
    return s;
  }

  /** Executes one command; returns its statuses (an Atomic/Sequence: its own first, then its children's). */
  private execute(cmd: Command, msgRef: string, parent?: string): Omit<Status, "cmdId">[] {
    const r = this.result;
    const note = (code: string, extra: Partial<Executed> = {}) => {
      const item = "items" in cmd && cmd.items ? cmd.items[0] : undefined;
      const e: Executed = { kind: cmd.kind, status: code, ...extra };
      if (item?.target?.locURI) e.target = item.target.locURI;
      if (item?.source?.locURI) e.source = item.source.locURI;
      if (parent) e.parent = parent;
      r.executed.push(e);
    };
    switch (cmd.kind) {
      case "Atomic": {
        const snapshot = this.c.tree.clone();
        const firstExecuted = r.executed.length;
        const queued = this.cmdQueue.length;
        const pendingAlerts = this.c.pendingAlerts.length;
        const children: { cmd: Command; statuses: Omit<Status, "cmdId">[] }[] = [];
        let failed = false;
        for (const child of cmd.commands) {
          if (failed) {
            children.push({ cmd: child, statuses: [this.statusFor(child, msgRef, "215")] });
            note("215");
            continue;
          }
          const st = this.execute(child, msgRef, "Atomic");
          children.push({ cmd: child, statuses: st });
          if (!isSuccess(st[0]!.data)) failed = true;
        }
        if (!failed) {
          note("200");
          if (this.c.opts.atomicStatus === false) return children.flatMap((c) => c.statuses);
          return [this.statusFor(cmd, msgRef, "200"), ...children.flatMap((c) => c.statuses)];
        }
        // All or nothing (DM_Protocol §6.6.5): roll back the tree and anything queued by the children.
        this.c.tree.restore(snapshot);
        this.cmdQueue.length = queued;
        this.c.pendingAlerts.length = pendingAlerts;
        const out = this.c.opts.atomicStatus === false ? [] : [this.statusFor(cmd, msgRef, "507")];
        for (const c of children) {
          const [own, ...rest] = c.statuses;
          if (isSuccess(own!.data)) {
            const { items: _dropped, ...plain } = own!;
            out.push({ ...plain, data: "216" });
          } else out.push(own!);
          out.push(...rest);
        }
        for (const e of r.executed.slice(firstExecuted)) if (e.parent === "Atomic" && isSuccess(e.status)) e.status = "216";
        note("507");
        return out;
      }
      case "Sequence": {
        const out: Omit<Status, "cmdId">[] = [];
        for (const child of cmd.commands) out.push(...this.execute(child, msgRef, "Sequence"));
        note("200");
        return [this.statusFor(cmd, msgRef, "200"), ...out];
      }
      case "Alert": {
        const { code, items } = this.alert(cmd);
        note(code);
        return [this.statusFor(cmd, msgRef, code, items)];
      }
      case "Get": {
        const results: Item[] = [];
        let code = "200";
        for (const item of cmd.items) {
          const uri = item.target?.locURI;
          if (!uri) {
            code = "400";
            break;
          }
          const { path, query } = normalizeUri(uri);
          if (query !== undefined) {
            code = "406";
            break;
          }
          if (!this.c.tree.exists(path)) {
            code = "404";
            break;
          }
          const n = this.c.tree.get(path)!;
          const meta: Meta = { format: n.format ?? "chr" };
          if (n.type) meta.type = n.type;
          else if (n.format !== "node") meta.type = "text/plain";
          results.push({ source: { locURI: uri }, meta, data: n.value ?? "" });
        }
        note(code);
        if (code === "200") {
          const res: Results = { kind: "Results", cmdId: "", msgRef, cmdRef: cmd.cmdId, items: results };
          this.cmdQueue.push({ cmd: res, requireStatus: false });
        }
        return [this.statusFor(cmd, msgRef, code)];
      }
      case "Add":
      case "Replace":
      case "Delete":
      case "Copy":
      case "Exec": {
        const code = this.itemCommand(cmd);
        note(code);
        return [this.statusFor(cmd, msgRef, code)];
      }
      default:
        note("406");
        return [this.statusFor(cmd, msgRef, "406")];
    }
  }

  private readOnly(path: string): boolean {
    if (path === ".") return true;
    return (this.c.opts.readOnly ?? []).some((p) => path === p || path.startsWith(`${p}/`) || p === path);
  }

  private itemCommand(cmd: Extract<Command, { kind: "Add" | "Replace" | "Delete" | "Copy" | "Exec" }>): string {
    const tree = this.c.tree;
    let code = "200";
    for (const item of cmd.items) {
      const uri = item.target?.locURI;
      if (!uri) return "400";
      const { path } = normalizeUri(uri);
      const format = item.meta?.format ?? cmd.meta?.format;
      const type = item.meta?.type ?? cmd.meta?.type;
      // Large objects (RepPro §7): chunks of Add/Replace.
      if ((cmd.kind === "Add" || cmd.kind === "Replace") && (item.moreData || this.incoming) && this.c.opts.largeObjects !== false) {
        const c = this.chunk(cmd.kind, path, item, format, type);
        if (c.code !== "apply") return c.code;
        const n: NodeValue = { value: c.value };
        if (format) n.format = format;
        if (type) n.type = type;
        return this.applyWrite(cmd.kind, path, n);
      }
      switch (cmd.kind) {
        case "Add":
        case "Replace": {
          const n: NodeValue = format === "node" ? { format: "node" } : { value: dataValue(item.data, format) };
          if (format && format !== "node") n.format = format;
          if (type) n.type = type;
          code = this.applyWrite(cmd.kind, path, n);
          break;
        }
        case "Delete":
          if (this.readOnly(path)) code = "405";
          else if (!tree.exists(path)) code = "404";
          else tree.delete(path);
          break;
        case "Copy": {
          const src = item.source?.locURI;
          if (!src) return "400";
          const from = normalizeUri(src).path;
          if (!tree.exists(from)) code = "404";
          else if (this.readOnly(path)) code = "405";
          else {
            for (const [k, v] of [...tree.nodes]) {
              if (k === from || k.startsWith(`${from}/`)) tree.nodes.set(path + k.slice(from.length), { ...v });
            }
            if (!tree.nodes.has(path) && !tree.isInterior(from)) tree.nodes.set(path, { ...tree.get(from)! });
          }
          break;
        }
        case "Exec": {
          if (!tree.exists(path)) {
            code = "404";
            break;
          }
          const handler = this.c.opts.exec?.[path] ?? this.c.opts.exec?.[uri];
          const data = item.data === undefined ? undefined : typeof item.data === "string" ? item.data : td.decode(bytesOf(item.data));
          const out = handler ? handler(data, cmd.correlator) : { status: "200" };
          code = out.status;
          if (out.alert) {
            const a: GenericAlert = { source: parentOf(path), ...out.alert };
            if (a.correlator === undefined && cmd.correlator !== undefined) a.correlator = cmd.correlator;
            const { when, ...alert } = a as GenericAlert & { when?: string };
            if (out.alert.when === "same-session") this.cmdQueue.push({ cmd: genericAlertCommand(alert), requireStatus: true });
            else this.c.pendingAlerts.push(alert);
          }
          break;
        }
      }
      if (!isSuccess(code)) return code;
    }
    return code;
  }

  private applyWrite(kind: "Add" | "Replace", path: string, n: NodeValue): string {
    const tree = this.c.tree;
    if (this.readOnly(path)) return "405";
    if (kind === "Add") {
      if (tree.exists(path)) return "418";
      // The parent must not be a leaf; missing interior nodes are created (DM_Protocol §6.6.1).
      for (let p = parentOf(path); p !== "."; p = parentOf(p)) {
        if (tree.exists(p) && !tree.isInterior(p)) return "405";
      }
      tree.set(path, n);
      return "200";
    }
    if (!tree.exists(path)) return "404";
    if (tree.isInterior(path) && n.format !== "node") return "405";
    tree.set(path, n);
    return "200";
  }

  /** One chunk of a large object: 213 until the last, then the assembled value (or 424 on a size mismatch). */
  private chunk(kind: "Add" | "Replace", path: string, item: Item, format?: string, type?: string): { code: string; value?: string | Uint8Array } {
    const data = bytesOf(item.data);
    if (!this.incoming) {
      const size = item.meta?.size;
      if (size === undefined) {
        this.violation(`first chunk of ${path} without Meta Size`);
        return { code: "411" };
      }
      if (this.c.opts.maxObjSize !== undefined && size > this.c.opts.maxObjSize) return { code: "413" };
      this.incoming = { kind, target: path, size, format, type, parts: [], binary: item.data instanceof Uint8Array };
    } else if (this.incoming.target !== path || this.incoming.kind !== kind) {
      this.violation(`expected the next chunk of ${this.incoming.kind} ${this.incoming.target}, got ${kind} ${path}`);
      this.incoming = undefined;
      return { code: "223" };
    } else if (item.meta?.size !== undefined && item.meta.size !== this.incoming.size) {
      this.violation(`chunk of ${path} repeats Meta Size ${item.meta.size} (first said ${this.incoming.size})`);
    }
    this.incoming.parts.push(data);
    if (item.data instanceof Uint8Array) this.incoming.binary = true;
    if (item.moreData) return { code: "213" };
    const inc = this.incoming;
    this.incoming = undefined;
    const total = new Uint8Array(inc.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of inc.parts) {
      total.set(p, at);
      at += p.length;
    }
    if (total.length !== inc.size) return { code: "424" };
    return { code: "apply", value: inc.binary && format === "bin" ? total : td.decode(total) };
  }

  /** UI alerts (DM_Protocol §6.6.2, §8.6): items are options, text, then choices. */
  private alert(cmd: Alert): { code: string; items?: Item[] } {
    const ui = this.c.opts.ui ?? {};
    const texts = cmd.items.map((i) => (i.data === undefined ? "" : typeof i.data === "string" ? i.data : td.decode(bytesOf(i.data))));
    const [options, text, ...choices] = texts.length === 1 ? ["", texts[0]!] : [texts[0] ?? "", texts[1] ?? "", ...texts.slice(2)];
    const record = (answer: string) => this.result.ui.push({ code: cmd.data ?? "", text: text ?? "", options: options ?? "", choices, answer });
    switch (cmd.data) {
      case "1222":
        return { code: "200" };
      case "1100":
        this.c.displayed.push(text ?? "");
        record("displayed");
        return { code: "200" };
      case "1101": {
        this.c.displayed.push(text ?? "");
        if (ui.cancel) return record("cancel"), { code: "214" };
        const yes = typeof ui.confirm === "function" ? ui.confirm(text ?? "") : ui.confirm ?? true;
        record(yes ? "yes" : "no");
        return { code: yes ? "200" : "304" };
      }
      case "1102": {
        this.c.displayed.push(text ?? "");
        if (ui.cancel) return record("cancel"), { code: "214" };
        const input = typeof ui.input === "function" ? ui.input(text ?? "") : ui.input ?? "input";
        record(input);
        return { code: "200", items: [{ data: input }] };
      }
      case "1103":
      case "1104": {
        this.c.displayed.push(text ?? "");
        if (ui.cancel) return record("cancel"), { code: "214" };
        let picks = typeof ui.choose === "function" ? ui.choose(text ?? "", choices) : ui.choose ?? [1];
        if (cmd.data === "1103") picks = picks.slice(0, 1);
        record(picks.join(","));
        return { code: "200", items: picks.map((p) => ({ data: String(p) })) };
      }
      default:
        return { code: "406" };
    }
  }
}

function dataValue(data: ItemData | undefined, format: string | undefined): string | Uint8Array {
  if (data === undefined) return "";
  if (typeof data === "string") return data;
  if (data instanceof Uint8Array) return format === "bin" ? data : td.decode(data);
  return JSON.stringify(data);
}

/** The message with every string Data as opaque bytes (the Data of nested commands too). */
function opaque(msg: SyncMLMessage): SyncMLMessage {
  const items = (list: Item[]) => list.map((i) => (typeof i.data === "string" ? { ...i, data: te.encode(i.data) } : i));
  const cmd = (c: Command): Command => {
    if (c.kind === "Atomic" || c.kind === "Sequence") return { ...c, commands: c.commands.map(cmd) };
    if ("items" in c && c.items) return { ...c, items: items(c.items) } as Command;
    return c;
  };
  return { ...msg, body: msg.body.map(cmd) };
}

export function genericAlertCommand(a: GenericAlert): Alert {
  const meta: Meta = { type: a.type, format: a.format ?? "int" };
  if (a.mark) meta.mark = a.mark;
  const item: Item = { meta, data: a.data };
  if (a.source) item.source = { locURI: a.source };
  const alert: Alert = { kind: "Alert", cmdId: "", data: "1226", items: [item] };
  if (a.correlator !== undefined) alert.correlator = a.correlator;
  return alert;
}

export { sameBytes };
