// One object per live activation code, named by the code: the index from a code to the secondary
// that asked for it. It makes redemption one-time (HLF-TE-005): of any number of primaries that
// present the same code at once, exactly one gets the secondary back.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";
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
  state: "live" | "used" | "revoked";
}

/** How long a spent code's row is kept after expiry, so a replay is answered without a new object. */
const CLEANUP_GRACE_MS = 60_000;

export class ActivationCodeObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx, [
      `CREATE TABLE code (id INTEGER PRIMARY KEY CHECK (id = 1), secondary TEXT NOT NULL, mcc TEXT NOT NULL,
         mnc TEXT NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL)`,
    ]);
  }

  private row(): CodeRow | undefined {
    return one<CodeRow>(this.ctx.storage.sql, "SELECT * FROM code");
  }

  /** Binds this code to `secondary` unless another secondary holds it live. False on collision. */
  async issue(code: IssuedCode): Promise<boolean> {
    const now = Date.now();
    const existing = this.row();
    if (existing && existing.state === "live" && existing.expires_at > now) return false;
    this.ctx.storage.sql.exec(
      `INSERT INTO code (id, secondary, mcc, mnc, expires_at, state) VALUES (1, ?, ?, ?, ?, 'live')
       ON CONFLICT (id) DO UPDATE SET secondary = excluded.secondary, mcc = excluded.mcc, mnc = excluded.mnc,
         expires_at = excluded.expires_at, state = 'live'`,
      code.secondary, code.mno.mcc, code.mno.mnc, code.expiresAt,
    );
    await this.ctx.storage.setAlarm(code.expiresAt + CLEANUP_GRACE_MS);
    return true;
  }

  /**
   * Spends the code for `primary`. Self-twinning is refused without spending it, so the
   * secondary can still hand the code to its real primary.
   */
  async redeem(primary: string): Promise<Redemption> {
    const row = this.row();
    if (!row || row.state !== "live" || row.expires_at <= Date.now()) return { outcome: "invalid" };
    if (row.secondary === primary) return { outcome: "self" };
    this.ctx.storage.sql.exec("UPDATE code SET state = 'used'");
    return { outcome: "redeemed", secondary: row.secondary, mno: { mcc: row.mcc, mnc: row.mnc } };
  }

  /** Revokes the code if `secondary` still holds it (a newer code replaced it). */
  async revoke(secondary: string): Promise<void> {
    this.ctx.storage.sql.exec("UPDATE code SET state = 'revoked' WHERE secondary = ? AND state = 'live'", secondary);
  }

  override async alarm(): Promise<void> {
    const row = this.row();
    if (row && row.state === "live" && row.expires_at > Date.now()) {
      await this.ctx.storage.setAlarm(row.expires_at + CLEANUP_GRACE_MS);
      return;
    }
    this.ctx.storage.sql.exec("DELETE FROM code");
  }
}
