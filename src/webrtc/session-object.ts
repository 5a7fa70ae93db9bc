// One object per WebRTC call session, named by its unguessable session id. It owns the session's
// state machine (Initial → Ringing → Connected → Terminated, or Declined, Cancelled, NoAnswer,
// Busy, Failed), the devices the call rings (the callee and its twins that are On), the offer and
// answer, the trickled candidates, and the notifications each change causes. Every transition is
// checked and written in one transaction with the notifications it sends, so two answers racing
// from two devices serialise here and exactly one wins; the ring timeout and retries are alarms.
// Delivery of what a transition queued is session-outbox.ts.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { ApiError, invalidInput, notFound, outcome, type Outcome } from "../http/errors";
import { migrate } from "../http/sql";
import { DueAlarm } from "../notify/due-alarm";
import type { IceCandidate, SessionStatus } from "./schemas";
import { answerMatchesOffer, type SdpSummary } from "./sdp";
import { SessionOutbox } from "./session-outbox";
import { ENDED, record, SESSION_SCHEMA, SessionStore, UNANSWERED, type SessionRecord, type SessionRow } from "./session-store";

export interface NewSession {
  sessionId: string;
  /** Origin of the API, for the links in notifications. */
  origin: string;
  /** The address the callee sees (the primary's, for a delegated call). */
  callerAddress: string;
  /** The device that placed the call and gets the caller's notifications. */
  callerDevice: string;
  calleeAddress: string;
  /** Twinned secondaries of the callee whose status was On when the call was placed. */
  twins: string[];
  /** Devices of the callee already in a Connected call: they do not ring; when none is left the call is Busy. */
  busy: string[];
  offer: { sdp: string; media: string[] };
  clientCorrelator?: string;
  ringTimeoutMs: number;
}

/** Why a device's copy of the call stopped ringing, in its wrtcsEventNotification. */
type CancelReason = "AnsweredElsewhere" | "DeclinedElsewhere" | "CallerCancelled" | "NoAnswer" | "Failed";

/** Ended sessions stay readable this long, then the object deletes itself. */
const RETENTION_MS = 60 * 60_000;
/** A connected call that nobody hung up is ended after a day. */
const MAX_CALL_MS = 24 * 3600_000;

const conflict = (why: string) => new ApiError(409, "SVC0001", [why]);
const EVENT = "wrtcsEventNotification";

export class CallSessionObject extends DurableObject<Env> {
  private readonly store: SessionStore;
  private readonly outbox: SessionOutbox;
  private readonly alarmClock: DueAlarm;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new SessionStore(ctx.storage.sql);
    this.outbox = new SessionOutbox(this.store, ctx.storage.sql, env);
    this.alarmClock = new DueAlarm(ctx.storage, () => this.nextDue());
  }

  private tx<T>(fn: () => T): T {
    return this.ctx.storage.transactionSync(fn);
  }

  // ---------------------------------------------------------------- RPC

  /** A new call: every leg is invited in the same transaction that creates the session. */
  async create(n: NewSession): Promise<SessionRecord> {
    migrate(this.ctx, SESSION_SCHEMA);
    const created = this.tx(() => {
      if (this.store.session()) throw new Error("session id collision");
      const now = Date.now();
      const sql = this.ctx.storage.sql;
      sql.exec(
        `INSERT INTO session (id, session_id, origin, caller_address, caller_device, callee_address, status, offer_sdp, offer_media, client_correlator, created_at, ring_deadline)
         VALUES (1, ?, ?, ?, ?, ?, 'Initial', ?, ?, ?, ?, ?)`,
        n.sessionId, n.origin, n.callerAddress, n.callerDevice, n.calleeAddress, n.offer.sdp, JSON.stringify(n.offer.media), n.clientCorrelator ?? null, now, now + n.ringTimeoutMs,
      );
      const legs = [n.calleeAddress, ...n.twins].filter((d, i, all) => d !== n.callerDevice && all.indexOf(d) === i && !n.busy.includes(d));
      for (const device of legs) sql.exec("INSERT INTO leg (device, twin, state) VALUES (?, ?, 'Invited')", device, device === n.calleeAddress ? 0 : 1);
      const s = this.store.session()!;
      if (legs.length === 0) {
        // Every device of the callee is in a call: Busy at once (the caller hears it as an event too).
        this.end(s, "Busy", "Busy");
        return this.store.session()!;
      }
      for (const device of legs) {
        this.store.emit(s, device, "wrtcsSessionInvitationNotification", {
          originatorAddress: n.callerAddress,
          tParticipantAddress: n.calleeAddress,
          offer: { sdp: n.offer.sdp },
          ...(n.clientCorrelator ? { clientCorrelator: n.clientCorrelator } : {}),
        });
      }
      return s;
    });
    await this.settle();
    return record(created);
  }

  view(device: string): Promise<Outcome<SessionRecord>> {
    return outcome(() => {
      const s = this.session();
      this.sideOf(s, device);
      return record(s);
    });
  }

  /** PUT .../status. */
  updateStatus(device: string, status: SessionStatus): Promise<Outcome<SessionRecord>> {
    return this.transition((s) => {
      const side = this.sideOf(s, device);
      this.assertNotEnded(s, `status ${status}`);
      switch (status) {
        case "Ringing":
          this.assertRingingLeg(s, side, device, "Ringing");
          this.store.setLeg(device, "Ringing");
          if (s.status === "Initial") {
            this.setStatus("Ringing");
            this.store.emit(s, s.caller_device, EVENT, { eventType: "Ringing" });
          }
          return;
        case "Connected":
          if (s.status !== "Connected") throw conflict(`the session is ${s.status}: it connects when a callee device PUTs its answer`);
          this.assertConnectedParty(s, side, device, "status Connected");
          return; // an audit: the call is still up
        case "Declined":
          this.assertRingingLeg(s, side, device, "Declined");
          return this.decline(s, device);
        case "Busy":
          this.assertRingingLeg(s, side, device, "Busy");
          this.store.setLeg(device, "Busy");
          if (this.store.ringingLegs().length === 0) this.end(s, "Busy", "Busy");
          return;
        case "Cancelled":
          if (side !== "originator") throw conflict("only the caller cancels; a callee device declines");
          if (!UNANSWERED.has(s.status)) throw conflict("the call is Connected: hang up with status Terminated or DELETE");
          return this.end(s, "Cancelled", "CallerCancelled", device);
        case "Terminated":
          if (s.status !== "Connected") throw conflict(`the session is ${s.status}, not Connected: the caller cancels, a callee device declines`);
          this.assertConnectedParty(s, side, device, "status Terminated");
          return this.end(s, "Terminated", "Terminated", device);
        case "Failed":
          if (side === "terminator" && UNANSWERED.has(s.status)) {
            // One device failing to set up does not end the call on the others.
            this.assertRingingLeg(s, side, device, "Failed");
            this.store.setLeg(device, "Cancelled");
            if (this.store.ringingLegs().length === 0) this.end(s, "Failed", "Failed");
            return;
          }
          if (side === "terminator") this.assertConnectedParty(s, side, device, "status Failed");
          return this.end(s, "Failed", "Failed", device);
        default:
          throw invalidInput("wrtcsSessionStatus.status", `${status} cannot be set by a participant`);
      }
    });
  }

  /** DELETE: the caller cancels or hangs up; a callee device declines or hangs up. Ended sessions stay as they are. */
  hangUp(device: string): Promise<Outcome<SessionRecord>> {
    return this.transition((s) => {
      const side = this.sideOf(s, device);
      if (ENDED.has(s.status)) return;
      if (s.status === "Connected") {
        this.assertConnectedParty(s, side, device, "hang-up");
        return this.end(s, "Terminated", "Terminated", device);
      }
      if (side === "originator") return this.end(s, "Cancelled", "CallerCancelled", device);
      this.assertRingingLeg(s, side, device, "Declined");
      return this.decline(s, device);
    });
  }

  /** PUT .../answer: the first answer connects the call; later, the answer to a renegotiation offer. */
  answer(device: string, sdp: string, summary: SdpSummary): Promise<Outcome<SessionRecord>> {
    return this.transition((s) => {
      const side = this.sideOf(s, device);
      this.assertNotEnded(s, "answer");
      if (UNANSWERED.has(s.status)) {
        if (side === "originator") throw conflict("the caller cannot answer its own call");
        this.assertRingingLeg(s, side, device, "answer");
        this.assertCompatible(JSON.parse(s.offer_media), summary);
        this.ctx.storage.sql.exec("UPDATE session SET status = 'Connected', answer_sdp = ?, answered_by = ?, connected_at = ? WHERE id = 1", sdp, device, Date.now());
        this.store.setLeg(device, "Answered");
        // Both ends are now in a call: Busy for a new one (until the end says otherwise).
        this.store.emitCallState(s.caller_device, true);
        this.store.emitCallState(device, true);
        // The first answer wins; every other device stops ringing at once (HLF-TE-002/003 forking).
        for (const other of this.store.ringingLegs()) {
          this.store.setLeg(other, "Cancelled");
          this.store.emit(s, other, EVENT, { eventType: "Cancelled", reason: "AnsweredElsewhere" });
        }
        this.store.emit(s, s.caller_device, "wrtcsAnswerNotification", { answer: { sdp } });
        const early = this.store.candidatesOf(device);
        if (early.length) this.store.emit(s, s.caller_device, "wrtcsIceNotification", { iceCandidates: early });
        return;
      }
      this.assertConnectedParty(s, side, device, "answer");
      const pending = this.store.negotiation();
      if (!pending) throw conflict("no offer is waiting for an answer: the call is already Connected");
      if (pending.offered_by === device) throw conflict("this device made the pending offer; the other side answers it");
      this.assertCompatible(JSON.parse(pending.offer_media), summary);
      this.ctx.storage.sql.exec("UPDATE session SET offer_sdp = ?, offer_media = ?, answer_sdp = ? WHERE id = 1", pending.offer_sdp, pending.offer_media, sdp);
      this.ctx.storage.sql.exec("DELETE FROM negotiation");
      this.store.emit(s, pending.offered_by, "wrtcsAnswerNotification", { answer: { sdp } });
    });
  }

  /** PUT .../offer: renegotiation of a connected call (hold, resume, adding media), answered by the other side. */
  offer(device: string, sdp: string, summary: SdpSummary): Promise<Outcome<SessionRecord>> {
    return this.transition((s) => {
      const side = this.sideOf(s, device);
      this.assertNotEnded(s, "offer");
      if (s.status !== "Connected") throw conflict(`the session is ${s.status}: a new offer renegotiates a Connected call`);
      this.assertConnectedParty(s, side, device, "offer");
      if (this.store.negotiation()) throw conflict("an offer is already waiting for its answer (glare, RFC 3264 §4): roll back and answer it");
      this.ctx.storage.sql.exec("INSERT INTO negotiation (id, offer_sdp, offer_media, offered_by) VALUES (1, ?, ?, ?)", sdp, JSON.stringify(summary.media), device);
      this.store.emit(s, this.peerOf(s, device), "wrtcsOfferNotification", { offer: { sdp } });
    });
  }

  /**
   * Trickle ICE. The caller's candidates go to every device still ringing, then to the one that
   * answered; a callee device's candidates wait here until it has won the call.
   */
  trickle(device: string, candidates: IceCandidate[]): Promise<Outcome<void>> {
    return outcome(async () => {
      this.tx(() => {
        const s = this.session();
        const side = this.sideOf(s, device);
        this.assertNotEnded(s, "ICE candidates");
        if (side === "terminator") {
          if (UNANSWERED.has(s.status)) this.assertRingingLeg(s, side, device, "ICE candidates");
          else this.assertConnectedParty(s, side, device, "ICE candidates");
        }
        for (const c of candidates) this.store.addCandidate(device, c);
        const targets = side === "originator" ? (UNANSWERED.has(s.status) ? this.store.ringingLegs() : [s.answered_by!]) : UNANSWERED.has(s.status) ? [] : [s.caller_device];
        for (const t of targets) this.store.emit(s, t, "wrtcsIceNotification", { iceCandidates: candidates });
      });
      await this.settle();
    });
  }

  /** The other side's candidates so far, for a device that missed notifications. */
  remoteCandidates(device: string): Promise<Outcome<IceCandidate[]>> {
    return outcome(() => {
      const s = this.session();
      const side = this.sideOf(s, device);
      if (side === "terminator") return this.store.candidatesOf(s.caller_device);
      return s.answered_by ? this.store.candidatesOf(s.answered_by) : [];
    });
  }

  // ---------------------------------------------------------------- transitions

  private transition(fn: (s: SessionRow) => void): Promise<Outcome<SessionRecord>> {
    return outcome(async () => {
      const s = this.tx(() => {
        fn(this.session());
        return this.store.session()!;
      });
      await this.settle();
      return record(s);
    });
  }

  private session(): SessionRow {
    const s = this.store.exists() ? this.store.session() : undefined;
    // An unknown id: nothing was created or written for it (the schema is made by create() only).
    if (!s) throw notFound("sessionId", this.ctx.id.name ?? "the session");
    return s;
  }

  private setStatus(status: SessionStatus): void {
    this.ctx.storage.sql.exec("UPDATE session SET status = ? WHERE id = 1", status);
  }

  /** Ends the session and tells everyone still in it; `by` (who ended it) hears nothing. */
  private end(s: SessionRow, status: SessionStatus, reason: CancelReason | SessionStatus, by?: string): void {
    this.ctx.storage.sql.exec("UPDATE session SET status = ?, ended_at = ?, end_reason = ? WHERE id = 1", status, Date.now(), reason);
    this.ctx.storage.sql.exec("DELETE FROM negotiation");
    if (s.status === "Connected" && s.answered_by) {
      this.store.emitCallState(s.caller_device, false);
      this.store.emitCallState(s.answered_by, false);
    }
    // SPiDR's clients hear the end of a connected call as eventType SessionEnded; other ends carry the new state.
    const event = { eventType: status === "Terminated" ? "SessionEnded" : status, reason };
    if (s.caller_device !== by) this.store.emit(s, s.caller_device, EVENT, event);
    if (s.answered_by && s.answered_by !== by) this.store.emit(s, s.answered_by, EVENT, event);
    for (const leg of this.store.ringingLegs()) {
      this.store.setLeg(leg, "Cancelled");
      if (leg !== by) this.store.emit(s, leg, EVENT, { eventType: "Cancelled", reason: status === "Cancelled" ? "CallerCancelled" : reason });
    }
  }

  /** A decline ends the call on every device (as SIP's 603 ends every fork, RFC 3261 §16.7). */
  private decline(s: SessionRow, device: string): void {
    this.store.setLeg(device, "Declined");
    this.ctx.storage.sql.exec("UPDATE session SET status = 'Declined', ended_at = ?, end_reason = 'Declined' WHERE id = 1", Date.now());
    this.store.emit(s, s.caller_device, EVENT, { eventType: "Declined", reason: "Declined" });
    for (const leg of this.store.ringingLegs()) {
      this.store.setLeg(leg, "Cancelled");
      this.store.emit(s, leg, EVENT, { eventType: "Cancelled", reason: "DeclinedElsewhere" });
    }
  }

  // ---------------------------------------------------------------- checks (each throws the API error the client sees)

  /** Only the caller's device and the devices the call rang may see or touch the session. */
  private sideOf(s: SessionRow, device: string): "originator" | "terminator" {
    if (device === s.caller_device) return "originator";
    if (this.store.leg(device)) return "terminator";
    throw new ApiError(403, "POL0001", ["not a participant of this session"]);
  }

  private assertNotEnded(s: SessionRow, what: string): void {
    if (!ENDED.has(s.status)) return;
    const why = s.status === "Cancelled" ? "the caller cancelled it" : s.status === "NoAnswer" ? "nobody answered in time" : s.status === "Terminated" ? "it was hung up" : `it ended (${s.end_reason})`;
    throw conflict(`${what} refused: the session is ${s.status} (${why})`);
  }

  private assertRingingLeg(s: SessionRow, side: "originator" | "terminator", device: string, what: string): void {
    if (side !== "terminator") throw conflict(`${what} is for a callee device, not the caller`);
    if (!UNANSWERED.has(s.status)) throw conflict(`${what} refused: the call was answered${s.answered_by === device ? " on this device" : " on another device"}`);
    const leg = this.store.leg(device);
    if (leg !== "Invited" && leg !== "Ringing") throw conflict(`${what} refused: this device already answered ${leg}`);
  }

  private assertConnectedParty(s: SessionRow, side: "originator" | "terminator", device: string, what: string): void {
    if (side === "terminator" && s.answered_by !== device) throw conflict(`${what} refused: the call was answered on another device`);
  }

  private assertCompatible(offerMedia: string[], answer: SdpSummary): void {
    const problem = answerMatchesOffer({ media: offerMedia }, answer);
    if (problem) throw invalidInput("wrtcsAnswer.sdp", problem);
  }

  private peerOf(s: SessionRow, device: string): string {
    return device === s.caller_device ? s.answered_by! : s.caller_device;
  }

  // ---------------------------------------------------------------- outbox and alarm

  /** Delivers what the last transaction queued, then arms the alarm from storage (a failed delivery's retry included). */
  private async settle(): Promise<void> {
    await this.outbox.drain();
    this.alarmClock.arm();
  }

  /** The earliest due work: the outbox, the ring timeout, the cap on a call, retention. */
  private nextDue(): number | undefined {
    if (!this.store.exists()) return undefined;
    const s = this.store.session()!;
    const times = [this.store.nextOutbox()];
    if (UNANSWERED.has(s.status)) times.push(s.ring_deadline);
    if (s.status === "Connected" && s.connected_at !== null) times.push(s.connected_at + MAX_CALL_MS);
    if (s.ended_at !== null) times.push(s.ended_at + RETENTION_MS);
    const due = times.filter((t): t is number => typeof t === "number");
    return due.length ? Math.min(...due) : undefined;
  }

  override async alarm(): Promise<void> {
    if (!this.store.exists()) return;
    await this.alarmClock.run(async () => {
      const now = Date.now();
      this.tx(() => {
        const s = this.store.session()!;
        if (UNANSWERED.has(s.status) && s.ring_deadline <= now) this.end(s, "NoAnswer", "NoAnswer");
        else if (s.status === "Connected" && s.connected_at !== null && s.connected_at + MAX_CALL_MS <= now) this.end(s, "Terminated", "Terminated");
      });
      await this.outbox.drain();
      const s = this.store.session()!;
      // Retention over and nothing left to tell anyone: the object deletes itself (and nextDue() is then empty).
      if (s.ended_at !== null && s.ended_at + RETENTION_MS <= Date.now() && this.store.nextOutbox() === undefined) await this.ctx.storage.deleteAll();
    });
  }
}
