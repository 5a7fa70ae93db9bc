// The SyncML DM 1.2 session engine (OMA-TS-DM_Protocol-V1_2 §8): one client message in, one server
// message out. It owns no storage and no clock of its own: the Durable Object hands it the session
// it loaded, the device's authentication state and a DevicePort over its tables, and stores the
// session it gets back, all inside one transaction. That makes every rule here testable on Node
// (test/dm/engine/).
//
// One reply is built in three steps: the verdict on the client's credentials (here, with
// ./security.ts), the Status for each of the client's commands (./inbound.ts), then the server's
// commands (./outbound.ts): what the device refused to take from an unauthenticated server, the rest
// of a package that did not fit, the next chunk of a large object (./large-object.ts), or as many
// queued jobs as fit (./job-model.ts). Sizes are measured once per command, never by re-encoding
// the message per dropped command.
import { encodeMessage, type Command, type Status, type SyncMLMessage } from "../codec";
import { Inbound } from "./inbound";
import { MAX_INCOMING_OBJECT } from "./large-object";
import { Outbound } from "./outbound";
import { serverCred, serverHmac, verifyClient, type ServerAuth } from "./security";
import {
  SERVER_MAX_MSG_SIZE, statusFor, type EngineInput, type EngineOutput, type Ports, type SessionState, type Turn,
} from "./session";

export type { DevicePort, EngineInput, EngineOutput, Ports, SessionState } from "./session";
export { MAX_SERVER_AUTH_FAILURES, SERVER_MAX_MSG_SIZE } from "./session";

/** What the server assumes of a device that does not say (DM_Protocol §8.8), and the least it accepts. */
const DEFAULT_CLIENT_MAX_MSG_SIZE = 64 * 1024;
const MIN_CLIENT_MAX_MSG_SIZE = 2048;

/** One client message in, one server message out. */
export function reply(input: EngineInput, ports: Ports): EngineOutput {
  return new Message(input, ports).run();
}

class Message implements Turn {
  readonly hdr: SyncMLMessage["header"];
  readonly statuses: Command[] = [];
  readonly s: SessionState;
  readonly server: ServerAuth;
  private readonly isNew: boolean;

  constructor(readonly in_: EngineInput, readonly p: Ports) {
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

  cmdId(): string {
    return String(this.s.nextCmdId++);
  }

  run(): EngineOutput {
    const s = this.s;
    // ---- the client's credentials (OMA-TS-DM_Security-V1_2 §5.3, §5.4): a new session always
    // authenticates; MAC authenticates every message.
    if (this.isNew || this.in_.client.authType === "syncml:auth-MAC") {
      const refused = this.authenticate();
      if (refused) return refused;
    } else this.statuses.push(this.hdrStatus("200"));

    const flow = new Inbound(this).run();
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
    const { commands, final } = new Outbound(this).run();
    if (final && commands.length === 0 && Object.keys(s.inFlight).length === 0) {
      // Nothing more to say and nothing awaited: the session ends with this message (§8.3).
      s.ended = true;
      this.p.jobs.release(s.key);
    }
    return this.send(commands, final);
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
    for (const c of this.in_.message.body) if (c.kind !== "Status" && !("noResp" in c && c.noResp)) this.statuses.push(statusFor(this, c, code));
    if (this.isNew) {
      // Nothing is kept of a session that never authenticated: the next try is a new package 1 at the entry URI.
      return { ...this.encode([], true, this.in_.entryUri), session: undefined };
    }
    return this.send([], true);
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
