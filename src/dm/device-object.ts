// One object per managed device, named by its devId (the LocURI the client sends, e.g.
// IMEI:493005100592800). It owns the device's DM account and nonces, its management tree as the
// server knows it, its jobs, its package-0 notifications and the state of the current SyncML DM 1.2
// session (OMA-TS-DM_Protocol-V1_2): who is authenticated, which CmdIDs are in flight, the rest of
// the server's package when it spans several messages, and large objects being transferred.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import {
  authMd5Digest,
  base64,
  decodePackage0,
  encodeMessage,
  encodePackage0,
  hmacHeader,
  nonceFromNextNonce,
  parseBasicCredential,
  parseHmacHeader,
  verifyAuthMd5,
  verifyHmacHeader,
  type Command,
  type Encoding,
  type Item,
  type ItemData,
  type Status,
  type SyncMLMessage,
  type UiMode,
} from "../codec";
import { ApiError, notFound, outcome, type Outcome } from "../http/errors";
import { migrate, one } from "../http/sql";
import { constantTimeEqual } from "../http/crypto";
import { commandAt, itemText, jobCommand, settle, toSyncML, valueSize, type CommandPath, type GenericAlert, type Job, type JobCommandSpec } from "./jobs";

export type AuthType = "syncml:auth-basic" | "syncml:auth-md5" | "syncml:auth-MAC";

export interface DeviceAccount {
  devId: string;
  serverId: string;
  authType: AuthType;
  clientUsername: string;
  clientPassword: string;
  serverPassword: string;
  subscriber?: string;
}

export interface DeviceView {
  devId: string;
  serverId: string;
  authType: AuthType;
  clientUsername: string;
  subscriber?: string;
  createdAt: number;
}

export interface NotificationRecord {
  id: string;
  sessionId: string;
  package0: string;
  createdAt: number;
  consumedAt?: number;
}

export interface TreeNode {
  value: string;
  format?: string;
  type?: string;
  updatedAt: string;
}

/** What the Worker hands over for one SyncML message. */
export interface IncomingMessage {
  message: SyncMLMessage;
  body: Uint8Array;
  encoding: Encoding;
  hmac?: string;
  /** Where later messages of this session go (the Worker routes them back here). */
  respUri: string;
}

export interface OutgoingMessage {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** The server's own limit on what it accepts in one message (announced as MaxMsgSize). */
const SERVER_MAX_MSG_SIZE = 512 * 1024;
const DEFAULT_CLIENT_MAX_MSG_SIZE = 64 * 1024;
const SESSION_IDLE_MS = 10 * 60_000;
const MAX_FAILED_AUTH_PER_SESSION = 5;
const MAX_INCOMING_OBJECT = 16 * 1024 * 1024;

interface InFlight {
  jobId: string;
  path: CommandPath;
  /** For a large object sent in chunks: where the next chunk starts. */
  chunkOffset?: number;
  chunkEnd?: number;
}

interface IncomingObject {
  jobId?: string;
  path?: CommandPath;
  cmdRef: string;
  source: string;
  size?: number;
  format?: string;
  type?: string;
  parts: string[];
  /** Bytes received so far (kept as a sum: the chunks of a 1 MB object are not recounted per message). */
  received: number;
  binary: boolean;
}

interface SessionState {
  sessionId: string;
  authenticated: boolean;
  failedAuth: number;
  serverAuthAccepted: boolean;
  serverMsgId: number;
  nextCmdId: number;
  maxMsgSize: number;
  encoding: Encoding;
  contentType: string;
  /** CmdID → job command, for the commands the device has not answered yet. */
  inFlight: Record<string, InFlight>;
  /** CmdID → job command, answered with a Status; their Results may still be on the way (in chunks). */
  answered: Record<string, InFlight>;
  /** Commands of the server's package that did not fit in the last message. */
  pending: Command[];
  /** A large object being sent to the device in chunks. */
  outgoingObject?: { cmdId: string; jobId: string; path: CommandPath; offset: number };
  incomingObject?: IncomingObject;
  /** Job commands handed out in this session (to put them back if the session dies). */
  sent: { jobId: string; path: CommandPath }[];
  lastActivity: number;
  ended: boolean;
}

const SCHEMA = [
  `CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), dev_id TEXT NOT NULL, server_id TEXT NOT NULL, auth_type TEXT NOT NULL,
     client_username TEXT NOT NULL, client_password TEXT NOT NULL, server_password TEXT NOT NULL, subscriber TEXT,
     client_nonce TEXT NOT NULL, server_nonce TEXT NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE tree (uri TEXT PRIMARY KEY, value TEXT NOT NULL, format TEXT, type TEXT, updated_at INTEGER NOT NULL);
   CREATE TABLE job (job_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE TABLE notification (id TEXT PRIMARY KEY, session_num INTEGER NOT NULL, package0 TEXT NOT NULL, created_at INTEGER NOT NULL, consumed_at INTEGER);
   CREATE TABLE generic_alert (seq INTEGER PRIMARY KEY AUTOINCREMENT, correlator TEXT, doc TEXT NOT NULL);
   CREATE TABLE session (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);`,
  // v2: the session engine looks up unfinished jobs in queue order on every message
  `CREATE INDEX job_by_state ON job (state, seq);`,
];

const randomNonce = () => base64(crypto.getRandomValues(new Uint8Array(16)));

type Account = NonNullable<ReturnType<DeviceObject["account"]>>;

export class DeviceObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
  }

  private tx<T>(fn: () => T): T {
    return this.ctx.storage.transactionSync(fn);
  }

  private account() {
    return one<{ dev_id: string; server_id: string; auth_type: AuthType; client_username: string; client_password: string; server_password: string; subscriber: string | null; client_nonce: string; server_nonce: string; created_at: number }>(
      this.sql, "SELECT * FROM account");
  }

  private requireAccount() {
    const a = this.account();
    if (!a) throw notFound("devId", "device");
    return a;
  }

  // ---------------------------------------------------------------- provisioning

  async provision(a: DeviceAccount): Promise<{ created: boolean; device: DeviceView }> {
    const created = this.tx(() => {
      const existing = this.account();
      this.sql.exec(
        `INSERT INTO account (id, dev_id, server_id, auth_type, client_username, client_password, server_password, subscriber, client_nonce, server_nonce, created_at)
         VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)
         ON CONFLICT (id) DO UPDATE SET server_id = excluded.server_id, auth_type = excluded.auth_type, client_username = excluded.client_username,
           client_password = excluded.client_password, server_password = excluded.server_password, subscriber = excluded.subscriber`,
        a.devId, a.serverId, a.authType, a.clientUsername, a.clientPassword, a.serverPassword, a.subscriber ?? null, randomNonce(), Date.now(),
      );
      return !existing;
    });
    return { created, device: (await this.device())! };
  }

  async device(): Promise<DeviceView | undefined> {
    const a = this.account();
    if (!a) return undefined;
    return { devId: a.dev_id, serverId: a.server_id, authType: a.auth_type, clientUsername: a.client_username, ...(a.subscriber ? { subscriber: a.subscriber } : {}), createdAt: a.created_at };
  }

  async deprovision(): Promise<boolean> {
    if (!this.account()) return false;
    await this.ctx.storage.deleteAll();
    migrate(this.ctx, SCHEMA);
    return true;
  }

  // ---------------------------------------------------------------- northbound: jobs, tree, notifications

  queueJob(commands: JobCommandSpec[]): Promise<Outcome<Job>> {
    return outcome(() => {
      this.requireAccount();
      const now = new Date().toISOString();
      const job: Job = { jobId: crypto.randomUUID(), state: "queued", createdAt: now, updatedAt: now, commands: commands.map(jobCommand) };
      const seq = (one<{ n: number | null }>(this.sql, "SELECT MAX(seq) AS n FROM job")?.n ?? 0) + 1;
      this.sql.exec("INSERT INTO job (job_id, seq, state, doc) VALUES (?, ?, ?, ?)", job.jobId, seq, job.state, JSON.stringify(job));
      return job;
    });
  }

  job(jobId: string): Promise<Outcome<Job>> {
    return outcome(() => {
      this.requireAccount();
      const job = this.loadJob(jobId);
      if (!job) throw notFound("jobId", jobId);
      return job;
    });
  }

  tree(): Promise<Outcome<Record<string, TreeNode>>> {
    return outcome(() => {
      this.requireAccount();
      const tree: Record<string, TreeNode> = {};
      for (const r of this.sql.exec<{ uri: string; value: string; format: string | null; type: string | null; updated_at: number }>("SELECT * FROM tree ORDER BY uri")) {
        tree[r.uri] = { value: r.value, ...(r.format ? { format: r.format } : {}), ...(r.type ? { type: r.type } : {}), updatedAt: new Date(r.updated_at).toISOString() };
      }
      return tree;
    });
  }

  /**
   * Package 0 (OMA-TS-DM_Notification-V1_2 §6): the trigger announcing a server-initiated session.
   * Its digest uses the server's password and the nonce the device gave the server.
   */
  notify(uiMode: UiMode): Promise<Outcome<NotificationRecord>> {
    return outcome(() => {
      const a = this.requireAccount();
      const sessionNum = 1 + (crypto.getRandomValues(new Uint16Array(1))[0]! % 0xfffe);
      const pkg = encodePackage0(
        { version: 12, uiMode, initiator: "server", sessionId: sessionNum, serverId: a.server_id },
        { password: a.server_password, nonce: nonceFromNextNonce(a.server_nonce) },
      );
      const record: NotificationRecord = { id: crypto.randomUUID(), sessionId: sessionNum.toString(16).toUpperCase(), package0: base64(pkg), createdAt: Date.now() };
      this.sql.exec("INSERT INTO notification (id, session_num, package0, created_at) VALUES (?, ?, ?, ?)", record.id, sessionNum, record.package0, record.createdAt);
      return record;
    });
  }

  notifications(): Promise<Outcome<NotificationRecord[]>> {
    return outcome(() => {
      this.requireAccount();
      return this.sql.exec<{ id: string; session_num: number; package0: string; created_at: number }>("SELECT * FROM notification WHERE consumed_at IS NULL ORDER BY created_at")
        .toArray()
        .map((r) => ({ id: r.id, sessionId: r.session_num.toString(16).toUpperCase(), package0: r.package0, createdAt: r.created_at }));
    });
  }

  private loadJob(jobId: string): Job | undefined {
    const row = one<{ doc: string }>(this.sql, "SELECT doc FROM job WHERE job_id = ?", jobId);
    return row ? JSON.parse(row.doc) : undefined;
  }

  private saveJob(job: Job): void {
    job.updatedAt = new Date().toISOString();
    settle(job);
    this.sql.exec("UPDATE job SET state = ?, doc = ? WHERE job_id = ?", job.state, JSON.stringify(job), job.jobId);
  }

  // ---------------------------------------------------------------- the device-facing session

  private loadSession(): SessionState | undefined {
    const row = one<{ doc: string }>(this.sql, "SELECT doc FROM session");
    return row ? JSON.parse(row.doc) : undefined;
  }

  private saveSession(s: SessionState): void {
    this.sql.exec("INSERT INTO session (id, doc) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", JSON.stringify(s));
  }

  /**
   * A new session: whatever the last one handed out and never got an answer for goes back to the
   * queue, so a dropped connection leaves its job resumable, never half-applied.
   */
  private startSession(message: SyncMLMessage, encoding: Encoding, contentType: string): SessionState {
    const previous = this.loadSession();
    if (previous) this.requeueUnanswered(previous);
    return {
      sessionId: message.header.sessionId,
      authenticated: false,
      failedAuth: 0,
      serverAuthAccepted: false,
      serverMsgId: 0,
      nextCmdId: 1,
      maxMsgSize: DEFAULT_CLIENT_MAX_MSG_SIZE,
      encoding,
      contentType,
      inFlight: {},
      answered: {},
      pending: [],
      sent: [],
      lastActivity: Date.now(),
      ended: false,
    };
  }

  private requeueUnanswered(s: SessionState): void {
    const jobs = new Map<string, Job>();
    for (const { jobId, path } of s.sent) {
      const job = jobs.get(jobId) ?? this.loadJob(jobId);
      if (!job) continue;
      jobs.set(jobId, job);
      const top = commandAt(job, path.slice(0, 1));
      // An Atomic or Sequence is all or nothing from the server's view: without its own status it is sent again whole.
      if (top && top.status === undefined) clearOutcome(top);
    }
    for (const job of jobs.values()) {
      if (job.state === "running" && job.commands.every((c) => c.status === undefined)) job.state = "queued";
      this.saveJob(job);
    }
  }

  async handleMessage(incoming: IncomingMessage, contentType: string): Promise<Outcome<OutgoingMessage>> {
    return outcome(() => this.tx(() => this.process(incoming, contentType)));
  }

  private process(incoming: IncomingMessage, contentType: string): OutgoingMessage {
    const account = this.requireAccount();
    const { message } = incoming;
    const hdr = message.header;
    let session = this.loadSession();
    if (!session || session.sessionId !== hdr.sessionId || session.ended || Date.now() - session.lastActivity > SESSION_IDLE_MS) {
      session = this.startSession(message, incoming.encoding, contentType);
    }
    session.lastActivity = Date.now();
    session.encoding = incoming.encoding;
    session.contentType = contentType;
    if (hdr.meta?.maxMsgSize) session.maxMsgSize = Math.max(2048, Math.min(hdr.meta.maxMsgSize, SERVER_MAX_MSG_SIZE));

    const statuses: Command[] = [];
    const cmdId = () => String(session!.nextCmdId++);
    const hdrStatus = (code: string, chal?: boolean): Status => ({
      kind: "Status",
      cmdId: cmdId(),
      msgRef: hdr.msgId,
      cmdRef: "0",
      cmd: "SyncHdr",
      targetRefs: [hdr.target.locURI],
      sourceRefs: [hdr.source.locURI],
      ...(chal ? { chal: { meta: { type: account.auth_type, format: "b64", ...(account.auth_type !== "syncml:auth-basic" ? { nextNonce: this.freshClientNonce() } : {}) } } } : {}),
      data: code,
    });

    // ---- authentication (OMA-TS-DM_Security-V1_2 §5.3, §5.4)
    if (!session.authenticated) {
      const verdict = this.authenticate(account, incoming);
      if (verdict !== "ok") {
        session.failedAuth++;
        const tooMany = session.failedAuth > MAX_FAILED_AUTH_PER_SESSION;
        statuses.push(hdrStatus(verdict === "missing" ? "407" : "401", !tooMany));
        if (tooMany) session.ended = true;
        this.saveSession(session);
        return this.respond(account, session, incoming, statuses, [], true);
      }
      session.authenticated = true;
      // 212: authenticated for the whole session; the Chal carries the nonce for the next one.
      statuses.push(hdrStatus("212", account.auth_type !== "syncml:auth-basic"));
    } else {
      if (account.auth_type === "syncml:auth-MAC" && this.authenticate(account, incoming) !== "ok") {
        statuses.push(hdrStatus("401", true));
        session.authenticated = false;
        this.saveSession(session);
        return this.respond(account, session, incoming, statuses, [], true);
      }
      statuses.push(hdrStatus("200"));
    }

    // ---- the client's commands
    let clientAbort = false;
    let nextMessageRequested = false;
    const commandStatus = (c: Command, code: string, extra: Partial<Status> = {}): void => {
      if ("noResp" in c && c.noResp) return;
      const item = "items" in c ? c.items?.[0] : undefined;
      statuses.push({
        kind: "Status",
        cmdId: cmdId(),
        msgRef: hdr.msgId,
        cmdRef: c.cmdId,
        cmd: c.kind,
        ...(item?.target ? { targetRefs: [item.target.locURI] } : {}),
        ...(item?.source ? { sourceRefs: [item.source.locURI] } : {}),
        data: code,
        ...extra,
      });
    };

    for (const c of message.body) {
      switch (c.kind) {
        case "Status":
          this.takeStatus(session, c);
          break;
        case "Results":
          commandStatus({ ...c, items: [] } as unknown as Command, this.takeResults(session, c.cmdRef, c.items, c.msgRef));
          break;
        case "Alert": {
          const code = c.data ?? "";
          if (code === "1201" || code === "1200") {
            if (code === "1200") this.consumeNotification(hdr.sessionId);
            commandStatus(c, "200");
          } else if (code === "1222") {
            nextMessageRequested = true;
            commandStatus(c, "200");
          } else if (code === "1223") {
            clientAbort = true;
            commandStatus(c, "200");
          } else if (code === "1226") {
            this.takeGenericAlert(c.correlator, c.items);
            commandStatus(c, "200");
          } else {
            commandStatus(c, "406");
          }
          break;
        }
        case "Replace":
        case "Add":
          // Package 1 carries DevInfo (and often DevDetail) as Replace: the server's view of the tree.
          for (const item of c.items) if (item.source || item.target) this.storeNode((item.source ?? item.target)!.locURI, item.data, item.meta?.format, item.meta?.type);
          commandStatus(c, "200");
          break;
        default:
          commandStatus(c, "406");
      }
    }

    if (clientAbort) {
      session.ended = true;
      this.requeueUnanswered(session);
      session.sent = [];
      this.saveSession(session);
      return this.respond(account, session, incoming, statuses, [], true);
    }

    // ---- the client's package is not complete, or a large object is still arriving: ask for more.
    // A message that itself asks for our next message (1222) continues our package instead, Final or not.
    const inbound = session.incomingObject !== undefined;
    if ((!message.final && !nextMessageRequested) || inbound) {
      const alert: Command = { kind: "Alert", cmdId: cmdId(), data: "1222", items: [{ target: { locURI: hdr.source.locURI }, source: { locURI: hdr.target.locURI } }] };
      this.saveSession(session);
      return this.respond(account, session, incoming, [...statuses, alert], [], false);
    }

    // ---- the server's package: what is left of it, the next chunk, or new commands from the job queue
    const commands: Command[] = [];
    if (session.outgoingObject) {
      const chunk = this.fittingChunk(account, session, incoming, statuses, cmdId);
      if (chunk) commands.push(chunk);
    } else if (session.pending.length) {
      commands.push(...session.pending);
      session.pending = [];
    } else if (Object.keys(session.inFlight).length === 0) {
      commands.push(...this.nextJobCommands(account, session, incoming, statuses, cmdId));
    }
    return this.respond(account, session, incoming, statuses, commands, true);
  }

  /** "ok", "missing" (407) or "wrong" (401). */
  private authenticate(account: NonNullable<ReturnType<DeviceObject["account"]>>, incoming: IncomingMessage): "ok" | "missing" | "wrong" {
    const cred = incoming.message.header.cred;
    const nonce = nonceFromNextNonce(account.client_nonce);
    if (account.auth_type === "syncml:auth-MAC") {
      if (!incoming.hmac) return "missing";
      try {
        const h = parseHmacHeader(incoming.hmac);
        if (h.username !== account.client_username) return "wrong";
        return verifyHmacHeader(incoming.hmac, { password: account.client_password, nonce, body: incoming.body }) ? "ok" : "wrong";
      } catch {
        return "wrong";
      }
    }
    if (!cred) return "missing";
    const type = cred.meta?.type ?? "syncml:auth-basic";
    if (type !== account.auth_type) return "wrong";
    if (type === "syncml:auth-basic") {
      try {
        const { username, password } = parseBasicCredential(cred.data);
        return constantTimeEqual(username, account.client_username) && constantTimeEqual(password, account.client_password) ? "ok" : "wrong";
      } catch {
        return "wrong";
      }
    }
    return verifyAuthMd5(cred.data, account.client_username, account.client_password, nonce) ? "ok" : "wrong";
  }

  /** A NextNonce never used before, for the client's next credentials. */
  private freshClientNonce(): string {
    const nonce = randomNonce();
    this.sql.exec("UPDATE account SET client_nonce = ?", nonce);
    return nonce;
  }

  private takeStatus(session: SessionState, st: Status): void {
    if (st.cmd === "SyncHdr") {
      // Mutual authentication: the device judged the server's credentials and may hand it a new nonce.
      if (st.chal?.meta.nextNonce) this.sql.exec("UPDATE account SET server_nonce = ?", st.chal.meta.nextNonce);
      if (st.data === "212" || st.data === "200") session.serverAuthAccepted = true;
      return;
    }
    const flight = session.inFlight[st.cmdRef];
    if (!flight) return;
    const job = this.loadJob(flight.jobId);
    const cmd = job && commandAt(job, flight.path);
    if (!job || !cmd) return;
    if (st.data === "213" && session.outgoingObject?.cmdId === st.cmdRef) {
      // A chunk accepted (large object): the next chunk goes in the next message.
      return;
    }
    delete session.inFlight[st.cmdRef];
    session.answered[st.cmdRef] = flight;
    if (session.outgoingObject?.cmdId === st.cmdRef) delete session.outgoingObject;
    cmd.status = st.data;
    if (cmd.kind === "Alert" && st.items?.length) cmd.response = st.items.map((i) => itemText(i.data).data);
    if (job.state === "queued") job.state = "running";
    this.saveJob(job);
  }

  /** Results for a Get (possibly a large object in chunks). Answers the status code for the Results command. */
  private takeResults(session: SessionState, cmdRef: string, items: Item[], _msgRef?: string): string {
    const flight = session.inFlight[cmdRef] ?? session.answered[cmdRef];
    for (const item of items) {
      const source = item.source?.locURI ?? item.target?.locURI ?? "";
      const text = itemText(item.data);
      let lo = session.incomingObject;
      if (item.moreData || (lo && lo.cmdRef === cmdRef && lo.source === source)) {
        if (!lo || lo.cmdRef !== cmdRef || lo.source !== source) {
          lo = { cmdRef, source, parts: [], received: 0, binary: item.data instanceof Uint8Array, ...(item.meta?.size !== undefined ? { size: item.meta.size } : {}), ...(item.meta?.format ? { format: item.meta.format } : {}), ...(item.meta?.type ? { type: item.meta.type } : {}) };
          if (flight) Object.assign(lo, { jobId: flight.jobId, path: flight.path });
        }
        lo.parts.push(text.data);
        lo.received += item.data instanceof Uint8Array ? item.data.length : valueSize(item.data ?? "");
        const received = lo.received;
        if (received > MAX_INCOMING_OBJECT) {
          delete session.incomingObject;
          return "413";
        }
        if (item.moreData) {
          session.incomingObject = lo;
          return "213";
        }
        // The last chunk: the whole object must have the size announced with the first (424 otherwise).
        delete session.incomingObject;
        if (lo.size !== undefined && received !== lo.size) return "424";
        const value = lo.binary ? base64(Uint8Array.from(lo.parts.flatMap((p) => [...atob(p)].map((ch) => ch.charCodeAt(0))))) : lo.parts.join("");
        this.storeResult(flight, { source, data: value, ...(lo.binary ? { format: "b64" } : lo.format ? { format: lo.format } : {}), ...(lo.type ? { type: lo.type } : {}) });
        continue;
      }
      this.storeResult(flight, { source, data: text.data, ...(text.format ? { format: text.format } : item.meta?.format ? { format: item.meta.format } : {}), ...(item.meta?.type ? { type: item.meta.type } : {}) });
    }
    return "200";
  }

  private storeResult(flight: InFlight | undefined, r: { source: string; data: string; format?: string; type?: string }): void {
    this.storeNode(r.source, r.data, r.format, r.type);
    if (!flight) return;
    const job = this.loadJob(flight.jobId);
    const cmd = job && commandAt(job, flight.path);
    if (!job || !cmd) return;
    cmd.results = [...(cmd.results ?? []), r];
    this.saveJob(job);
  }

  private storeNode(uri: string, data: ItemData | undefined, format?: string, type?: string): void {
    if (!uri) return;
    const text = itemText(data);
    this.sql.exec(
      "INSERT INTO tree (uri, value, format, type, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (uri) DO UPDATE SET value = excluded.value, format = excluded.format, type = excluded.type, updated_at = excluded.updated_at",
      normaliseUri(uri), text.data, text.format ?? format ?? null, type ?? null, Date.now(),
    );
  }

  /** 1226 Generic Alert (e.g. a firmware update's final result): kept, and attached to the job command with that correlator. */
  private takeGenericAlert(correlator: string | undefined, items: Item[]): void {
    const alerts: GenericAlert[] = items.map((i) => ({
      ...(i.meta?.type ? { type: i.meta.type } : {}),
      ...(i.meta?.format ? { format: i.meta.format } : {}),
      ...(i.source ? { source: i.source.locURI } : {}),
      ...(i.data !== undefined ? { data: itemText(i.data).data } : {}),
      receivedAt: new Date().toISOString(),
    }));
    this.sql.exec("INSERT INTO generic_alert (correlator, doc) VALUES (?, ?)", correlator ?? null, JSON.stringify(alerts));
    if (!correlator) return;
    for (const row of this.sql.exec<{ doc: string }>("SELECT doc FROM job ORDER BY seq DESC LIMIT 50").toArray()) {
      const job: Job = JSON.parse(row.doc);
      const hit = findCorrelated(job.commands, correlator);
      if (hit) {
        hit.alerts = [...(hit.alerts ?? []), ...alerts];
        this.saveJob(job);
        return;
      }
    }
  }

  private consumeNotification(sessionId: string): void {
    const num = parseInt(sessionId, 16);
    if (Number.isFinite(num)) this.sql.exec("UPDATE notification SET consumed_at = ? WHERE session_num = ? AND consumed_at IS NULL", Date.now(), num);
  }

  /** The oldest unfinished job's unanswered commands, in order. */
  private nextJobCommands(account: Account, session: SessionState, incoming: IncomingMessage, statuses: Command[], cmdId: () => string): Command[] {
    const rows = this.sql.exec<{ doc: string }>("SELECT doc FROM job WHERE state IN ('queued', 'running') ORDER BY seq").toArray();
    for (const row of rows) {
      const job: Job = JSON.parse(row.doc);
      const out: Command[] = [];
      for (const [i, c] of job.commands.entries()) {
        if (c.status !== undefined) continue;
        if ((c.kind === "Replace" || c.kind === "Add") && c.data !== undefined && valueSize(c.data) > session.maxMsgSize / 2) {
          // A large object: alone in its message, in chunks (OMA-TS-DM_Protocol §8.5).
          if (out.length) break;
          session.outgoingObject = { cmdId: "", jobId: job.jobId, path: [i], offset: 0 };
          const first = this.fittingChunk(account, session, incoming, statuses, cmdId);
          if (first) out.push(first);
          break;
        }
        out.push(toSyncML(c, [i], cmdId, (id, path) => (session.inFlight[id] = { jobId: job.jobId, path })));
        session.sent.push({ jobId: job.jobId, path: [i] });
      }
      if (out.length) {
        job.state = "running";
        this.saveJob(job);
        return out;
      }
      this.saveJob(job);
    }
    return [];
  }

  /**
   * The next chunk, as large as fits in this message beside its statuses under the device's
   * MaxMsgSize (XML escaping can make text longer than its bytes, so it shrinks until it fits).
   */
  private fittingChunk(account: Account, session: SessionState, incoming: IncomingMessage, statuses: Command[], cmdId: () => string): Command | undefined {
    const base = this.buildMessage(account, session, incoming, statuses, [], false).length;
    let budget = session.maxMsgSize - base - 256;
    for (let attempt = 0; attempt < 8; attempt++) {
      const snapshot = JSON.stringify({ lo: session.outgoingObject, inFlight: session.inFlight, sent: session.sent, next: session.nextCmdId });
      const chunk = this.nextChunk(session, cmdId, budget);
      if (!chunk || this.buildMessage(account, session, incoming, statuses, [chunk], false).length <= session.maxMsgSize) return chunk;
      const saved = JSON.parse(snapshot);
      session.outgoingObject = saved.lo;
      session.inFlight = saved.inFlight;
      session.sent = saved.sent;
      session.nextCmdId = saved.next;
      budget = Math.floor(budget * 0.7);
    }
    throw new ApiError(500, "SVC0001", ["no chunk of the large object fits in the device's MaxMsgSize"]);
  }

  /** The next chunk of the large object being sent: Meta Size on the first, MoreData on all but the last. */
  private nextChunk(session: SessionState, cmdId: () => string, budgetBytes: number): Command | undefined {
    const lo = session.outgoingObject;
    if (!lo) return undefined;
    const job = this.loadJob(lo.jobId);
    const cmd = job && commandAt(job, lo.path);
    if (!job || !cmd || cmd.data === undefined) {
      delete session.outgoingObject;
      return undefined;
    }
    const bytes = new TextEncoder().encode(cmd.data);
    const budget = Math.max(64, budgetBytes);
    let end = Math.min(bytes.length, lo.offset + budget);
    // Never split a UTF-8 sequence.
    while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80) end--;
    const chunk = new TextDecoder().decode(bytes.subarray(lo.offset, end));
    const more = end < bytes.length;
    const command = toSyncML(cmd, lo.path, cmdId, (id, path) => (session.inFlight[id] = { jobId: job.jobId, path }), {
      chunk,
      ...(lo.offset === 0 ? { size: bytes.length } : {}),
      more,
    });
    // Earlier chunks' CmdIDs are done with once acknowledged (213); only the latest stays in flight.
    if (lo.cmdId && session.inFlight[lo.cmdId] && lo.cmdId !== command.cmdId) delete session.inFlight[lo.cmdId];
    lo.cmdId = command.cmdId;
    lo.offset = end;
    if (!more) delete session.outgoingObject;
    else session.outgoingObject = lo;
    if (!session.sent.some((s) => s.jobId === job.jobId && s.path[0] === lo.path[0])) session.sent.push({ jobId: job.jobId, path: lo.path });
    if (job.state === "queued") {
      job.state = "running";
      this.saveJob(job);
    }
    return command;
  }

  /**
   * Encodes the answer within the device's MaxMsgSize: commands that do not fit wait for the next
   * message (no Final until the last, §8.2), the device asks for them with Alert 1222.
   */
  private respond(
    account: NonNullable<ReturnType<DeviceObject["account"]>>,
    session: SessionState,
    incoming: IncomingMessage,
    statuses: Command[],
    commands: Command[],
    final: boolean,
  ): OutgoingMessage {
    session.serverMsgId++;
    // The nonce the device may have handed over in this very message (its Status for our SyncHdr).
    const serverNonce = nonceFromNextNonce(this.account()!.server_nonce);
    const build = (cmds: Command[], isFinal: boolean) => this.buildMessage(account, session, incoming, [...statuses], cmds, isFinal, serverNonce);
    let send = commands;
    let body = build(send, final);
    while (body.length > session.maxMsgSize && send.length > 0) {
      send = send.slice(0, -1);
      body = build(send, false);
    }
    const leftover = commands.slice(send.length);
    if (leftover.length) {
      if (send.length === 0) throw new ApiError(500, "SVC0001", ["a single command does not fit in the device's MaxMsgSize"]);
      session.pending = [...leftover, ...session.pending];
    }
    if (session.authenticated && final && leftover.length === 0 && !session.outgoingObject && commands.length === 0 && Object.keys(session.inFlight).length === 0) {
      // Nothing more to say and nothing awaited: the session ends with this message (§8.3).
      session.ended = true;
      session.sent = [];
    }
    if (session.outgoingObject) body = build(send, false);
    this.saveSession(session);
    const headers: Record<string, string> = { "Content-Type": session.contentType };
    if (account.auth_type === "syncml:auth-MAC") headers["x-syncml-hmac"] = hmacHeader({ username: account.server_id, password: account.server_password, nonce: serverNonce, body });
    return { body, headers };
  }

  /** The encoded message the server sends next (the MsgID it will carry is the next one). */
  private buildMessage(account: Account, session: SessionState, incoming: IncomingMessage, statuses: Command[], cmds: Command[], isFinal: boolean, serverNonce?: Uint8Array): Uint8Array {
    const hdr = incoming.message.header;
    const nonce = serverNonce ?? nonceFromNextNonce(this.account()!.server_nonce);
    const message: SyncMLMessage = {
      header: {
        verDTD: "1.2",
        verProto: "DM/1.2",
        sessionId: hdr.sessionId,
        msgId: String(serverNonce ? session.serverMsgId : session.serverMsgId + 1),
        target: { locURI: hdr.source.locURI },
        source: { locURI: hdr.target.locURI },
        respURI: incoming.respUri,
        ...(account.auth_type !== "syncml:auth-MAC" && !session.serverAuthAccepted
          ? { cred: { meta: { type: "syncml:auth-md5", format: "b64" }, data: authMd5Digest(account.server_id, account.server_password, nonce) } }
          : {}),
        meta: { maxMsgSize: SERVER_MAX_MSG_SIZE, maxObjSize: MAX_INCOMING_OBJECT },
      },
      body: [...statuses, ...cmds],
      ...(isFinal ? { final: true } : {}),
    };
    return encodeMessage(message, incoming.encoding);
  }

  /** Test and diagnostics: the package 0 of a notification, decoded. */
  async decodeNotification(id: string) {
    const row = one<{ package0: string }>(this.sql, "SELECT package0 FROM notification WHERE id = ?", id);
    return row ? decodePackage0(Uint8Array.from(atob(row.package0), (c) => c.charCodeAt(0))) : undefined;
  }
}

function clearOutcome(c: Job["commands"][number]): void {
  delete c.status;
  delete c.results;
  delete c.response;
  for (const child of c.children ?? []) clearOutcome(child);
}

function findCorrelated(commands: Job["commands"], correlator: string): Job["commands"][number] | undefined {
  for (const c of commands) {
    if (c.correlator === correlator) return c;
    const inner = c.children && findCorrelated(c.children, correlator);
    if (inner) return inner;
  }
  return undefined;
}

/** "./DevInfo/Mod" and "DevInfo/Mod" name the same node. */
function normaliseUri(uri: string): string {
  return uri.startsWith("./") || uri.startsWith("/") ? uri : `./${uri}`;
}


