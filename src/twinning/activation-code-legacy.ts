// The activation-code index before the buckets: one object per live code, named by the code, with
// a one-row `code` table and a clean-up alarm, erased (deleteAll) when the code is spent, revoked
// or expired. Kept only while such objects can still hold a live code:
//   - codes issued before the bucket index was deployed live ACTIVATION_CODE_TTL_SECONDS (300 s by
//     default) longer: redemption and revocation fall back to the object named by the code on a
//     miss in the bucket (activation-code-index.ts);
//   - during a gradual deployment a Worker of the previous version still calls `issue`, `redeem`
//     and `revoke` on the object named by the code (ActivationCodeObject keeps those methods);
//   - each object's own alarm (expiry + 60 s) still erases it.
// REMOVE this file, the fallback and the methods once the previous version has been gone for the
// TTL plus an hour (the clean-up alarms' retries): then no object named by a code holds anything.
import type { IssuedCode, Redemption } from "./activation-code-bucket";
import { hasTable } from "../http/sql";

interface CodeRow extends Record<string, SqlStorageValue> {
  secondary: string;
  mcc: string;
  mnc: string;
  expires_at: number;
}

/** How long an expired code's row may linger before its alarm erases it. */
const CLEANUP_GRACE_MS = 60_000;

export class LegacyCodeObject {
  constructor(private readonly storage: DurableObjectStorage) {}

  /** The live code, or undefined. One statement, and no write, whether or not a code was ever issued. */
  row(): CodeRow | undefined {
    try {
      // SELECT *: objects written by the first schema also have a `state` (they kept spent codes as rows).
      const row = this.storage.sql.exec<CodeRow & { state?: string }>("SELECT * FROM code").toArray()[0];
      return row && (row.state === undefined || row.state === "live") ? row : undefined;
    } catch {
      // No table: this code was never issued here, or it was spent or revoked and erased.
      return undefined;
    }
  }

  /** Whether this object holds a `code` table at all (live, expired, or the first schema's spent row). */
  exists(): boolean {
    return hasTable(this.storage.sql, "code");
  }

  /** Erases the object: data and alarm (deleteAll removes both from compatibility date 2026-02-24). */
  private erase(): Promise<void> {
    return this.storage.deleteAll();
  }

  /** The previous version's issue: binds this code unless another secondary holds it live. */
  issue(code: IssuedCode): boolean {
    const existing = this.row();
    if (existing && existing.expires_at > Date.now()) return false;
    const sql = this.storage.sql;
    // No live code here, so whatever table there is (an expired row, or the first schema's spent
    // one with its _schema row) can go; the new row is written in the same commit.
    sql.exec("DROP TABLE IF EXISTS code; DROP TABLE IF EXISTS _schema");
    sql.exec(`CREATE TABLE code (id INTEGER PRIMARY KEY CHECK (id = 1), secondary TEXT NOT NULL, mcc TEXT NOT NULL,
      mnc TEXT NOT NULL, expires_at INTEGER NOT NULL)`);
    sql.exec("INSERT INTO code (id, secondary, mcc, mnc, expires_at) VALUES (1, ?, ?, ?, ?)", code.secondary, code.mno.mcc, code.mno.mnc, code.expiresAt);
    // Joins the write above in one commit (no await in between).
    void this.storage.setAlarm(code.expiresAt + CLEANUP_GRACE_MS);
    return true;
  }

  /** Spends the code for `primary`, if this object holds it live; undefined when it does not. */
  async redeem(primary: string): Promise<Redemption | undefined> {
    const row = this.row();
    if (!row || row.expires_at <= Date.now()) return undefined;
    if (row.secondary === primary) return { outcome: "self" };
    await this.erase();
    return { outcome: "redeemed", secondary: row.secondary, mno: { mcc: row.mcc, mnc: row.mnc } };
  }

  /** Revokes the code if `secondary` holds it here; whether it did. */
  async revoke(secondary: string): Promise<boolean> {
    if (this.row()?.secondary !== secondary) return false;
    await this.erase();
    return true;
  }

  /** The object's clean-up alarm: erased once the code has expired. */
  async alarm(): Promise<void> {
    const row = this.row();
    if (row && row.expires_at > Date.now()) {
      await this.storage.setAlarm(row.expires_at + CLEANUP_GRACE_MS);
      return;
    }
    await this.erase();
  }
}
