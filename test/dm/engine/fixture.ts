// The session engine without workerd: in-memory job rows and device tables, messages through the
// real codec (WASM on Node).
import { authMd5Digest, basicCredential, decodeMessage, nonceFromNextNonce, secretDigest, type Command, type Status, type SyncMLMessage } from "../../../src/codec";
import { reply, type DevicePort, type EngineOutput, type SessionState } from "../../../src/dm/engine";
import type { Job } from "../../../src/dm/job-model";
import { JobStore, type JobRows } from "../../../src/dm/job-store";
import type { AuthType } from "../../../src/dm/security";

export class MemRows implements JobRows {
  readonly jobs: Job[] = [];
  insert(job: Job) {
    this.jobs.push(structuredClone(job));
  }
  load(jobId: string) {
    const j = this.jobs.find((x) => x.jobId === jobId);
    return j ? structuredClone(j) : undefined;
  }
  save(job: Job) {
    const i = this.jobs.findIndex((x) => x.jobId === job.jobId);
    this.jobs[i] = structuredClone(job);
  }
  unfinished(limit: number) {
    return this.jobs.filter((j) => j.state === "queued" || j.state === "running").slice(0, limit).map((j) => structuredClone(j));
  }
  nextDeadline() {
    const d = this.unfinished(1000).map((j) => Date.parse(j.deadline));
    return d.length ? Math.min(...d) : undefined;
  }
}

export const DEV = "IMEI:350000000000001";
export const SERVER = "http://gw.test/dm";

export interface Fixture {
  rows: MemRows;
  jobs: JobStore;
  tree: Map<string, { value: string; format?: string }>;
  clientNonce: string;
  serverNonce: string;
  serverChal?: AuthType;
  failures: number;
  lockedNow: boolean;
  session?: SessionState;
  authType: AuthType;
  /** Runs one client message through the engine, keeping the session the engine hands back. */
  send(m: SyncMLMessage, opts?: { newSession?: boolean; hmac?: string; locked?: boolean }): { out: EngineOutput; msg: SyncMLMessage };
}

let sessions = 0;

export function fixture(authType: AuthType = "syncml:auth-basic", username = "dev-user", password = "dev-secret-1"): Fixture {
  const rows = new MemRows();
  const jobs = new JobStore(rows);
  const f: Fixture = {
    rows, jobs, tree: new Map(), clientNonce: btoa("n0"), serverNonce: "", failures: 0, lockedNow: false, authType,
    send(m, opts = {}) {
      const port: DevicePort = {
        storeNode: (uri, value, format) => void f.tree.set(uri, { value, ...(format ? { format } : {}) }),
        node: (uri) => f.tree.get(uri)?.value,
        genericAlert: () => {},
        consumeNotification: () => {},
        freshClientNonce: () => (f.clientNonce = btoa(`n${Math.random()}`)),
        serverChallenge: (type, nonce) => {
          if (type) f.serverChal = type;
          if (nonce !== undefined) f.serverNonce = nonce;
        },
        authFailed: () => {
          f.failures += 1;
          return false;
        },
        authSucceeded: () => void (f.failures = 0),
      };
      sessions += 1;
      const newSession = opts.newSession || !f.session;
      const out = reply(
        {
          now: Date.now(), message: m, body: new Uint8Array(0), encoding: "xml", contentType: "application/vnd.syncml.dm+xml",
          ...(opts.hmac ? { hmac: opts.hmac } : {}),
          ...(!newSession && f.session ? { session: f.session } : {}),
          ...(newSession && f.session ? { previousKey: f.session.key } : {}),
          fresh: { key: `syncml:s${sessions}`, secretHash: `h${sessions}`, respUri: `${SERVER}/s/${sessions}` },
          entryUri: SERVER,
          client: { authType, username, digest: secretDigest(username, password), nonce: nonceFromNextNonce(f.clientNonce) },
          locked: opts.locked ?? false,
          server: { serverId: "oma-edge", password: "server-secret-1", type: f.serverChal ?? "syncml:auth-md5", nonce: nonceFromNextNonce(f.serverNonce) },
        },
        { jobs, device: port },
      );
      if (out.session) f.session = structuredClone(out.session);
      return { out, msg: decodeMessage(out.body, { encoding: "xml" }) };
    },
  };
  return f;
}

let msgNo = 0;
/** A client message; `cred` true adds the right credentials for the fixture's auth type. */
export function clientMsg(f: Fixture, msgId: number, body: Command[], opts: { cred?: boolean; password?: string; final?: boolean; sessionId?: string; maxMsgSize?: number } = {}): SyncMLMessage {
  msgNo += 1;
  const password = opts.password ?? "dev-secret-1";
  const cred = !opts.cred
    ? undefined
    : f.authType === "syncml:auth-basic"
      ? { meta: { type: "syncml:auth-basic", format: "b64" }, data: basicCredential("dev-user", password) }
      : { meta: { type: "syncml:auth-md5", format: "b64" }, data: authMd5Digest("dev-user", password, nonceFromNextNonce(f.clientNonce)) };
  return {
    header: {
      verDTD: "1.2", verProto: "DM/1.2", sessionId: opts.sessionId ?? "1", msgId: String(msgId), target: { locURI: SERVER }, source: { locURI: DEV },
      ...(cred ? { cred } : {}), meta: { maxMsgSize: opts.maxMsgSize ?? 16_000 },
    },
    body: body.map((c, i) => ({ ...c, cmdId: c.cmdId || String(i + 1) })) as Command[],
    ...(opts.final === false ? {} : { final: true }),
  };
}

export const pkg1 = (): Command[] => [
  { kind: "Alert", cmdId: "1", data: "1201", items: [] },
  { kind: "Replace", cmdId: "2", items: [{ source: { locURI: "./DevInfo/DevId" }, data: DEV }] },
];

export const statusesOf = (m: SyncMLMessage) => m.body.filter((c): c is Status => c.kind === "Status");
export const commandsOf = (m: SyncMLMessage) => m.body.filter((c) => c.kind !== "Status");

/** The statuses a device sends for every command of a server message (all `code`), SyncHdr 200. */
export function answerAll(server: SyncMLMessage, code = "200", skip: (c: Command) => boolean = () => false): Command[] {
  const out: Command[] = [{ kind: "Status", cmdId: "1", msgRef: server.header.msgId, cmdRef: "0", cmd: "SyncHdr", data: "200" }];
  const walk = (cmds: Command[]) => {
    for (const c of cmds) {
      if (c.kind === "Status" || c.kind === "Results") continue;
      if (!skip(c)) out.push({ kind: "Status", cmdId: String(out.length + 1), msgRef: server.header.msgId, cmdRef: c.cmdId, cmd: c.kind, data: code });
      if (c.kind === "Atomic" || c.kind === "Sequence") walk(c.commands);
    }
  };
  walk(server.body);
  return out;
}
