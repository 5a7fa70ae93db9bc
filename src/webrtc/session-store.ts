// The tables of one call session and the reads over them. The object (session-object.ts) owns the
// transactions; this store owns the schema and the shape of each row.
import { hasTable, one } from "../http/sql";
import type { IceCandidate, SessionStatus } from "./schemas";

export const SESSION_SCHEMA = [
  `CREATE TABLE session (id INTEGER PRIMARY KEY CHECK (id = 1), session_id TEXT NOT NULL, origin TEXT NOT NULL,
     caller_address TEXT NOT NULL, caller_device TEXT NOT NULL, callee_address TEXT NOT NULL, status TEXT NOT NULL,
     offer_sdp TEXT NOT NULL, offer_media TEXT NOT NULL, answer_sdp TEXT, answered_by TEXT, client_correlator TEXT,
     created_at INTEGER NOT NULL, ring_deadline INTEGER NOT NULL, connected_at INTEGER, ended_at INTEGER, end_reason TEXT);
   -- one row per device the call rings (the callee and its twins that were On): HLF-TE-002/003
   CREATE TABLE leg (device TEXT PRIMARY KEY, twin INTEGER NOT NULL, state TEXT NOT NULL);
   -- a renegotiation offer waiting for its answer (hold, resume, adding media)
   CREATE TABLE negotiation (id INTEGER PRIMARY KEY CHECK (id = 1), offer_sdp TEXT NOT NULL, offer_media TEXT NOT NULL, offered_by TEXT NOT NULL);
   CREATE TABLE candidate (seq INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, body TEXT NOT NULL);
   -- notifications to participants' devices, written in the transaction of the change they report
   CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, root TEXT NOT NULL, fields TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0, first_at INTEGER NOT NULL, next_at INTEGER NOT NULL);`,
];

export type LegState = "Invited" | "Ringing" | "Answered" | "Busy" | "Declined" | "Cancelled";

export interface SessionRow extends Record<string, SqlStorageValue> {
  session_id: string;
  origin: string;
  caller_address: string;
  caller_device: string;
  callee_address: string;
  status: SessionStatus;
  offer_sdp: string;
  offer_media: string;
  answer_sdp: string | null;
  answered_by: string | null;
  client_correlator: string | null;
  created_at: number;
  ring_deadline: number;
  connected_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
}

export interface SessionRecord {
  sessionId: string;
  callerAddress: string;
  calleeAddress: string;
  status: SessionStatus;
  offerSdp: string;
  answerSdp?: string;
  clientCorrelator?: string;
}

export const record = (r: SessionRow): SessionRecord => ({
  sessionId: r.session_id,
  callerAddress: r.caller_address,
  calleeAddress: r.callee_address,
  status: r.status,
  offerSdp: r.offer_sdp,
  ...(r.answer_sdp !== null ? { answerSdp: r.answer_sdp } : {}),
  ...(r.client_correlator !== null ? { clientCorrelator: r.client_correlator } : {}),
});

/** The outbox root of a call-state change for a device's SignalingUserObject (not a notification). */
export const CALL_STATE = "callState";

export interface OutboxRow extends Record<string, SqlStorageValue> {
  id: number;
  target: string;
  root: string;
  fields: string;
  attempts: number;
  first_at: number;
  next_at: number;
}

export const ENDED: ReadonlySet<SessionStatus> = new Set(["Terminated", "Declined", "Cancelled", "NoAnswer", "Busy", "Failed"]);
export const UNANSWERED: ReadonlySet<SessionStatus> = new Set(["Initial", "Ringing"]);

export class SessionStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Whether this object holds a session at all; a read, so unknown ids leave nothing behind. */
  exists(): boolean {
    return hasTable(this.sql, "session") && !!this.session();
  }

  session(): SessionRow | undefined {
    return one<SessionRow>(this.sql, "SELECT * FROM session");
  }

  legs(): { device: string; twin: number; state: LegState }[] {
    return this.sql.exec<{ device: string; twin: number; state: LegState }>("SELECT device, twin, state FROM leg ORDER BY twin, device").toArray();
  }

  leg(device: string): LegState | undefined {
    return one<{ state: LegState }>(this.sql, "SELECT state FROM leg WHERE device = ?", device)?.state;
  }

  setLeg(device: string, state: LegState): void {
    this.sql.exec("UPDATE leg SET state = ? WHERE device = ?", state, device);
  }

  /** Legs that still ring (they get the caller's candidates and, at the end, a cancel). */
  ringingLegs(): string[] {
    return this.sql.exec<{ device: string }>("SELECT device FROM leg WHERE state IN ('Invited', 'Ringing') ORDER BY twin, device").toArray().map((r) => r.device);
  }

  negotiation(): { offer_sdp: string; offer_media: string; offered_by: string } | undefined {
    return one(this.sql, "SELECT offer_sdp, offer_media, offered_by FROM negotiation");
  }

  addCandidate(device: string, c: IceCandidate): void {
    this.sql.exec("INSERT INTO candidate (device, body) VALUES (?, ?)", device, JSON.stringify(c));
  }

  candidatesOf(device: string): IceCandidate[] {
    return this.sql.exec<{ body: string }>("SELECT body FROM candidate WHERE device = ? ORDER BY seq", device).toArray().map((r) => JSON.parse(r.body));
  }

  /** Queues `root` for `target`'s subscriptions; the link names the session under the target's own userId. */
  emit(s: SessionRow, target: string, root: string, fields: Record<string, unknown>): void {
    const href = `${s.origin}/webrtcsignaling/v1/${encodeURIComponent(target)}/sessions/${s.session_id}`;
    const now = Date.now();
    this.sql.exec(
      "INSERT INTO outbox (target, root, fields, first_at, next_at) VALUES (?, ?, ?, ?, ?)",
      target, root, JSON.stringify({ ...fields, link: [{ rel: "WrtcsSession", href }] }), now, now,
    );
  }

  /** Queues, in the same order as the notifications, that `target` is in this call (or no longer): its Busy state. */
  emitCallState(target: string, connected: boolean): void {
    const now = Date.now();
    this.sql.exec("INSERT INTO outbox (target, root, fields, first_at, next_at) VALUES (?, ?, ?, ?, ?)", target, CALL_STATE, JSON.stringify({ connected }), now, now);
  }

  /** Every queued message, oldest first. */
  outbox(): OutboxRow[] {
    return this.sql.exec<OutboxRow>("SELECT id, target, root, fields, attempts, first_at, next_at FROM outbox ORDER BY id").toArray();
  }

  /**
   * When the outbox next has work: the earliest head of a device's messages. One behind a head that
   * waits for its retry is not due before that head (order per device).
   */
  nextOutbox(): number | undefined {
    return one<{ t: number | null }>(this.sql, `SELECT MIN(o.next_at) AS t FROM outbox o
      WHERE o.id = (SELECT MIN(h.id) FROM outbox h WHERE h.target = o.target)`)?.t ?? undefined;
  }
}
