// The server's side of a message: what it sends after the statuses. In order: the commands the
// device refused for want of server credentials, the rest of a package that did not fit, the next
// chunk of a large object (alone in its message), then as many queued jobs as fit under the
// device's MaxMsgSize, each job's commands together. Sizes are measured once per command.
import { encodeMessage, type Command, type SyncMLMessage } from "../codec";
import { commandAt, isFinished, type CommandPath, type Job, type JobCommand } from "./job-model";
import { chunkEnd } from "./large-object";
import { MAX_SERVER_AUTH_FAILURES, type Turn } from "./session";
import { syncmlRefusal, toSyncML, valueSize } from "./syncml-commands";

/** Margin under MaxMsgSize for what per-command measuring cannot see (CmdID digits, Final). */
const SIZE_MARGIN = 24;

export class Outbound {
  constructor(private readonly t: Turn) {}


  /** The commands of this message and whether it is the last of the server's package (Final). */
  run(): { commands: Command[]; final: boolean } {
    const s = this.t.s;
    // The device never accepted the server: the refused commands failed; nothing more goes out.
    if (s.serverAuthFailures >= MAX_SERVER_AUTH_FAILURES) return { commands: [], final: true };
    const m = new Measure(this.t);
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
      this.t.p.jobs.record(jobId, path, { error: `the command does not fit in one message under the device's MaxMsgSize ${s.maxMsgSize}` });

    // 1. what the device refused for want of server credentials, then 2. the rest of the package
    let full = false;
    for (const list of [s.resend, s.queue]) {
      while (!full && list.length) {
        const ref = list[0]!;
        const job = this.t.p.jobs.find(ref.jobId);
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
        if (place(built)) this.t.p.jobs.markSent(s.key, job, [ref.path[0]!]);
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
      for (const { job, commands } of this.t.p.jobs.pending(s.key)) {
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
        const fresh = this.t.p.jobs.find(job.jobId) ?? job;
        if (placed.length) this.t.p.jobs.markSent(s.key, fresh, placed);
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

    return { commands: out, final: !s.queue.length && !s.resend.length && !s.outgoingObject };
  }

  /**
   * A job command as a SyncML command, or: "chunk" (a large object started: its first chunk goes
   * out), "refused" (it cannot go in this session; recorded on the job unless a DM 2.0 session
   * will take it), "full" (it waits for a
   * message of its own).
   */
  private build(job: Job, cmd: JobCommand, path: CommandPath, alone: boolean, room: () => number): Command | "chunk" | "refused" | "full" {
    const s = this.t.s;
    const unsupported = syncmlRefusal(cmd);
    if (unsupported) {
      // A device that speaks DM 2.0 as well gets it in its next DM 2.0 session; a DM 1.2-only one, 406 now.
      if (!this.t.p.device.speaksDm2?.()) this.t.p.jobs.record(job.jobId, path, { status: "406", error: unsupported });
      return "refused";
    }
    if ((cmd.kind === "Replace" || cmd.kind === "Add") && cmd.data !== undefined) {
      const size = valueSize(cmd.data);
      if (size > room() || size > s.maxMsgSize / 2) {
        const why = this.largeObjectRefusal(size);
        if (why) {
          this.t.p.jobs.record(job.jobId, path, { error: why });
          return "refused";
        }
        if (!alone) return "full";
        s.outgoingObject = { jobId: job.jobId, path, offset: 0, total: size, sent: 0 };
        return "chunk";
      }
    }
    return toSyncML(cmd, path, () => this.t.cmdId(), (id, p) => (s.inFlight[id] = { jobId: job.jobId, path: p, msgId: s.serverMsgId + 1 }));
  }

  /** Why a value of `size` bytes cannot go to this device, or undefined. */
  private largeObjectRefusal(size: number): string | undefined {
    const s = this.t.s;
    if (s.maxObjSize !== undefined && size > s.maxObjSize) return `the value is ${size} bytes, over the device's MaxObjSize ${s.maxObjSize}`;
    const lrgObj = this.t.p.device.node("./DevDetail/LrgObj");
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
    for (const id of ids) delete this.t.s.inFlight[id];
  }

  /** The next chunk of the large object, as large as fits in this message beside everything else. */
  private nextChunk(m: Measure): Command | undefined {
    const s = this.t.s;
    const lo = s.outgoingObject!;
    const job = this.t.p.jobs.find(lo.jobId);
    const cmd = job && !isFinished(job) ? commandAt(job, lo.path) : undefined;
    if (!job || !cmd || cmd.data === undefined) {
      delete s.outgoingObject;
      return undefined;
    }
    const bytes = new TextEncoder().encode(cmd.data);
    const cmdId = this.t.cmdId();
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
    if (lo.sent === 1) this.t.p.jobs.markSent(s.key, job, [lo.path[0]!]);
    return command;
  }
}

/** Sizes measured once per command: the message without commands, then each command on its own. */
class Measure {
  readonly budget: number;
  used = 0;
  private readonly empty: number;
  private readonly header: SyncMLMessage["header"];

  constructor(private readonly t: Turn) {
    const s = t.s;
    this.header = t.header(s.respUri, s.serverMsgId + 1);
    this.empty = encodeMessage({ header: this.header, body: [], final: true }, s.encoding).length;
    const base = encodeMessage({ header: this.header, body: t.statuses, final: true }, s.encoding).length;
    this.budget = s.maxMsgSize - base - SIZE_MARGIN;
  }

  size(cmds: Command[]): number {
    return encodeMessage({ header: this.header, body: cmds, final: true }, this.t.s.encoding).length - this.empty;
  }
}
