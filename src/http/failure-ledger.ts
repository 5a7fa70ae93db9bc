// Counting wrong guesses of a secret (a client secret, the admin token) per guesser, and locking the
// guesser out once it has made too many: RFC 6749 §10.10 ("the authorization server MUST prevent
// attackers from guessing ... credentials") and §2.3.1 ("MUST protect any endpoint utilizing it
// against brute force attacks"). The rate-limiting binding (rate-limit.ts) bounds floods, but counts
// approximately and per location; this ledger counts exactly, inside the Durable Object that owns the
// secret, so that N concurrent guesses from one address are N counted failures, in order.
//
// The guesser is the caller's address as Cloudflare's edge reports it (CF-Connecting-IP, which the
// edge sets itself). An IPv6 address counts by its /64: one subscriber line holds a whole /64, so
// counting single addresses would give an attacker 2^64 fresh tries. A request without the header
// (local development, a test that does not set it) is not counted: there is no edge to trust.
//
// The lock is keyed by guesser, never by the secret alone: an attacker elsewhere cannot lock the
// rightful holder out. While a guesser is locked, even the right secret is refused, so guessing on
// through the lock learns nothing.
import type { Context } from "hono";
import { purgeDue } from "./sql";

export interface FailurePolicy {
  /** Wrong guesses within `lockSeconds` that lock the guesser; the last of them is already refused as locked. */
  limit: number;
  /** How long the window of counted failures lasts, and the lock once it is reached. */
  lockSeconds: number;
}

/** The table a ledger keeps, for an owner's schema step (one table per ledger). */
export const failureLedgerTable = (table: string) =>
  `CREATE TABLE ${table} (guesser TEXT PRIMARY KEY, failures INTEGER NOT NULL, window_start INTEGER NOT NULL, locked_until INTEGER NOT NULL DEFAULT 0);
   CREATE INDEX ${table}_window ON ${table} (window_start);`;

/** How often the rows of guessers whose window and lock are over are deleted (they count for nothing meanwhile). */
const PURGE_EVERY_MS = 60_000;

/** Whole seconds until `until` (ms), at least 1: a Retry-After value. */
export const secondsLeft = (until: number, now: number) => Math.max(1, Math.ceil((until - now) / 1000));

interface Row extends Record<string, SqlStorageValue> {
  failures: number;
  window_start: number;
  locked_until: number;
}

export class FailureLedger {
  constructor(
    private readonly sql: SqlStorage,
    private readonly table: string,
  ) {}

  /** Seconds `guesser` stays locked; undefined when it may guess. */
  lockedFor(guesser: string, now = Date.now()): number | undefined {
    const row = this.sql.exec<Row>(`SELECT * FROM ${this.table} WHERE guesser = ?`, guesser).toArray()[0];
    return row && row.locked_until > now ? secondsLeft(row.locked_until, now) : undefined;
  }

  /**
   * Records one wrong guess. Returns the seconds the guesser is locked for when it is locked now (by
   * this failure or an earlier one), undefined while it may still guess. `locked` is true when this
   * very failure started the lock (the owner may have to tell its replicas).
   */
  failed(guesser: string, policy: FailurePolicy, now = Date.now()): { lockedFor?: number; locked: boolean } {
    const windowMs = policy.lockSeconds * 1000;
    // Rows whose window and lock are both over count for nothing: the table is kept to the live
    // guessers, once a minute (a flood from many addresses must not make each failure a table scan).
    if (purgeDue(this.sql, this.table, PURGE_EVERY_MS, now)) this.sql.exec(`DELETE FROM ${this.table} WHERE window_start <= ? AND locked_until <= ?`, now - windowMs, now);
    const row = this.sql.exec<Row>(`SELECT * FROM ${this.table} WHERE guesser = ?`, guesser).toArray()[0];
    if (row && row.locked_until > now) return { lockedFor: secondsLeft(row.locked_until, now), locked: false };
    const failures = row && row.window_start > now - windowMs ? row.failures + 1 : 1;
    const windowStart = failures === 1 ? now : row!.window_start;
    const lockedUntil = failures >= policy.limit ? now + windowMs : 0;
    this.sql.exec(
      `INSERT INTO ${this.table} (guesser, failures, window_start, locked_until) VALUES (?, ?, ?, ?)
       ON CONFLICT (guesser) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until`,
      guesser, lockedUntil ? 0 : failures, windowStart, lockedUntil,
    );
    return lockedUntil ? { lockedFor: secondsLeft(lockedUntil, now), locked: true } : { locked: false };
  }

  /** Every guesser locked now, with when its lock ends (ms): what a read replica must also refuse. */
  locks(now = Date.now()): Record<string, number> {
    const locks: Record<string, number> = {};
    for (const r of this.sql.exec<{ guesser: string; locked_until: number }>(`SELECT guesser, locked_until FROM ${this.table} WHERE locked_until > ?`, now)) {
      locks[r.guesser] = r.locked_until;
    }
    return locks;
  }
}

/**
 * Who is guessing, for a FailureLedger: the edge's CF-Connecting-IP, an IPv6 address cut to its /64;
 * undefined when the request did not come through the edge.
 */
export function guessAddress(c: Context): string | undefined {
  const address = c.req.header("cf-connecting-ip")?.trim();
  return address ? failureAddress(address) : undefined;
}

/** An IPv4 address as it is (also when mapped into IPv6); an IPv6 address as its /64 prefix ("2001:db8:0:1::/64"). */
export function failureAddress(address: string): string {
  if (!address.includes(":")) return address;
  const bare = address.replace(/^\[|\]$/g, "").split("%")[0]!.toLowerCase();
  // An IPv4 client seen through IPv6 (::ffff:192.0.2.1) is that IPv4 client, not one of a shared /64.
  const mapped = bare.match(/^(?:0{0,4}:){0,5}:?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/);
  if (mapped) return mapped[1]!;
  const [head = "", tail] = bare.split("::") as [string, string | undefined];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  // An embedded IPv4 tail (::ffff:192.0.2.1) counts as two groups.
  const groups = (g: string[]) => g.reduce((n, part) => n + (part.includes(".") ? 2 : 1), 0);
  const full = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - groups(left) - groups(right))).fill("0"), ...right];
  const prefix = full.slice(0, 4).map((g) => (g.includes(".") ? "0" : g.replace(/^0+(?=.)/, "")));
  while (prefix.length < 4) prefix.push("0");
  return `${prefix.join(":")}::/64`;
}
