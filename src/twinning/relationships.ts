// The subscriber's twinning relationships, in both roles (HLF-TE-008/009). As a primary: its twin
// rows (the commit point of each relationship, its status and version) and its reservations of
// activations in flight. As a secondary: its one relationship row, `pending` from the prepare step
// of an activation until the primary's decision reaches it, then `active`.
//
// A reservation lives in memory while the request that made it runs (presumed abort: the primary
// writes nothing before its decision, and an activation it has no trace of is aborted). One that
// must outlive its request (an activation waiting on a remote side) is written to `reservation`,
// and the alarm aborts it at its deadline.
import { notFound } from "../http/errors";
import { one, type StoreSchema } from "../http/sql";
import type { Mno, TwinningStatus } from "./schemas";

/** What a subscriber holds of an activation, and who is on its other side (see Relationships.counterpart). */
export interface Counterpart {
  other: string;
  as: "twin" | "relationship" | "reservation";
}

export const RELATIONSHIPS_SCHEMA: StoreSchema = {
  name: "relationships",
  steps: [
    `CREATE TABLE twin (secondary TEXT PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE UNIQUE, status TEXT NOT NULL,
       version INTEGER NOT NULL, activation_id TEXT NOT NULL UNIQUE, mcc TEXT NOT NULL, mnc TEXT NOT NULL,
       activated_at INTEGER NOT NULL, changed_at INTEGER NOT NULL, changed_by TEXT NOT NULL);
     CREATE TABLE reservation (activation_id TEXT PRIMARY KEY, name TEXT NOT NULL COLLATE NOCASE UNIQUE,
       secondary TEXT, deadline INTEGER NOT NULL);
     CREATE TABLE relationship (id INTEGER PRIMARY KEY CHECK (id = 1), activation_id TEXT NOT NULL, primary_address TEXT NOT NULL,
       mcc TEXT NOT NULL, mnc TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
       state TEXT NOT NULL, deadline INTEGER, activated_at INTEGER NOT NULL, changed_at INTEGER NOT NULL, changed_by TEXT NOT NULL);`,
    // the activation code a secondary's relationship came from: its device grant (RFC 8628) waits on it
    `ALTER TABLE relationship ADD COLUMN via_code TEXT;`,
    // the SHA-256 of the code a primary's twin was activated with: a retry of that activation gets the same twin
    `ALTER TABLE twin ADD COLUMN code_hash TEXT;`,
  ],
};

export type Actor = "primary" | "secondary";

export interface TwinRow extends Record<string, SqlStorageValue> {
  secondary: string;
  name: string;
  status: TwinningStatus;
  version: number;
  activation_id: string;
  mcc: string;
  mnc: string;
  activated_at: number;
  changed_at: number;
  changed_by: Actor;
  code_hash: string | null;
}

export interface RelationshipRow extends Record<string, SqlStorageValue> {
  activation_id: string;
  primary_address: string;
  mcc: string;
  mnc: string;
  name: string;
  status: TwinningStatus;
  version: number;
  state: "pending" | "active";
  deadline: number | null;
  activated_at: number;
  changed_at: number;
  changed_by: Actor;
  via_code: string | null;
}

export interface StatusChange {
  status: TwinningStatus;
  version: number;
  at: number;
  by: Actor;
}

export interface Reservation {
  activationId: string;
  name: string;
  secondary?: string;
  deadline: number;
}

export class RelationshipStore {
  /** Reservations of the activations this instance is running (see the top of the file). */
  private readonly inFlight = new Map<string, Reservation>();
  /** The secondary's one row, read once per instance: every read of the relationship needs it. */
  private relCache: RelationshipRow | null | undefined;
  /** The earliest written reservation's deadline: null for none, undefined when not read yet. */
  private reservedMin: number | null | undefined;

  constructor(private readonly sql: SqlStorage) {}

  // ------------------------------------------------------------ roles

  isSecondary(): boolean {
    return this.relationship() !== undefined;
  }

  isPrimary(): boolean {
    return this.inFlight.size > 0 || !!one(this.sql, "SELECT 1 AS x FROM twin UNION ALL SELECT 1 FROM reservation LIMIT 1");
  }

  role(): "none" | "primary" | "secondary" {
    return this.isSecondary() ? "secondary" : this.isPrimary() ? "primary" : "none";
  }

  // ------------------------------------------------------------ primary: reservations and twins

  nameTaken(name: string): boolean {
    const lower = name.toLowerCase();
    for (const r of this.inFlight.values()) if (r.name.toLowerCase() === lower) return true;
    return !!one(this.sql, "SELECT 1 AS x FROM twin WHERE name = ? UNION ALL SELECT 1 FROM reservation WHERE name = ?", name, name);
  }

  /** HLF-TE-007: "twin-N" with the smallest N not in use. */
  defaultName(): string {
    for (let n = 1; ; n++) if (!this.nameTaken(`twin-${n}`)) return `twin-${n}`;
  }

  reserve(r: Reservation): void {
    this.inFlight.set(r.activationId, r);
  }

  reservation(activationId: string): Reservation | undefined {
    return this.inFlight.get(activationId);
  }

  /**
   * Drops a reservation wherever it is kept; false when there was none (it was aborted). Writes
   * only for a written reservation (call that inside a transaction).
   */
  dropReservation(activationId: string): boolean {
    if (this.inFlight.delete(activationId)) return true;
    if (!one(this.sql, "SELECT 1 AS x FROM reservation WHERE activation_id = ?", activationId)) return false;
    this.sql.exec("DELETE FROM reservation WHERE activation_id = ?", activationId);
    this.reservedMin = undefined;
    return true;
  }

  /** Whether a reservation of `activationId` is written (it outlives its request). */
  reservationWritten(activationId: string): boolean {
    return !!one(this.sql, "SELECT 1 AS x FROM reservation WHERE activation_id = ?", activationId);
  }

  /** Written reservations past their deadline (the alarm aborts them). */
  expiredReservations(now: number): Reservation[] {
    return this.sql
      .exec<{ activation_id: string; name: string; secondary: string | null; deadline: number }>("SELECT * FROM reservation WHERE deadline <= ?", now)
      .toArray()
      .map((r) => ({ activationId: r.activation_id, name: r.name, deadline: r.deadline, ...(r.secondary ? { secondary: r.secondary } : {}) }));
  }

  /** Every reservation, written or in memory (deprovisioning aborts them all). */
  allReservations(): Reservation[] {
    return [...this.inFlight.values(), ...this.expiredReservations(Number.MAX_SAFE_INTEGER)];
  }

  /** `codeHash`: the SHA-256 (hex) of the activation code it was made with (twinActivatedWith). */
  insertTwin(t: { secondary: string; name: string; activationId: string; mno: Mno; at: number; codeHash: string }): void {
    this.sql.exec(
      `INSERT INTO twin (secondary, name, status, version, activation_id, mcc, mnc, activated_at, changed_at, changed_by, code_hash)
       VALUES (?, ?, 'On', 1, ?, ?, ?, ?, ?, 'primary', ?)`,
      t.secondary, t.name, t.activationId, t.mno.mcc, t.mno.mnc, t.at, t.at, t.codeHash,
    );
  }

  /** The twin this primary activated with the code of hash `codeHash` since `since` (ms), if it still exists. */
  twinActivatedWith(codeHash: string, since: number): TwinRow | undefined {
    return one<TwinRow>(this.sql, "SELECT * FROM twin WHERE code_hash = ? AND activated_at >= ?", codeHash, since);
  }

  hasTwin(activationId: string): boolean {
    return !!one(this.sql, "SELECT 1 AS x FROM twin WHERE activation_id = ?", activationId);
  }

  /** By the secondary's address or by name (HLF-PD-005); 404 naming twinId when there is none. */
  findTwin(twinId: string): TwinRow {
    // A secondary at a peer operator is kept as "peer:<mcc>-<mnc>:tel:+..." (outbox.ts); devices name it by its address.
    const row = twinId.startsWith("tel:") || twinId.startsWith("peer:")
      ? one<TwinRow>(
          this.sql,
          // Exact: the address is compared as text, never as a LIKE pattern (a "%" in it would match any twin).
          "SELECT * FROM twin WHERE secondary = ? OR (secondary LIKE 'peer:%' AND substr(secondary, -length(?) - 1) = ':' || ?)",
          twinId, twinId, twinId,
        )
      : one<TwinRow>(this.sql, "SELECT * FROM twin WHERE name = ?", twinId);
    if (!row) throw notFound("twinId", twinId);
    return row;
  }

  twinOf(secondary: string, activationId: string): TwinRow | undefined {
    return one<TwinRow>(this.sql, "SELECT * FROM twin WHERE secondary = ? AND activation_id = ?", secondary, activationId);
  }

  twins(): TwinRow[] {
    return this.sql.exec<TwinRow>("SELECT * FROM twin ORDER BY activated_at, secondary").toArray();
  }

  /** The one place a twin's status changes. Undefined when it already was `status`. */
  changeTwinStatus(twin: TwinRow, status: TwinningStatus, by: Actor): StatusChange | undefined {
    if (twin.status === status) return undefined;
    const change: StatusChange = { status, version: twin.version + 1, at: Date.now(), by };
    this.sql.exec("UPDATE twin SET status = ?, version = ?, changed_at = ?, changed_by = ? WHERE secondary = ?", status, change.version, change.at, by, twin.secondary);
    return change;
  }

  currentChange(twin: TwinRow): StatusChange {
    return { status: twin.status, version: twin.version, at: twin.changed_at, by: twin.changed_by };
  }

  deleteTwin(secondary: string): void {
    this.sql.exec("DELETE FROM twin WHERE secondary = ?", secondary);
  }

  /**
   * The other side of activation `activationId` ("tel:+..." or "peer:<mcc>-<mnc>:tel:+...") and what
   * this subscriber holds of it: a twin row (it is the primary), its relationship row (it is the
   * secondary) or a reservation (an activation in flight); undefined when none is known.
   */
  counterpart(activationId: string): Counterpart | undefined {
    const twin = this.twins().find((t) => t.activation_id === activationId);
    if (twin) return { other: twin.secondary, as: "twin" };
    const rel = this.relationship();
    if (rel?.activation_id === activationId) return { other: rel.primary_address, as: "relationship" };
    const secondary = this.allReservations().find((r) => r.activationId === activationId)?.secondary;
    return secondary ? { other: secondary, as: "reservation" } : undefined;
  }

  // ------------------------------------------------------------ secondary: the one relationship

  relationship(): RelationshipRow | undefined {
    if (this.relCache === undefined) this.relCache = one<RelationshipRow>(this.sql, "SELECT * FROM relationship") ?? null;
    return this.relCache ?? undefined;
  }

  activeRelationship(): RelationshipRow {
    const rel = this.relationship();
    if (!rel || rel.state !== "active") throw notFound("relationship", "twinning relationship");
    return rel;
  }

  /** The prepare step's claim: pending until the primary's decision reaches this object. */
  claim(c: { activationId: string; primary: string; primaryMno: Mno; name: string; activatedAt: number; code: string; deadline: number }): void {
    this.sql.exec(
      `INSERT INTO relationship (id, activation_id, primary_address, mcc, mnc, name, status, version, state, deadline, activated_at, changed_at, changed_by, via_code)
       VALUES (1, ?, ?, ?, ?, ?, 'On', 1, 'pending', ?, ?, ?, 'primary', ?)`,
      c.activationId, c.primary, c.primaryMno.mcc, c.primaryMno.mnc, c.name, c.deadline, c.activatedAt, c.activatedAt, c.code,
    );
    this.relCache = undefined;
  }

  /** pending → active; false when there was no such pending claim. */
  confirm(activationId: string): boolean {
    const done = this.sql.exec("UPDATE relationship SET state = 'active', deadline = NULL WHERE activation_id = ? AND state = 'pending'", activationId).rowsWritten > 0;
    if (done) this.relCache = undefined;
    return done;
  }

  /** Removes the relationship `activationId` (only while pending, with `pendingOnly`); the removed row. */
  end(activationId: string, pendingOnly = false): RelationshipRow | undefined {
    const rel = this.relationship();
    if (!rel || rel.activation_id !== activationId || (pendingOnly && rel.state !== "pending")) return undefined;
    this.sql.exec("DELETE FROM relationship");
    this.relCache = null;
    return rel;
  }

  /** A status decided by the primary; older versions are ignored (concurrent toggles converge). */
  applyStatus(activationId: string, change: StatusChange): RelationshipRow | undefined {
    const rel = one<RelationshipRow>(
      this.sql,
      "UPDATE relationship SET status = ?, version = ?, changed_at = ?, changed_by = ? WHERE activation_id = ? AND version < ? RETURNING *",
      change.status, change.version, change.at, change.by, activationId, change.version,
    );
    if (!rel) return undefined;
    this.relCache = rel; // the table holds one row: the one just updated
    return rel.state === "active" ? rel : undefined;
  }

  postponePending(activationId: string, deadline: number): void {
    this.sql.exec("UPDATE relationship SET deadline = ? WHERE activation_id = ? AND state = 'pending'", deadline, activationId);
    this.relCache = undefined;
  }

  /** Forgets what was read from SQLite (the alarm starts from the stored truth). */
  invalidate(): void {
    this.relCache = undefined;
    this.reservedMin = undefined;
  }

  /** A token bound to this activation is live while either side's row of it exists (HLF-TE-004). */
  bindingLive(activationId: string): boolean {
    const rel = this.relationship();
    if (rel) return rel.activation_id === activationId && rel.state === "active";
    return this.hasTwin(activationId);
  }

  /** Deprovisioning: every row of both roles goes. */
  clear(): void {
    this.inFlight.clear();
    this.sql.exec("DELETE FROM twin; DELETE FROM reservation; DELETE FROM relationship;");
    this.relCache = null;
    this.reservedMin = null;
  }

  /** Written reservation deadlines and the pending claim's deadline. */
  nextDue(): number | undefined {
    const rel = this.relationship();
    const pending = rel?.state === "pending" ? (rel.deadline ?? undefined) : undefined;
    // Nothing adds written reservations any more (only older data has them), so their earliest
    // deadline is read once per instance and again only after one was deleted.
    if (this.reservedMin === undefined) this.reservedMin = one<{ t: number | null }>(this.sql, "SELECT MIN(deadline) AS t FROM reservation")?.t ?? null;
    const reserved = this.reservedMin ?? undefined;
    const due = [pending, reserved].filter((t): t is number => t !== undefined);
    return due.length ? Math.min(...due) : undefined;
  }
}
