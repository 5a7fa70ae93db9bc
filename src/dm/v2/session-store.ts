// DM 2.0 management sessions of an account, inside its object. A session is one row; every package
// the server sends gets a new session id (x.1.1: "further commands with a newly assigned session
// id"), so an id is answered once: a replayed or late PUT finds no open session and changes nothing.
import { one } from "../../http/sql";
import type { Dm2Command } from "./commands";

export const SESSION_SCHEMA = `
  CREATE TABLE session (key INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, dev_id TEXT NOT NULL, state TEXT NOT NULL,
    initiator TEXT NOT NULL, doc TEXT NOT NULL, outcome TEXT, reason TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
  CREATE INDEX session_by_state ON session (state, updated_at);
  CREATE INDEX session_by_device ON session (dev_id, state);
  CREATE TABLE upload (session_key INTEGER NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL, format TEXT, type TEXT, PRIMARY KEY (session_key, idx));`;

export type SessionState = "pending" | "active" | "completed" | "failed" | "aborted";
export type Initiator = "server" | "client" | "browser-component" | "browser";

/** A job command sent in the current package: where its Status (and uploaded data) go. */
export interface InFlight {
  /** Position of the command in the package's CMD list. */
  index: number;
  name: Dm2Command[0];
  jobId: string;
  path: number[];
  target?: string;
  /** An HPOST to the job's own URL: no value comes to this server. */
  elsewhere?: true;
}

export interface SessionDoc {
  /** The session's key in the device's job model (stable while the package ids change). */
  jobSession: string;
  /** Packages sent so far. */
  exchanges: number;
  inFlight: InFlight[];
  sent: number;
  succeeded: number;
  failed: number;
  firstFailure?: string;
  /** The package 0 that asked the device to connect (server- and browser-initiated sessions). */
  notification?: { package0: string; sessionNum: number; createdAt: number };
  /** Sequences of the current package: their own status follows from their children's. */
  sequences: { jobId: string; path: number[]; children: number; outcomes: Record<number, { status?: string; error?: string }> }[];
}

export interface SessionView {
  sessionId: string;
  devId: string;
  state: SessionState;
  initiator: Initiator;
  exchanges: number;
  notification?: SessionDoc["notification"];
  result?: { outcome: "OK" | "failure"; reason?: string; commands: number; succeeded: number; failed: number };
  createdAt: number;
  updatedAt: number;
}

export interface Upload {
  data: string;
  format?: string;
  type?: string;
}

/** An open session that hears nothing for this long is failed and its unanswered commands go back to the queue. */
export const SESSION_IDLE_MS = 10 * 60_000;
/** Finished sessions listed per account (older ones are forgotten). */
const KEEP_FINISHED = 200;

interface Row extends Record<string, SqlStorageValue> {
  key: number;
  id: string;
  dev_id: string;
  state: string;
  initiator: string;
  doc: string;
  outcome: string | null;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

export interface Session {
  key: number;
  id: string;
  devId: string;
  state: SessionState;
  initiator: Initiator;
  doc: SessionDoc;
  updatedAt: number;
}

/** 128 random bits, hex: session ids name a resource and must not be guessable. */
export const newSessionId = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
const emptyDoc = (): SessionDoc => ({ jobSession: `dm2:${newSessionId()}`, exchanges: 0, inFlight: [], sent: 0, succeeded: 0, failed: 0, sequences: [] });

const toSession = (r: Row): Session => ({ key: r.key, id: r.id, devId: r.dev_id, state: r.state as SessionState, initiator: r.initiator as Initiator, doc: JSON.parse(r.doc), updatedAt: r.updated_at });

function view(r: Row): SessionView {
  const doc: SessionDoc = JSON.parse(r.doc);
  return {
    sessionId: r.id,
    devId: r.dev_id,
    state: r.state as SessionState,
    initiator: r.initiator as Initiator,
    exchanges: doc.exchanges,
    ...(doc.notification ? { notification: doc.notification } : {}),
    ...(r.outcome ? { result: { outcome: r.outcome as "OK" | "failure", ...(r.reason ? { reason: r.reason } : {}), commands: doc.sent, succeeded: doc.succeeded, failed: doc.failed } } : {}),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export class SessionStore {
  constructor(private readonly sql: SqlStorage) {}

  byId(id: string): Session | undefined {
    const r = one<Row>(this.sql, "SELECT * FROM session WHERE id = ?", id);
    return r ? toSession(r) : undefined;
  }

  /** The device's session that is pending or active, if any. */
  openFor(devId: string): Session | undefined {
    const r = one<Row>(this.sql, "SELECT * FROM session WHERE dev_id = ? AND state IN ('pending', 'active') ORDER BY key DESC LIMIT 1", devId);
    return r ? toSession(r) : undefined;
  }

  pending(devId: string, initiator: Initiator): Session {
    const now = Date.now();
    this.sql.exec("INSERT INTO session (id, dev_id, state, initiator, doc, created_at, updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?)",
      newSessionId(), devId, initiator, JSON.stringify(emptyDoc()), now, now);
    return this.openFor(devId)!;
  }

  /** A session becomes active under a fresh id (a pending one keeps its row and history). */
  activate(s: Session, initiator: Initiator): Session {
    const id = newSessionId();
    this.sql.exec("UPDATE session SET id = ?, state = 'active', initiator = ?, updated_at = ? WHERE key = ?", id, s.state === "pending" && s.initiator !== "client" ? s.initiator : initiator, Date.now(), s.key);
    return toSession(one<Row>(this.sql, "SELECT * FROM session WHERE key = ?", s.key)!);
  }

  setDoc(s: Session, doc: SessionDoc): void {
    this.sql.exec("UPDATE session SET doc = ?, updated_at = ? WHERE key = ?", JSON.stringify(doc), Date.now(), s.key);
  }

  /** The next package goes out: what was uploaded for the last one has been recorded on the jobs. */
  clearUploads(s: Session): void {
    this.sql.exec("DELETE FROM upload WHERE session_key = ?", s.key);
  }

  /** The current package is being answered: its id is spent, and the next package gets a fresh one. */
  advance(s: Session, doc: SessionDoc): Session {
    const id = newSessionId();
    this.sql.exec("UPDATE session SET id = ?, doc = ?, updated_at = ? WHERE key = ?", id, JSON.stringify(doc), Date.now(), s.key);
    return { ...s, id, doc, updatedAt: Date.now() };
  }

  finish(s: Session, state: Exclude<SessionState, "pending" | "active">, doc: SessionDoc, reason?: string): SessionView {
    const outcome = state === "completed" && doc.failed === 0 ? "OK" : "failure";
    const why = reason ?? (doc.failed ? `${doc.failed} of ${doc.sent} commands failed${doc.firstFailure ? ` (first: ${doc.firstFailure})` : ""}` : undefined);
    this.sql.exec("UPDATE session SET state = ?, doc = ?, outcome = ?, reason = ?, updated_at = ? WHERE key = ?", state, JSON.stringify(doc), outcome, why ?? null, Date.now(), s.key);
    this.sql.exec("DELETE FROM upload WHERE session_key = ?", s.key);
    this.sql.exec(`DELETE FROM session WHERE state NOT IN ('pending', 'active') AND key NOT IN
      (SELECT key FROM session WHERE state NOT IN ('pending', 'active') ORDER BY key DESC LIMIT ${KEEP_FINISHED})`);
    return view(one<Row>(this.sql, "SELECT * FROM session WHERE key = ?", s.key)!);
  }

  list(states: SessionState[]): SessionView[] {
    return this.sql.exec<Row>(`SELECT * FROM session WHERE state IN (${states.map(() => "?").join(",")}) ORDER BY key DESC`, ...states).toArray().map(view);
  }

  view(s: Session): SessionView {
    return view(one<Row>(this.sql, "SELECT * FROM session WHERE key = ?", s.key)!);
  }

  putUpload(s: Session, idx: number, u: Upload): void {
    this.sql.exec("INSERT OR REPLACE INTO upload (session_key, idx, data, format, type) VALUES (?, ?, ?, ?, ?)", s.key, idx, u.data, u.format ?? null, u.type ?? null);
  }

  uploads(sessionKey: number): Map<number, Upload> {
    const m = new Map<number, Upload>();
    for (const r of this.sql.exec<{ idx: number; data: string; format: string | null; type: string | null }>("SELECT idx, data, format, type FROM upload WHERE session_key = ?", sessionKey)) {
      m.set(r.idx, { data: r.data, ...(r.format ? { format: r.format } : {}), ...(r.type ? { type: r.type } : {}) });
    }
    return m;
  }

  /** Active sessions idle for longer than {@link SESSION_IDLE_MS}. */
  idle(now = Date.now()): Session[] {
    return this.sql.exec<Row>("SELECT * FROM session WHERE state = 'active' AND updated_at < ?", now - SESSION_IDLE_MS).toArray().map(toSession);
  }

  nextIdleDeadline(): number | undefined {
    const r = one<{ t: number | null }>(this.sql, "SELECT MIN(updated_at) AS t FROM session WHERE state = 'active'");
    return r?.t ? r.t + SESSION_IDLE_MS : undefined;
  }

  removeDevice(devId: string): void {
    this.sql.exec("DELETE FROM upload WHERE session_key IN (SELECT key FROM session WHERE dev_id = ?)", devId);
    this.sql.exec("DELETE FROM session WHERE dev_id = ?", devId);
  }
}
