// The activation codes of one subscriber (HLF-TE-005), both sides of them. As a secondary: its one
// current code (a newer code revokes the older one; the prepare step accepts only the current
// one). As a primary: the failed guesses of the last 15 minutes and the guesses in flight, which
// together may never pass 5, so that concurrent requests cannot try more codes than sequential ones.
// Failures older than the window are dropped by the next guess: no alarm is kept for them.
//
// The codes themselves come from the AssemblyScript module (no modulo bias); the index from a code
// to its secondary is the code's bucket (activation-code-index.ts).
import { ApiError } from "../http/errors";
import { one, type StoreSchema } from "../http/sql";

export const ACTIVATION_CODES_SCHEMA: StoreSchema = {
  name: "activation-codes",
  steps: [
    `CREATE TABLE current_code (id INTEGER PRIMARY KEY CHECK (id = 1), code TEXT NOT NULL, expires_at INTEGER NOT NULL);
     CREATE TABLE failed_code (at INTEGER NOT NULL);`,
  ],
};

/** HLF-TE-005 brute-force guard: failed codes per primary and the window they count in. */
export const MAX_FAILED_CODE_ATTEMPTS = 5;
export const FAILED_CODE_WINDOW_MS = 15 * 60_000;

export class ActivationCodeStore {
  /** Guesses checked and not yet decided, in this instance (they die with it, and so do their requests). */
  private guessesInFlight = 0;

  constructor(private readonly sql: SqlStorage) {}

  // ------------------------------------------------------------ secondary: the current code

  current(): { code: string; expires_at: number } | undefined {
    return one<{ code: string; expires_at: number }>(this.sql, "SELECT code, expires_at FROM current_code");
  }

  /** The live current code is `code` (the prepare step's check). */
  isCurrent(code: string, now = Date.now()): boolean {
    const c = this.current();
    return !!c && c.code === code && c.expires_at > now;
  }

  /** Makes `code` the current one; the previous one, if any, for the caller to revoke. */
  replace(code: string, expiresAt: number): string | undefined {
    const previous = this.current()?.code;
    this.sql.exec(
      "INSERT INTO current_code (id, code, expires_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET code = excluded.code, expires_at = excluded.expires_at",
      code, expiresAt,
    );
    return previous !== code ? previous : undefined;
  }

  /** Ends the current code (spent, or revoked because the role changed); the code, if there was one. */
  take(): string | undefined {
    const c = this.current()?.code;
    if (c) this.sql.exec("DELETE FROM current_code");
    return c;
  }

  // ------------------------------------------------------------ primary: guesses

  /**
   * Counts a guess from the moment it is checked, in the same synchronous turn as the check: 429
   * when failures of the window plus guesses in flight reach 5. Pair with `settleGuess`.
   */
  startGuess(now = Date.now()): void {
    const all = this.sql.exec<{ at: number }>("SELECT at FROM failed_code ORDER BY at").toArray();
    const failures = all.filter((f) => f.at > now - FAILED_CODE_WINDOW_MS);
    // Written only when there is something to forget: a guess costs no commit of its own.
    if (failures.length < all.length) this.sql.exec("DELETE FROM failed_code WHERE at <= ?", now - FAILED_CODE_WINDOW_MS);
    if (failures.length + this.guessesInFlight >= MAX_FAILED_CODE_ATTEMPTS) {
      // Only failures lock for the window; guesses in flight are decided within seconds.
      const retryAfter = failures.length >= MAX_FAILED_CODE_ATTEMPTS
        ? Math.ceil((failures[failures.length - MAX_FAILED_CODE_ATTEMPTS]!.at + FAILED_CODE_WINDOW_MS - now) / 1000)
        : 1;
      throw new ApiError(429, "POL0001", ["too many failed activation code attempts"], { "Retry-After": String(Math.max(1, retryAfter)) });
    }
    this.guessesInFlight++;
  }

  /** The guess is decided; a failed one is recorded (call inside a transaction when `failed`). */
  settleGuess(failed: boolean): void {
    this.guessesInFlight = Math.max(0, this.guessesInFlight - 1);
    if (failed) this.sql.exec("INSERT INTO failed_code (at) VALUES (?)", Date.now());
  }

  clear(): void {
    this.guessesInFlight = 0;
    this.sql.exec("DELETE FROM current_code; DELETE FROM failed_code;");
  }
}
