// The transactional outbox of a subscriber object: facts that span two subscribers (a status the
// primary decided, a relationship that ended, an activation that was aborted) are written here in
// the same transaction as the change, then delivered; every receiver is idempotent, so a message
// may arrive twice but is never lost.
//
// Seams for inter-MNO twinning (federation):
// - A message is addressed to a Destination: a subscriber of this gateway, or a subscriber at a
//   peer operator. Targets are stored as text: "tel:+..." (local) or "peer:<mcc>-<mnc>:tel:+..."
//   (see targetOf / destinationOf).
// - Local messages are RPC calls on the receiver's SubscriberObject. Messages to a peer go through
//   the PeerTransport that the federation capability registers with usePeerTransport() when the
//   app is mounted; until one is registered they stay queued and are retried with backoff.
// - Each message type names the receiver's method; a PeerTransport carries the same typed message
//   to the peer gateway, which applies it to its own subscriber object.
//
// Delivery: a message written for inline delivery is leased to the request that wrote it for
// INLINE_LEASE_MS; the request delivers it right after its commit. A delivered row is only marked
// in memory and deleted by the object's next transaction (or its alarm), so success costs no commit
// of its own. A failed delivery, or a lease that ran out, is retried by the alarm with backoff.
import type { Env } from "../env";
import { backoffDelay } from "../http/backoff";
import { one, type StoreSchema } from "../http/sql";
import { withDeadline } from "../notify/queue";
import type { Actor, StatusChange } from "./relationships";
import { subscriberStub } from "../residency";

export const OUTBOX_SCHEMA: StoreSchema = {
  name: "outbox",
  steps: [
    `CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, message TEXT NOT NULL,
       attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL);`,
  ],
};

/** Messages one subscriber object sends another; each names the receiver's method. */
export type OutboxMessage =
  | { method: "confirmActivation"; activationId: string }
  | { method: "abortActivation"; activationId: string }
  | { method: "applyStatus"; activationId: string; change: StatusChange }
  | { method: "relationshipEnded"; activationId: string; by?: Actor }
  | { method: "secondaryLeft"; secondary: string; activationId: string };

export type Destination = { kind: "subscriber"; address: string } | { kind: "peer"; mno: string; address: string };

const PEER_TARGET = /^peer:([0-9]{3}-[0-9]{2,3}):(tel:\+[0-9]+)$/;

export function targetOf(d: Destination): string {
  return d.kind === "subscriber" ? d.address : `peer:${d.mno}:${d.address}`;
}

export function destinationOf(target: string): Destination {
  const peer = target.match(PEER_TARGET);
  return peer ? { kind: "peer", mno: peer[1]!, address: peer[2]! } : { kind: "subscriber", address: target };
}

/** The subscriber's own address, without the peer prefix (what devices and notifications see). */
export const addressOf = (target: string): string => destinationOf(target).address;

/** Carries a message to a subscriber at a peer operator (implemented by the federation capability). */
export interface PeerTransport {
  deliver(env: Env, mno: string, address: string, message: OutboxMessage): Promise<void>;
}

let peerTransport: PeerTransport | undefined;

/** Registers how messages reach peer operators; called once when the app is mounted. */
export function usePeerTransport(transport: PeerTransport): void {
  peerTransport = transport;
}

/** Delivers one message where it is addressed. */
export async function dispatch(env: Env, target: string, message: OutboxMessage): Promise<void> {
  const to = destinationOf(target);
  if (to.kind === "peer") {
    if (!peerTransport) throw new Error(`no transport to peer ${to.mno}`);
    return peerTransport.deliver(env, to.mno, to.address, message);
  }
  const peer = subscriberStub(env, to.address);
  switch (message.method) {
    case "confirmActivation":
      return peer.confirmActivation(message.activationId);
    case "abortActivation":
      return peer.abortActivation(message.activationId);
    case "applyStatus":
      return peer.applyStatus(message.activationId, message.change);
    case "relationshipEnded":
      return peer.relationshipEnded(message.activationId, message.by ?? "primary");
    case "secondaryLeft":
      return peer.secondaryLeft(message.secondary, message.activationId);
  }
}

/** How long the request that wrote a message owns its delivery before the alarm may retry it. */
export const INLINE_LEASE_MS = 10_000;
/** A receiver that has not answered by then is retried later (receivers are idempotent). */
export const DELIVERY_TIMEOUT_MS = 10_000;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 5 * 60_000;
/**
 * A peer operator's gateway that was down is back as a whole, for every object at once: its messages
 * are retried at least this often, so both networks converge soon after it returns (issue 14).
 */
const PEER_RETRY_MAX_MS = 30_000;

interface OutboxRow extends Record<string, SqlStorageValue> {
  id: number;
  target: string;
  message: string;
  attempts: number;
}
type QueuedRow = OutboxRow & { next_at: number };

export class Outbox {
  /** Rows delivered since the last transaction; it deletes them (see the top of the file). */
  private readonly delivered = new Set<number>();
  private draining?: Promise<void>;
  private drainAgain = false;
  /**
   * The table as this instance last read or wrote it, so that a toggle's enqueue, inline delivery and
   * next due time need no statement of their own: read once per instance, kept by every write here,
   * forgotten when a transaction rolls back (forget) and at each alarm run. The drain, the recovery
   * path, always reads the table itself.
   */
  private mirror?: Map<number, QueuedRow>;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {}

  /**
   * Inside the change's transaction. `leaseMs`: 0 for the alarm to deliver now, INLINE_LEASE_MS
   * when the caller delivers it itself right after the commit, more for a delayed repair. A newer
   * status for the same relationship supersedes an undelivered older one. Returns the row id.
   */
  enqueue(target: string, message: OutboxMessage, leaseMs = 0): number {
    const rows = this.rows();
    if (message.method === "applyStatus") {
      for (const row of rows.values()) {
        if (row.target !== target || this.delivered.has(row.id)) continue;
        const m = JSON.parse(row.message) as OutboxMessage;
        if (m.method === "applyStatus" && m.activationId === message.activationId) {
          this.sql.exec("DELETE FROM outbox WHERE id = ?", row.id);
          rows.delete(row.id);
        }
      }
    }
    const text = JSON.stringify(message);
    const nextAt = Date.now() + leaseMs;
    const id = one<{ id: number }>(this.sql, "INSERT INTO outbox (target, message, next_at) VALUES (?, ?, ?) RETURNING id", target, text, nextAt)!.id;
    rows.set(id, { id, target, message: text, attempts: 0, next_at: nextAt });
    return id;
  }

  /** Deletes the rows delivered since the last transaction. Inside a transaction. */
  flushDelivered(): void {
    for (const id of this.delivered) {
      this.sql.exec("DELETE FROM outbox WHERE id = ?", id);
      this.mirror?.delete(id);
    }
    this.delivered.clear();
  }

  private rows(): Map<number, QueuedRow> {
    return (this.mirror ??= new Map(this.sql.exec<QueuedRow>("SELECT id, target, message, attempts, next_at FROM outbox").toArray().map((r) => [r.id, { ...r }])));
  }

  /** Forgets what this instance knows of the table (a transaction that wrote here rolled back, or the alarm starts). */
  forget(): void {
    this.mirror = undefined;
  }

  /** Delivers the given rows now (after the commit that wrote them); false if one failed and waits for a retry. */
  async deliverNow(ids: number[]): Promise<boolean> {
    let ok = true;
    for (const id of ids) {
      const row = this.rows().get(id);
      if (row && !(await this.attempt(row))) ok = false;
    }
    return ok;
  }

  private async attempt(row: OutboxRow): Promise<boolean> {
    try {
      await withDeadline(dispatch(this.env, row.target, JSON.parse(row.message)), DELIVERY_TIMEOUT_MS);
      this.delivered.add(row.id);
      return true;
    } catch (err) {
      const maxMs = destinationOf(row.target).kind === "peer" ? PEER_RETRY_MAX_MS : RETRY_MAX_MS;
      // Whole milliseconds, as the alarm keeps its time: an alarm run in the millisecond it was set for finds the row due.
      const nextAt = Math.ceil(Date.now() + backoffDelay(row.attempts, RETRY_BASE_MS, maxMs));
      this.sql.exec("UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?", nextAt, row.id);
      const known = this.mirror?.get(row.id);
      if (known) Object.assign(known, { attempts: row.attempts + 1, next_at: nextAt });
      console.warn(`outbox delivery failed, attempt ${row.attempts + 1}: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /**
   * Delivers every due message, in order per target; a target whose message failed waits for its
   * retry. One drain runs at a time per object: a caller that finds one running waits for it, and it
   * goes round once more for what became due meanwhile.
   */
  drainDue(): Promise<void> {
    if (this.draining) {
      this.drainAgain = true;
      return this.draining;
    }
    // Cleared in a callback, never synchronously: a drain that finds nothing due completes without
    // awaiting, and clearing `draining` before it is assigned would leave a settled drain in place
    // that every later call returns, so this object would never deliver again.
    const draining = this.drainRounds().finally(() => {
      if (this.draining === draining) this.draining = undefined;
    });
    this.draining = draining;
    return draining;
  }

  private async drainRounds(): Promise<void> {
    do {
      this.drainAgain = false;
      const due = this.sql.exec<OutboxRow>("SELECT id, target, message, attempts FROM outbox WHERE next_at <= ? ORDER BY id", Date.now()).toArray();
      const blocked = new Set<string>();
      for (const row of due) {
        if (blocked.has(row.target) || this.delivered.has(row.id)) continue;
        if (!(await this.attempt(row))) blocked.add(row.target);
      }
    } while (this.drainAgain);
  }

  clear(): void {
    this.sql.exec("DELETE FROM outbox");
    this.delivered.clear();
    this.mirror = new Map();
  }

  /** The earliest queued message's time (delivered rows count until the next transaction deletes them). */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const row of this.rows().values()) if (min === undefined || row.next_at < min) min = row.next_at;
    return min;
  }
}
