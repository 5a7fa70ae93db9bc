// A scripted stand-in for a DM server, only to check the simulator itself against the spec rules
// (the gateway's real server is tested in the other files). It authenticates md5/basic/MAC clients,
// signs its messages with the nonce the client gave it, and lets each test script the commands.
import {
  authMd5Digest, base64, decodeMessage, encodeMessage, hmacHeader, nonceFromNextNonce, parseBasicCredential, verifyAuthMd5, verifyHmacHeader,
} from "../../src/codec";
import type { Command, Encoding, Status, SyncMLMessage } from "../../src/codec";
import type { AuthType } from "./simulator";

export interface FakeTurn {
  /** What the client sent (decoded). */
  request: SyncMLMessage;
  /** Statuses for the client's commands the fake adds by default (200 for everything but Status/Results). */
  statuses: Status[];
}

export class FakeServer {
  msgId = 0;
  /** What the client gave us in its last Chal: our credentials use it. */
  serverNonce: Uint8Array = new Uint8Array(0);
  /** What we gave the client. */
  clientNonce: Uint8Array | undefined;
  readonly received: { message: SyncMLMessage; headers: Record<string, string> }[] = [];
  authenticated = false;
  maxMsgSize: number | undefined;
  final = true;

  constructor(
    readonly opts: {
      devId: string; authType: AuthType; username: string; password: string; serverId: string; serverPassword: string; encoding: Encoding;
      url: string;
    },
    /** Commands for the next server message, given what the client sent; return `final: false` to continue the package. */
    readonly script: (turn: FakeTurn, server: FakeServer) => { commands?: Command[]; final?: boolean; statuses?: Status[] } = () => ({}),
  ) {}

  fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const body = new Uint8Array(init.body as Uint8Array);
    const headers = Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
    const req = decodeMessage(body, { encoding: this.opts.encoding });
    this.received.push({ message: req, headers });
    if (req.header.sessionId !== this.sessionId) {
      this.sessionId = req.header.sessionId;
      this.msgId = 0;
      this.authenticated = false;
    }
    this.msgId += 1;
    const o = this.opts;
    // The client's answer to our SyncHdr may carry the nonce for our next credentials.
    for (const c of req.body) {
      if (c.kind === "Status" && c.cmd === "SyncHdr" && c.chal?.meta.nextNonce) this.serverNonce = nonceFromNextNonce(c.chal.meta.nextNonce);
    }
    let code = "212";
    if (!this.authenticated) {
      if (o.authType === "syncml:auth-basic") {
        const cred = req.header.cred;
        code = !cred ? "407" : (() => {
          const b = parseBasicCredential(cred.data);
          return b.username === o.username && b.password === o.password ? "212" : "401";
        })();
      } else if (o.authType === "syncml:auth-md5") {
        const cred = req.header.cred;
        code = !cred ? "407" : this.clientNonce && verifyAuthMd5(cred.data, o.username, o.password, this.clientNonce) ? "212" : "401";
      } else {
        const h = headers["x-syncml-hmac"];
        code = !h ? "407" : this.clientNonce && verifyHmacHeader(h, { password: o.password, nonce: this.clientNonce, body }) ? "212" : "401";
      }
    } else code = "200";
    const hdrStatus: Status = {
      kind: "Status", cmdId: "1", msgRef: req.header.msgId, cmdRef: "0", cmd: "SyncHdr",
      targetRefs: [req.header.target.locURI], sourceRefs: [req.header.source.locURI], data: code,
    };
    if (code !== "200") {
      this.clientNonce = crypto.getRandomValues(new Uint8Array(8));
      hdrStatus.chal = { meta: { type: o.authType, format: "b64", nextNonce: base64(this.clientNonce) } };
    }
    const body2: Command[] = [hdrStatus];
    let final = true;
    if (code === "212" || code === "200") {
      this.authenticated = true;
      const statuses: Status[] = [];
      for (const c of req.body) {
        if (c.kind === "Status" || c.kind === "Results") continue;
        statuses.push({ kind: "Status", cmdId: "", msgRef: req.header.msgId, cmdRef: c.cmdId, cmd: c.kind, data: "200" });
      }
      const out = this.script({ request: req, statuses }, this);
      body2.push(...(out.statuses ?? statuses), ...(out.commands ?? []));
      final = out.final ?? true;
    }
    let n = 0;
    const renumber = (cmds: Command[]) => {
      for (const c of cmds) {
        c.cmdId = String(++n);
        if (c.kind === "Atomic" || c.kind === "Sequence") renumber(c.commands);
      }
    };
    renumber(body2);
    const msg: SyncMLMessage = {
      header: {
        verDTD: "1.2", verProto: "DM/1.2", sessionId: req.header.sessionId, msgId: String(this.msgId),
        target: { locURI: req.header.source.locURI }, source: { locURI: o.url }, respURI: `${o.url}?s=${req.header.sessionId}`,
        ...(this.maxMsgSize ? { meta: { maxMsgSize: this.maxMsgSize } } : {}),
      },
      body: body2,
      final,
    };
    if (!final) delete msg.final;
    if (o.authType !== "syncml:auth-MAC") {
      msg.header.cred = { meta: { type: "syncml:auth-md5", format: "b64" }, data: authMd5Digest(o.serverId, o.serverPassword, this.serverNonce) };
    }
    const bytes = encodeMessage(msg, o.encoding);
    const resHeaders: Record<string, string> = { "Content-Type": o.encoding === "xml" ? "application/vnd.syncml.dm+xml" : "application/vnd.syncml.dm+wbxml" };
    if (o.authType === "syncml:auth-MAC") resHeaders["x-syncml-hmac"] = hmacHeader({ username: o.serverId, password: o.serverPassword, nonce: this.serverNonce, body: bytes });
    return new Response(bytes, { status: 200, headers: resHeaders });
  };

  private sessionId = "";
}
