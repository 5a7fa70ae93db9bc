// One bucket of the activation-code index (HLF-TE-005): the live codes whose SHA-256 falls in this
// bucket (activation-code-index.ts picks it), each as its hash, the secondary that asked for it,
// that secondary's MNO and the expiry. Only the hash is kept: the code is a secret and the index
// needs no more than equality. (A six-digit code is found again from its hash by trying 10⁶ values,
// so the hash keeps codes out of storage, exports and logs, not from someone who reads the storage
// within the code's five minutes.)
//
// Each operation is one synchronous turn of the object (nothing awaited), so it is atomic:
//   issue:  one upsert, refused while another live code has the same hash (the caller draws again);
//   redeem: the row is read and, unless it is the primary's own code (self-twinning is refused
//           without spending it), deleted in the same turn: of any number of primaries that present
//           the same code at once, exactly one gets the secondary back;
//   revoke: deleted if the secondary still holds it.
// A guess (a code that is not live here) reads and writes nothing.
//
// Expired rows: redemption refuses them, so they only take room. They are deleted
//   - inline, by a write that happens anyway (issue, spend, revoke), at most once a minute per
//     instance: the purge joins that write's commit and costs no commit of its own;
//   - by one alarm per bucket, at most every SWEEP_MS while rows remain, for a bucket that stops
//     being written: set by an issue when the bucket has none (read once as an instance starts),
//     so a bucket that takes codes pays one alarm write per SWEEP_MS, not one per code, and not
//     re-armed by a run that leaves the bucket empty. So an expired row is gone at most SWEEP_MS after its
//     expiry, and a guess never causes a write.
import { one, type StoreSchema } from "../http/sql";
import type { Mno } from "./schemas";

export interface IssuedCode {
  secondary: string;
  mno: Mno;
  expiresAt: number;
}

export type Redemption =
  | { outcome: "redeemed"; secondary: string; mno: Mno }
  | { outcome: "invalid" }
  | { outcome: "self" };

export const CODE_BUCKET_SCHEMA: StoreSchema = {
  name: "activation-code-bucket",
  steps: [
    `CREATE TABLE bucket_code (hash TEXT PRIMARY KEY, secondary TEXT NOT NULL, mcc TEXT NOT NULL, mnc TEXT NOT NULL,
       expires_at INTEGER NOT NULL) WITHOUT ROWID;
     CREATE INDEX bucket_code_expiry ON bucket_code (expires_at);`,
  ],
};

/** Longest time between two runs of a bucket's clean-up alarm while it holds rows. */
export const SWEEP_MS = 10 * 60_000;
/** Shortest time between two inline purges of one instance. */
const PURGE_EVERY_MS = 60_000;

interface BucketRow extends Record<string, SqlStorageValue> {
  secondary: string;
  mcc: string;
  mnc: string;
  expires_at: number;
}

export class CodeBucket {
  /** When this instance last purged expired rows (0: not yet; its first write does). */
  private purgedAt = 0;
  /** The clean-up alarm this instance knows of: a time, or undefined when it knows of none. */
  private alarmAt: number | undefined;

  /**
   * `hasTable`: the bucket was written before (its schema is applied by the caller on its first
   * write, see ActivationCodeObject); reads of a bucket without it find nothing.
   */
  constructor(
    private readonly storage: DurableObjectStorage,
    private hasTable: boolean,
    private readonly ensureSchema: () => void,
  ) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  private live(hash: string, now: number): BucketRow | undefined {
    if (!this.hasTable) return undefined;
    const row = one<BucketRow>(this.sql, "SELECT secondary, mcc, mnc, expires_at FROM bucket_code WHERE hash = ?", hash);
    return row && row.expires_at > now ? row : undefined;
  }

  /** Before a write: the schema, and the inline purge when it is due (it joins the write's commit). */
  private beforeWrite(now: number): void {
    if (!this.hasTable) {
      this.ensureSchema();
      this.hasTable = true;
    }
    if (now - this.purgedAt < PURGE_EVERY_MS) return;
    this.purgedAt = now;
    this.sql.exec("DELETE FROM bucket_code WHERE expires_at <= ?", now);
  }

  /** The alarm the storage holds, read as the instance starts: a fresh instance does not move it. */
  alarmFound(at: number | null): void {
    this.alarmAt = at ?? undefined;
  }

  /** Binds `hash` to the secondary unless another live code has it. False on collision. */
  issue(hash: string, code: IssuedCode, now = Date.now()): boolean {
    this.beforeWrite(now);
    // One statement: an expired row with this hash is replaced, a live one is left and nothing returns.
    const written = this.sql.exec(
      `INSERT INTO bucket_code (hash, secondary, mcc, mnc, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (hash) DO UPDATE SET secondary = excluded.secondary, mcc = excluded.mcc, mnc = excluded.mnc, expires_at = excluded.expires_at
       WHERE bucket_code.expires_at <= ?
       RETURNING 1`,
      hash, code.secondary, code.mno.mcc, code.mno.mnc, code.expiresAt, now,
    ).toArray().length > 0;
    if (written && this.alarmAt === undefined) {
      this.alarmAt = Math.max(now + SWEEP_MS, code.expiresAt);
      // Joins the insert's commit (not awaited).
      void this.storage.setAlarm(this.alarmAt);
    }
    return written;
  }

  /** Spends the code for `primary`; its own code is refused without spending it. */
  redeem(hash: string, primary: string, now = Date.now()): Redemption {
    const row = this.live(hash, now);
    if (!row) return { outcome: "invalid" };
    if (row.secondary === primary) return { outcome: "self" };
    this.beforeWrite(now);
    this.sql.exec("DELETE FROM bucket_code WHERE hash = ?", hash);
    return { outcome: "redeemed", secondary: row.secondary, mno: { mcc: row.mcc, mnc: row.mnc } };
  }

  /** Deletes the code if `secondary` still holds it; whether it did. */
  revoke(hash: string, secondary: string, now = Date.now()): boolean {
    if (this.live(hash, now)?.secondary !== secondary) return false;
    this.beforeWrite(now);
    this.sql.exec("DELETE FROM bucket_code WHERE hash = ?", hash);
    return true;
  }

  /** The clean-up alarm: expired rows go; while rows remain, the next run is SWEEP_MS away (or at the next expiry, if later). */
  sweep(now = Date.now()): void {
    // The runtime deletes the alarm when this run ends, unless the run sets another.
    this.alarmAt = undefined;
    if (!this.hasTable) return;
    this.purgedAt = now;
    this.sql.exec("DELETE FROM bucket_code WHERE expires_at <= ?", now);
    const next = one<{ at: number | null }>(this.sql, "SELECT min(expires_at) AS at FROM bucket_code")?.at;
    if (next === null || next === undefined) return;
    this.alarmAt = Math.max(now + SWEEP_MS, next);
    void this.storage.setAlarm(this.alarmAt);
  }
}
