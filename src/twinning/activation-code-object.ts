// One object per live activation code, named by the code: the index from a code to the secondary
// that asked for it. It makes redemption one-time (HLF-TE-005): of any number of primaries that
// present the same code at once, exactly one gets the secondary back.
//
// A code that is not live leaves nothing behind: the object creates its table only when a code is
// issued, and erases its whole storage (row and clean-up alarm) when the code is spent, revoked or
// expired. So a never-issued code and a used or revoked one are answered by the same path (one
// read of an empty object, no write), and guessing codes persists no objects.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
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

interface CodeRow extends Record<string, SqlStorageValue> {
  secondary: string;
  mcc: string;
  mnc: string;
  expires_at: number;
}

/** How long an expired code's row may linger before its alarm erases it. */
const CLEANUP_GRACE_MS = 60_000;

export class ActivationCodeObject extends DurableObject<Env> {
  /** The live code, or undefined. One statement, and no write, whether or not a code was ever issued. */
  private row(): CodeRow | undefined {
    try {
      // SELECT *: objects written by the first schema also have a `state` (they kept spent codes as rows).
      const row = this.ctx.storage.sql.exec<CodeRow & { state?: string }>("SELECT * FROM code").toArray()[0];
      return row && (row.state === undefined || row.state === "live") ? row : undefined;
    } catch {
      // No table: this code was never issued, or it was spent or revoked and erased.
      return undefined;
    }
  }

  /** Erases the object: data and alarm (deleteAll removes both from compatibility date 2026-02-24). */
  private erase(): Promise<void> {
    return this.ctx.storage.deleteAll();
  }

  /** Binds this code to `secondary` unless another secondary holds it live. False on collision. */
  async issue(code: IssuedCode): Promise<boolean> {
    const existing = this.row();
    if (existing && existing.expires_at > Date.now()) return false;
    const sql = this.ctx.storage.sql;
    // No live code here, so whatever table there is (an expired row, or the first schema's spent
    // one with its _schema row) can go; the new row is written in the same commit.
    sql.exec("DROP TABLE IF EXISTS code; DROP TABLE IF EXISTS _schema");
    sql.exec(`CREATE TABLE code (id INTEGER PRIMARY KEY CHECK (id = 1), secondary TEXT NOT NULL, mcc TEXT NOT NULL,
      mnc TEXT NOT NULL, expires_at INTEGER NOT NULL)`);
    sql.exec(
      `INSERT INTO code (id, secondary, mcc, mnc, expires_at) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET secondary = excluded.secondary, mcc = excluded.mcc, mnc = excluded.mnc, expires_at = excluded.expires_at`,
      code.secondary, code.mno.mcc, code.mno.mnc, code.expiresAt,
    );
    // Joins the write above in one commit (no await in between).
    void this.ctx.storage.setAlarm(code.expiresAt + CLEANUP_GRACE_MS);
    return true;
  }

  /**
   * Spends the code for `primary`. Self-twinning is refused without spending it, so the
   * secondary can still hand the code to its real primary.
   */
  async redeem(primary: string): Promise<Redemption> {
    const row = this.row();
    if (!row || row.expires_at <= Date.now()) return { outcome: "invalid" };
    if (row.secondary === primary) return { outcome: "self" };
    await this.erase();
    return { outcome: "redeemed", secondary: row.secondary, mno: { mcc: row.mcc, mnc: row.mnc } };
  }

  /** Revokes the code if `secondary` still holds it (a newer code replaced it, or it became a primary). */
  async revoke(secondary: string): Promise<void> {
    if (this.row()?.secondary === secondary) await this.erase();
  }

  override async alarm(): Promise<void> {
    const row = this.row();
    if (row && row.expires_at > Date.now()) {
      await this.ctx.storage.setAlarm(row.expires_at + CLEANUP_GRACE_MS);
      return;
    }
    await this.erase();
  }
}
