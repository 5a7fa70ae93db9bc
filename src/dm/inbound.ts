// The client's side of a message: Status for each of its commands, the device's Status and
// Results for the server's commands recorded on their jobs (./job-model.ts), large objects arriving
// in chunks (./large-object.ts), generic alerts, and the device's verdict on the server's credentials.
import { nonceFromNextNonce, type Command, type Item, type Status } from "../codec";
import { commandAt, type GenericAlert } from "./job-model";
import { addChunk, finishIncoming, startIncoming } from "./large-object";
import type { AuthType } from "./security";
import { MAX_SERVER_AUTH_FAILURES, statusFor, type InFlight, type Turn } from "./session";
import { itemBytes, itemText } from "./syncml-commands";

export class Inbound {
  constructor(private readonly t: Turn) {}


  private answer(c: Command, code: string): void {
    if ("noResp" in c && c.noResp) return;
    this.t.statuses.push(statusFor(this.t, c, code));
  }

  /** "abort" (Alert 1223), "more" (the client's package goes on, or a large object is arriving) or "go". */
  run(): "abort" | "more" | "go" {
    const { message } = this.t.in_;
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
            if (code === "1200") this.t.p.device.consumeNotification(this.t.hdr.sessionId);
            this.answer(c, "200");
          } else if (code === "1222") {
            nextRequested = true;
            this.answer(c, "200");
          } else if (code === "1223") {
            abort = true;
            this.answer(c, "200");
          } else if (code === "1226") {
            this.t.p.device.genericAlert(c.correlator, c.items.map(genericAlert(this.t.in_.now)));
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
            this.t.p.device.storeNode(uri, v.data, v.format, item.meta?.type ?? c.meta?.type);
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
    if ((!message.final && !nextRequested) || this.t.s.incomingObject) return "more";
    return "go";
  }

  /**
   * The client's package is complete and answered our last message: a command of ours still without
   * a Status will not get one in this session (some clients send none for an Atomic). It stops
   * holding the queue; the job model sends it again in the next session, up to the attempt limit.
   */
  private unansweredAtFinal(): void {
    const s = this.t.s;
    for (const id of Object.keys(s.inFlight)) {
      if (s.outgoingObject && s.inFlight[id]!.chunk?.more) continue;
      delete s.inFlight[id];
    }
  }

  private takeStatus(st: Status): void {
    const s = this.t.s;
    if (st.cmd === "SyncHdr") {
      // Mutual authentication: the device judged the server's credentials and may challenge them.
      const chal = st.chal?.meta;
      if (chal && (chal.nextNonce !== undefined || chal.type)) {
        this.t.p.device.serverChallenge(chal.type as AuthType | undefined, chal.nextNonce);
        if (chal.type && this.t.server.type !== "syncml:auth-MAC") this.t.server.type = chal.type as AuthType;
        if (chal.nextNonce !== undefined) this.t.server.nonce = safeNonce(chal.nextNonce);
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
    const job = this.t.p.jobs.find(flight.jobId);
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
        this.t.p.jobs.record(flight.jobId, flight.path, {
          status: st.data,
          error: `the device answered ${st.data} to chunk ${flight.chunk.index} of the large object (213 expected): it did not take the rest, so the value is incomplete`,
        });
        return;
      }
    } else delete s.inFlight[st.cmdRef];
    s.answered[st.cmdRef] = flight;
    const response = cmd.kind === "Alert" && st.items?.length ? st.items.map((i) => itemText(i.data).data) : undefined;
    this.t.p.jobs.record(flight.jobId, flight.path, { status: st.data, ...(response ? { response } : {}) });
  }

  /**
   * The device refused the server's credentials for message `msgRef`: whatever that message carried
   * was not executed. It goes out again with credentials as the device challenged, and nothing new
   * goes out until the device accepts them; after {@link MAX_SERVER_AUTH_FAILURES} the commands fail.
   */
  private serverRefused(msgRef: number): void {
    const s = this.t.s;
    s.serverAuthAccepted = false;
    s.serverAuthFailures += 1;
    const refused: [string, InFlight][] = Object.entries(s.inFlight).filter(([, f]) => !Number.isFinite(msgRef) || f.msgId === msgRef);
    for (const [id, f] of refused) {
      delete s.inFlight[id];
      if (s.serverAuthFailures >= MAX_SERVER_AUTH_FAILURES) {
        this.t.p.jobs.record(f.jobId, f.path, { status: "401", error: `the device refused the server's credentials ${s.serverAuthFailures} times` });
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
    const s = this.t.s;
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
    if (r.source) this.t.p.device.storeNode(r.source, r.data, r.format, r.type);
    if (flight) this.t.p.jobs.record(flight.jobId, flight.path, { results: [r] });
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
