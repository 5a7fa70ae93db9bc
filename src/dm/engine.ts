// The SyncML DM 1.2 session engine (OMA-TS-DM_Protocol-V1_2 §8): one client message in, one server
// message out. It owns no storage and no clock of its own: the Durable Object hands it the session
// it loaded, the device's authentication state and a DevicePort over its tables, and stores the
// session it gets back, all inside one transaction. That makes every rule here testable on Node
// (test/dm/engine/).
//
// One reply is built in three steps: the verdict on the client's credentials (./security.ts), the
// Status for each of the client's commands, then the server's commands: what the device refused
// to take from an unauthenticated server, the next chunk of a large object (./large-object.ts),
// the rest of a package that did not fit, or as many queued jobs as fit (./job-model.ts). Sizes are
// measured once per command, never by re-encoding the message per dropped command.
import { encodeMessage, nonceFromNextNonce, type Command, type Encoding, type Item, type Status, type SyncMLMessage } from "../codec";
import { commandAt, isFinished, type CommandPath, type GenericAlert, type Job, type JobCommand, type JobStore } from "./job-model";
import { addChunk, chunkEnd, finishIncoming, MAX_INCOMING_OBJECT, startIncoming, type IncomingObject, type OutgoingObject } from "./large-object";
import { randomNonce, serverCred, serverHmac, verifyClient, type AuthType, type ClientAuth, type ServerAuth } from "./security";
import { itemBytes, itemText, toSyncML, valueSize } from "./syncml-commands";

/** The server's own limit on what it accepts in one message (announced as MaxMsgSize). */
export const SERVER_MAX_MSG_SIZE = 512 * 1024;
const DEFAULT_CLIENT_MAX_MSG_SIZE = 64 * 1024;
const MIN_CLIENT_MAX_MSG_SIZE = 2048;
/** A device that refuses the server's credentials this often in a session fails the refused commands. */
export const MAX_SERVER_AUTH_FAILURES = 5;
/** Margin under MaxMsgSize for what per-command measuring cannot see (CmdID digits, Final). */
const SIZE_MARGIN = 24;

interface InFlight {
  jobId: string;
  path: CommandPath;
  /** The server message that carried it. */
  msgId: number;
  /** For a chunk of a large object: where it starts and whether more follow. */
  chunk?: { start: number; more: boolean; index: number };
}

interface Ref {
  jobId: string;
  path: CommandPath;
}

/** What the object keeps between the messages of one authenticated session. */
export interface SessionState {
  /** The job model's key for this session ("syncml:" + the RespURI secret's hash). */
  key: string;
  /** Hex SHA-256 of the RespURI secret: a continuation must present the secret itself. */
  secretHash: string;
  respUri: string;
  sessionId: string;
  serverMsgId: number;
  nextCmdId: number;
  maxMsgSize: number;
  maxObjSize?: number;
  encoding: Encoding;
  contentType: string;
  serverAuthAccepted: boolean;
  serverAuthFailures: number;
  /** CmdID → job command, for the commands the device has not answered yet. */
  inFlight: Record<string, InFlight>;
  /** CmdID → job command, answered with a Status; their Results may still be on the way (in chunks). */
  answered: Record<string, InFlight>;
  /** The rest of the server's package: commands that did not fit in the last message. */
  queue: Ref[];
  /** Commands the device refused to execute because it did not accept the server's credentials. */
  resend: Ref[];
  outgoingObject?: OutgoingObject;
  incomingObject?: IncomingObject;
  lastActivity: number;
  ended: boolean;
}

/** The device's tables, as the engine needs them. */
export interface DevicePort {
  storeNode(uri: string, value: string, format?: string, type?: string): void;
  node(uri: string): string | undefined;
  genericAlert(correlator: string | undefined, alerts: GenericAlert[]): void;
  consumeNotification(sessionId: string): void;
  /** A NextNonce never used before, for the client's next credentials (the current one is kept as the previous). */
  freshClientNonce(): string;
  /** The device's Chal for the server's credentials: the type and nonce to use from now on. */
  serverChallenge(type: AuthType | undefined, nextNonce: string | undefined): void;
  /** A wrong guess; true when this one started a lock-out. */
  authFailed(): boolean;
  authSucceeded(): void;
}

export interface EngineInput {
  now: number;
  message: SyncMLMessage;
  body: Uint8Array;
  encoding: Encoding;
  contentType: string;
  hmac?: string;
  /** The live session this message continues (it came to the session's RespURI with its secret), or none: a new session. */
  session?: SessionState;
  /** The session the device had before (released when a new one authenticates). */
  previousKey?: string;
  /** For a new session: its key, secret hash and RespURI. */
  fresh: { key: string; secretHash: string; respUri: string };
  /** Where an unauthenticated client sends its next try: the plain endpoint (a new session again). */
  entryUri: string;
  client: ClientAuth;
  locked: boolean;
  server: ServerAuth;
}

export interface EngineOutput {
  body: Uint8Array;
  headers: Record<string, string>;
  /** The session to store; none when nothing authenticated happened. */
  session?: SessionState;
}

export interface Ports {
  jobs: JobStore;
  device: DevicePort;
}

/** One client message in, one server message out. */
export function reply(input: EngineInput, ports: Ports): EngineOutput {
  return new Turn(input, ports).run();
}

class Turn {
  private readonly hdr: SyncMLMessage["header"];
  private readonly statuses: Command[] = [];
  private readonly s: SessionState;
  private readonly server: ServerAuth;
  private readonly isNew: boolean;

  constructor(private readonly in_: EngineInput, private readonly p: Ports) {
    this.hdr = in_.message.header;
    this.isNew = !in_.session;
    this.server = { ...in_.server };
    this.s = in_.session ?? {
      key: in_.fresh.key,
      secretHash: in_.fresh.secretHash,
      respUri: in_.fresh.respUri,
      sessionId: this.hdr.sessionId,
      // One server message answers each client message, so a session that starts at the client's
      // MsgID n (a retry after a challenge) answers with n as well.
      serverMsgId: Math.max(0, (Number.parseInt(this.hdr.msgId, 10) || 1) - 1),
      nextCmdId: 1,
      maxMsgSize: DEFAULT_CLIENT_MAX_MSG_SIZE,
      encoding: in_.encoding,
      contentType: in_.contentType,
      serverAuthAccepted: false,
      serverAuthFailures: 0,
      inFlight: {},
      answered: {},
      queue: [],
      resend: [],
      lastActivity: in_.now,
      ended: false,
    };
    const s = this.s;
    s.lastActivity = in_.now;
    s.encoding = in_.encoding;
    s.contentType = in_.contentType;
    const meta = this.hdr.meta;
    if (meta?.maxMsgSize) s.maxMsgSize = Math.max(MIN_CLIENT_MAX_MSG_SIZE, Math.min(meta.maxMsgSize, SERVER_MAX_MSG_SIZE));
    if (meta?.maxObjSize) s.maxObjSize = meta.maxObjSize;
  }

  private cmdId = (): string => String(this.s.nextCmdId++);

  run(): EngineOutput {
    const s = this.s;
    // ---- the client's credentials (OMA-TS-DM_Security-V1_2 §5.3, §5.4): a new session always
    // authenticates; MAC authenticates every message.
    if (this.isNew || this.in_.client.authType === "syncml:auth-MAC") {
      const refused = this.authenticate();
      if (refused) return refused;
    } else this.statuses.push(this.hdrStatus("200"));

    const flow = this.clientCommands();
    if (flow === "abort") {
      s.ended = true;
      this.p.jobs.release(s.key);
      return this.send([], true);
    }
    if (flow === "more") {
      const alert: Command = { kind: "Alert", cmdId: this.cmdId(), data: "1222", items: [{ target: { locURI: this.hdr.source.locURI }, source: { locURI: this.hdr.target.locURI } }] };
      this.statuses.push(alert);
      return this.send([], false);
    }
    return this.serverPackage();
  }

  // ------------------------------------------------------------------ authentication

  private hdrStatus(code: string, chal?: "chal"): Status {
    const type = this.in_.client.authType;
    return {
      kind: "Status",
      cmdId: this.cmdId(),
      msgRef: this.hdr.msgId,
      cmdRef: "0",
      cmd: "SyncHdr",
      targetRefs: [this.hdr.target.locURI],
      sourceRefs: [this.hdr.source.locURI],
      ...(chal ? { chal: { meta: { type, format: "b64", ...(type !== "syncml:auth-basic" ? { nextNonce: this.p.device.freshClientNonce() } : {}) } } } : {}),
      data: code,
    };
  }

  /** Undefined when the client is authenticated; otherwise the refusal to send. */
  private authenticate(): EngineOutput | undefined {
    const verdict = this.in_.locked ? "locked" : verifyClient(this.in_.client, { ...(this.hdr.cred ? { cred: this.hdr.cred } : {}), ...(this.in_.hmac ? { hmac: this.in_.hmac } : {}), body: this.in_.body });
    if (verdict === "ok") {
      this.p.device.authSucceeded();
      if (this.isNew) {
        if (this.in_.previousKey) this.p.jobs.release(this.in_.previousKey);
        // 212: authenticated for the whole session; the Chal carries the nonce for the next one.
        this.statuses.push(this.hdrStatus("212", this.in_.client.authType !== "syncml:auth-basic" ? "chal" : undefined));
      } else this.statuses.push(this.hdrStatus("200"));
      return undefined;
    }
    const code = verdict === "missing" ? "407" : "401";
    const lockedNow = verdict === "wrong" ? this.p.device.authFailed() : false;
    // No Chal while locked out: there is nothing the device can do but wait.
    this.statuses.push(this.hdrStatus(code, this.in_.locked || lockedNow ? undefined : "chal"));
    // Every command of a refused message gets its Status (SyncML RepPro: each command that expects one):
    // not executed, for want of authentication.
    for (const c of this.in_.message.body) if (c.kind !== "Status" && !("noResp" in c && c.noResp)) this.statuses.push(this.statusFor(c, code));
    if (this.isNew) {
      // Nothing is kept of a session that never authenticated: the next try is a new package 1 at the entry URI.
      return { ...this.encode([], true, this.in_.entryUri), session: undefined };
    }
    return this.send([], true);
  }

  // ------------------------------------------------------------------ the client's commands

  private statusFor(c: Command, code: string, extra: Partial<Status> = {}): Status {
    const item = "items" in c ? c.items?.[0] : undefined;
    return {
      kind: "Status",
      cmdId: this.cmdId(),
      msgRef: this.hdr.msgId,
      cmdRef: c.cmdId,
      cmd: c.kind,
      ...(c.kind !== "Results" && item?.target ? { targetRefs: [item.target.locURI] } : {}),
      ...(c.kind !== "Results" && item?.source ? { sourceRefs: [item.source.locURI] } : {}),
      data: code,
      ...extra,
    };
  }

  private answer(c: Command, code: string): void {
    if ("noResp" in c && c.noResp) return;
    this.statuses.push(this.statusFor(c, code));
  }

  /** "abort" (Alert 1223), "more" (the client's package goes on, or a large object is arriving) or "go". */
  private clientCommands(): "abort" | "more" | "go" {
    const { message } = this.in_;
    let abort = false;
    let nextRequested = false;
    let hdrAnswered = false;
    for (const c of message.body) {
      switch (c.kind) {
        case "Status":
          if (c.cmd === "SyncHdr") hdrAnswered = true;
          this.takeStatus(c);
          break;
        case "Results":
          this.answer(c, this.takeResults(c.cmdRef, c.items));
          break;
        case "Alert": {
          const code = c.data ?? "";
          if (code === "1201" || code === "1200") {
            if (code === "1200") this.p.device.consumeNotification(this.hdr.sessionId);
            this.answer(c, "200");
          } else if (code === "1222") {
            nextRequested = true;
            this.answer(c, "200");
          } else if (code === "1223") {
            abort = true;
            this.answer(c, "200");
          } else if (code === "1226") {
            this.p.device.genericAlert(c.correlator, c.items.map(genericAlert(this.in_.now)));
            this.answer(c, "200");
          } else this.answer(c, "406");
          break;
        }
        case "Replace":
        case "Add":
          // Package 1 carries DevInfo (and often DevDetail) as Replace: the server's view of the tree.
          for (const item of c.items) {
            const uri = (item.source ?? item.target)?.locURI;
            if (!uri) continue;
            const v = itemText(item.data, item.meta?.format ?? c.meta?.format);
            this.p.device.storeNode(uri, v.data, v.format, item.meta?.type ?? c.meta?.type);
          }
          this.answer(c, "200");
          break;
        default:
          this.answer(c, "406");
      }
    }
    if (abort) return "abort";
    if (message.final && hdrAnswered) this.unansweredAtFinal();
    // A message that itself asks for our next message (1222) continues our package instead, Final or not.
    if ((!message.final && !nextRequested) || this.s.incomingObject) return "more";
    return "go";
  }

  /**
   * The client's package is complete and answered our last message: a command of ours still without
   * a Status will not get one in this session (some clients send none for an Atomic). It stops
   * holding the queue; the job model sends it again in the next session, up to the attempt limit.
   */
  private unansweredAtFinal(): void {
    const s = this.s;
    for (const id of Object.keys(s.inFlight)) {
      if (s.outgoingObject && s.inFlight[id]!.chunk?.more) continue;
      delete s.inFlight[id];
    }
  }

  private takeStatus(st: Status): void {
    const s = this.s;
    if (st.cmd === "SyncHdr") {
      // Mutual authentication: the device judged the server's credentials and may challenge them.
      const chal = st.chal?.meta;
      if (chal && (chal.nextNonce !== undefined || chal.type)) {
        this.p.device.serverChallenge(chal.type as AuthType | undefined, chal.nextNonce);
        if (chal.type && this.server.type !== "syncml:auth-MAC") this.server.type = chal.type as AuthType;
        if (chal.nextNonce !== undefined) this.server.nonce = safeNonce(chal.nextNonce);
      }
      if (st.data === "212" || st.data === "200") s.serverAuthAccepted = true;
      else if (st.data === "401" || st.data === "407") this.serverRefused(Number.parseInt(st.msgRef, 10));
      return;
    }
    const flight = s.inFlight[st.cmdRef];
    if (!flight) return;
    if (st.data === "401" || st.data === "407") {
      // Not executed: the device did not accept the server's credentials. Sent again, never recorded.
      if (!s.serverAuthAccepted) return;
    }
    const job = this.p.jobs.find(flight.jobId);
    const cmd = job && commandAt(job, flight.path);
    if (!job || !cmd) {
      delete s.inFlight[st.cmdRef];
      return;
    }
    if (flight.chunk) {
      if (flight.chunk.more && st.data === "213") return; // a chunk taken: the next one goes in the next message
      delete s.inFlight[st.cmdRef];
      delete s.outgoingObject;
      if (flight.chunk.more) {
        this.p.jobs.record(flight.jobId, flight.path, {
          status: st.data,
          error: `the device answered ${st.data} to chunk ${flight.chunk.index} of the large object (213 expected): it did not take the rest, so the value is incomplete`,
        });
        return;
      }
    } else delete s.inFlight[st.cmdRef];
    s.answered[st.cmdRef] = flight;
    const response = cmd.kind === "Alert" && st.items?.length ? st.items.map((i) => itemText(i.data).data) : undefined;
    this.p.jobs.record(flight.jobId, flight.path, { status: st.data, ...(response ? { response } : {}) });
  }

  /**
   * The device refused the server's credentials for message `msgRef`: whatever that message carried
   * was not executed. It goes out again with credentials as the device challenged, and nothing new
   * goes out until the device accepts them; after {@link MAX_SERVER_AUTH_FAILURES} the commands fail.
   */
  private serverRefused(msgRef: number): void {
    const s = this.s;
    s.serverAuthAccepted = false;
    s.serverAuthFailures += 1;
    const refused: [string, InFlight][] = Object.entries(s.inFlight).filter(([, f]) => !Number.isFinite(msgRef) || f.msgId === msgRef);
    for (const [id, f] of refused) {
      delete s.inFlight[id];
      if (s.serverAuthFailures >= MAX_SERVER_AUTH_FAILURES) {
        this.p.jobs.record(f.jobId, f.path, { status: "401", error: `the device refused the server's credentials ${s.serverAuthFailures} times` });
        continue;
      }
      if (f.chunk && s.outgoingObject && s.outgoingObject.jobId === f.jobId) {
        s.outgoingObject.offset = f.chunk.start; // the refused chunk goes again
        s.outgoingObject.sent = f.chunk.index - 1;
        continue;
      }
      // Inside an Atomic/Sequence the whole top-level command goes again.
      const top = f.path.slice(0, 1);
      if (!s.resend.some((r) => r.jobId === f.jobId && r.path[0] === top[0])) s.resend.push({ jobId: f.jobId, path: top });
    }
    if (s.serverAuthFailures >= MAX_SERVER_AUTH_FAILURES) {
      s.resend = [];
      delete s.outgoingObject;
    }
    // Children of a refused Atomic/Sequence are in flight under their own CmdIDs: gone with their parent.
    for (const [id, f] of Object.entries(s.inFlight)) if (s.resend.some((r) => r.jobId === f.jobId && r.path[0] === f.path[0])) delete s.inFlight[id];
  }

  /** Results for a Get (possibly a large object in chunks). Answers the status code for the Results command. */
  private takeResults(cmdRef: string, items: Item[]): string {
    const s = this.s;
    const flight = s.inFlight[cmdRef] ?? s.answered[cmdRef];
    for (const item of items) {
      const source = item.source?.locURI ?? item.target?.locURI ?? "";
      let lo = s.incomingObject;
      const continues = lo && lo.cmdRef === cmdRef && lo.source === source;
      if (item.moreData || continues) {
        if (!continues) lo = startIncoming(cmdRef, source, item.meta, flight);
        if (addChunk(lo!, itemBytes(item.data)) === "413") {
          delete s.incomingObject;
          return "413";
        }
        if (item.moreData) {
          s.incomingObject = lo;
          return "213";
        }
        delete s.incomingObject;
        const whole = finishIncoming(lo!);
        if (whole === "424") return "424";
        this.storeResult(flight, { source, ...whole, ...(lo!.type ? { type: lo!.type } : {}) });
        continue;
      }
      const v = itemText(item.data, item.meta?.format);
      this.storeResult(flight, { source, data: v.data, ...(v.format ? { format: v.format } : {}), ...(item.meta?.type ? { type: item.meta.type } : {}) });
    }
    return "200";
  }

  private storeResult(flight: InFlight | undefined, r: { source: string; data: string; format?: string; type?: string }): void {
    if (r.source) this.p.device.storeNode(r.source, r.data, r.format, r.type);
    if (flight) this.p.jobs.record(flight.jobId, flight.path, { results: [r] });
  }

  // ------------------------------------------------------------------ the server's package

  private serverPackage(): EngineOutput {
    const s = this.s;
    if (s.serverAuthFailures >= MAX_SERVER_AUTH_FAILURES) {
      // The device never accepted the server: the refused commands failed; nothing more goes out.
      s.ended = true;
      this.p.jobs.release(s.key);
      return this.send([], true);
    }
    const m = new Measure(this, s.maxMsgSize);
    const out: Command[] = [];
    const room = () => m.budget - m.used;
    /** Adds a built command if it fits; false otherwise (its CmdIDs are given back). */
    const place = (cmd: Command): boolean => {
      const size = m.size([cmd]);
      if (size > room()) {
        this.forget(cmd);
        return false;
      }
      m.used += size;
      out.push(cmd);
      return true;
    };
    const tooLarge = (jobId: string, path: CommandPath) =>
      this.p.jobs.record(jobId, path, { error: `the command does not fit in one message under the device's MaxMsgSize ${s.maxMsgSize}` });

    // 1. what the device refused for want of server credentials, then 2. the rest of the package
    let full = false;
    for (const list of [s.resend, s.queue]) {
      while (!full && list.length) {
        const ref = list[0]!;
        const job = this.p.jobs.find(ref.jobId);
        const cmd = job && !isFinished(job) ? commandAt(job, ref.path) : undefined;
        if (!job || !cmd) {
          list.shift();
          continue;
        }
        const built = this.build(job, cmd, ref.path, out.length === 0, room);
        if (built === "full") break;
        list.shift();
        if (built === "refused") continue;
        if (built === "chunk") {
          const chunk = this.nextChunk(m);
          if (chunk) out.push(chunk);
          full = true;
          continue;
        }
        if (place(built)) this.p.jobs.markSent(s.key, job, [ref.path[0]!]);
        else if (out.length === 0) tooLarge(ref.jobId, ref.path);
        else {
          list.unshift(ref);
          full = true;
        }
      }
      if (list.length) full = true;
    }
    // 3. the next chunk of a large object: alone in its message
    if (!full && s.outgoingObject) {
      if (out.length === 0) {
        const chunk = this.nextChunk(m);
        if (chunk) out.push(chunk);
      }
      full = true;
    }

    // 4. new jobs in queue order, each job's commands together, as many jobs as fit; only once
    // everything sent so far is answered and the device has not refused the server's credentials
    const refusedServer = s.serverAuthFailures > 0 && !s.serverAuthAccepted;
    if (!full && !refusedServer && Object.keys(s.inFlight).length === 0) {
      for (const { job, commands } of this.p.jobs.pending(s.key)) {
        const mark = { len: out.length, used: m.used, cmdId: s.nextCmdId };
        const placed: number[] = [];
        let stop: "overflow" | "chunk" | undefined;
        let at = 0;
        for (; at < commands.length; at++) {
          const { path, command } = commands[at]!;
          const built = this.build(job, command, path, out.length === 0, room);
          if (built === "refused") continue;
          if (built === "full") {
            stop = "overflow";
            break;
          }
          if (built === "chunk") {
            stop = "chunk";
            break;
          }
          if (!place(built)) {
            if (out.length === 0) {
              tooLarge(job.jobId, path);
              continue;
            }
            stop = "overflow";
            break;
          }
          placed.push(path[0]!);
        }
        if (stop === "overflow" && mark.len > 0) {
          // This job does not fit beside the jobs already in the message: it starts the next package.
          for (const c of out.splice(mark.len)) this.forget(c);
          m.used = mark.used;
          s.nextCmdId = mark.cmdId;
          break;
        }
        const fresh = this.p.jobs.find(job.jobId) ?? job;
        if (placed.length) this.p.jobs.markSent(s.key, fresh, placed);
        if (stop === "chunk") {
          const chunk = this.nextChunk(m);
          if (chunk) out.push(chunk);
          at += 1;
        }
        if (stop) {
          // One job larger than a message: the rest of its commands continue the package (no Final until the last).
          s.queue.push(...commands.slice(at).map(({ path }) => ({ jobId: job.jobId, path })));
          break;
        }
      }
    }

    const final = !s.queue.length && !s.resend.length && !s.outgoingObject;
    if (final && out.length === 0 && Object.keys(s.inFlight).length === 0) {
      // Nothing more to say and nothing awaited: the session ends with this message (§8.3).
      s.ended = true;
      this.p.jobs.release(s.key);
    }
    return this.send(out, final);
  }

  /**
   * A job command as a SyncML command, or: "chunk" (a large object started: its first chunk goes
   * out), "refused" (it cannot go to this device; recorded on the job), "full" (it waits for a
   * message of its own).
   */
  private build(job: Job, cmd: JobCommand, path: CommandPath, alone: boolean, room: () => number): Command | "chunk" | "refused" | "full" {
    const s = this.s;
    if ((cmd.kind === "Replace" || cmd.kind === "Add") && cmd.data !== undefined) {
      const size = valueSize(cmd.data);
      if (size > room() || size > s.maxMsgSize / 2) {
        const why = this.largeObjectRefusal(size);
        if (why) {
          this.p.jobs.record(job.jobId, path, { error: why });
          return "refused";
        }
        if (!alone) return "full";
        s.outgoingObject = { jobId: job.jobId, path, offset: 0, total: size, sent: 0 };
        return "chunk";
      }
    }
    return toSyncML(cmd, path, this.cmdId, (id, p) => (s.inFlight[id] = { jobId: job.jobId, path: p, msgId: s.serverMsgId + 1 }));
  }

  /** Why a value of `size` bytes cannot go to this device, or undefined. */
  private largeObjectRefusal(size: number): string | undefined {
    const s = this.s;
    if (s.maxObjSize !== undefined && size > s.maxObjSize) return `the value is ${size} bytes, over the device's MaxObjSize ${s.maxObjSize}`;
    const lrgObj = this.p.device.node("./DevDetail/LrgObj");
    if (s.maxObjSize === undefined && lrgObj !== undefined && lrgObj.trim().toLowerCase() === "false") {
      return `the value is ${size} bytes, over the device's MaxMsgSize ${s.maxMsgSize}, and the device supports no large objects (DevDetail/LrgObj false, no MaxObjSize)`;
    }
    return undefined;
  }

  /** Takes back the CmdIDs a built command claimed (it did not fit). */
  private forget(cmd: Command): void {
    const ids: string[] = [];
    const walk = (c: Command) => {
      ids.push(c.cmdId);
      if (c.kind === "Atomic" || c.kind === "Sequence") c.commands.forEach(walk);
    };
    walk(cmd);
    for (const id of ids) delete this.s.inFlight[id];
  }

  /** The next chunk of the large object, as large as fits in this message beside everything else. */
  private nextChunk(m: Measure): Command | undefined {
    const s = this.s;
    const lo = s.outgoingObject!;
    const job = this.p.jobs.find(lo.jobId);
    const cmd = job && !isFinished(job) ? commandAt(job, lo.path) : undefined;
    if (!job || !cmd || cmd.data === undefined) {
      delete s.outgoingObject;
      return undefined;
    }
    const bytes = new TextEncoder().encode(cmd.data);
    const cmdId = this.cmdId();
    const probe = (chunk: string, more: boolean) =>
      toSyncML(cmd, lo.path, () => cmdId, () => {}, { chunk, ...(lo.offset === 0 ? { size: bytes.length } : {}), more });
    const overhead = m.size([probe("", true)]);
    const end = chunkEnd(bytes, lo.offset, m.budget - m.used - overhead, s.encoding);
    const more = end < bytes.length;
    const command = probe(new TextDecoder().decode(bytes.subarray(lo.offset, end)), more);
    lo.sent += 1;
    // Earlier chunks' CmdIDs are done with once acknowledged (213); only the latest stays in flight.
    for (const [id, f] of Object.entries(s.inFlight)) if (f.chunk && f.jobId === lo.jobId) delete s.inFlight[id];
    s.inFlight[cmdId] = { jobId: lo.jobId, path: lo.path, msgId: s.serverMsgId + 1, chunk: { start: lo.offset, more, index: lo.sent } };
    m.used += m.size([command]);
    lo.offset = end;
    if (!more) delete s.outgoingObject;
    if (lo.sent === 1) this.p.jobs.markSent(s.key, job, [lo.path[0]!]);
    return command;
  }

  // ------------------------------------------------------------------ encoding

  header(respUri: string, forMsgId: number): SyncMLMessage["header"] {
    const cred = this.s.serverAuthAccepted ? undefined : serverCred(this.server);
    return {
      verDTD: "1.2",
      verProto: "DM/1.2",
      sessionId: this.hdr.sessionId,
      msgId: String(forMsgId),
      target: { locURI: this.hdr.source.locURI },
      source: { locURI: this.hdr.target.locURI },
      respURI: respUri,
      ...(cred ? { cred } : {}),
      meta: { maxMsgSize: SERVER_MAX_MSG_SIZE, maxObjSize: MAX_INCOMING_OBJECT },
    };
  }

  get encoding(): Encoding {
    return this.s.encoding;
  }

  get statusList(): Command[] {
    return this.statuses;
  }

  get respUri(): string {
    return this.s.respUri;
  }

  get nextMsgId(): number {
    return this.s.serverMsgId + 1;
  }

  private send(commands: Command[], final: boolean): EngineOutput {
    return { ...this.encode(commands, final, this.s.respUri), session: this.s };
  }

  private encode(commands: Command[], final: boolean, respUri: string): Omit<EngineOutput, "session"> {
    const s = this.s;
    s.serverMsgId += 1;
    const message: SyncMLMessage = { header: this.header(respUri, s.serverMsgId), body: [...this.statuses, ...commands], ...(final ? { final: true } : {}) };
    const body = encodeMessage(message, s.encoding);
    const headers: Record<string, string> = { "Content-Type": s.contentType };
    if (this.server.type === "syncml:auth-MAC") headers["x-syncml-hmac"] = serverHmac(this.server, body);
    return { body, headers };
  }
}

/** Sizes measured once per command: the message without commands, then each command on its own. */
class Measure {
  readonly budget: number;
  used = 0;
  private readonly empty: number;
  private readonly header: SyncMLMessage["header"];

  constructor(private readonly t: Turn, maxMsgSize: number) {
    this.header = t.header(t.respUri, t.nextMsgId);
    this.empty = encodeMessage({ header: this.header, body: [], final: true }, t.encoding).length;
    const base = encodeMessage({ header: this.header, body: t.statusList, final: true }, t.encoding).length;
    this.budget = maxMsgSize - base - SIZE_MARGIN;
  }

  size(cmds: Command[]): number {
    return encodeMessage({ header: this.header, body: cmds, final: true }, this.t.encoding).length - this.empty;
  }
}

function safeNonce(nextNonce: string): Uint8Array {
  try {
    return nonceFromNextNonce(nextNonce);
  } catch {
    return new Uint8Array(0);
  }
}

function genericAlert(now: number) {
  return (i: Item): GenericAlert => ({
    ...(i.meta?.type ? { type: i.meta.type } : {}),
    ...(i.meta?.format ? { format: i.meta.format } : {}),
    ...(i.source ? { source: i.source.locURI } : {}),
    ...(i.data !== undefined ? { data: itemText(i.data, i.meta?.format).data } : {}),
    receivedAt: new Date(now).toISOString(),
  });
}

export { randomNonce };
