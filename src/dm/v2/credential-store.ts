// The DM account's credentials inside its object: the PBKDF2 hash and Digest HA1 of the password,
// the optional subscriber binding, the Digest nonce counts already used (so no request can be
// replayed), and the failed-login window that stops password guessing.
import { one } from "../../http/sql";
import type { StoredSecret } from "./credentials";

export const CREDENTIAL_SCHEMA = `
  CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), account_id TEXT NOT NULL, basic TEXT NOT NULL, digest_ha1 TEXT NOT NULL,
    subscriber TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
  CREATE TABLE digest_nonce (nonce TEXT PRIMARY KEY, last_nc INTEGER NOT NULL, expires_at INTEGER NOT NULL);
  CREATE INDEX digest_nonce_expiry ON digest_nonce (expires_at);
  CREATE TABLE login_failure (id INTEGER PRIMARY KEY CHECK (id = 1), window_start INTEGER NOT NULL, count INTEGER NOT NULL);`;

/** A Digest nonce is good for this long after it was issued; then the client gets stale=true and retries. */
export const NONCE_TTL_MS = 5 * 60_000;
/** Failed logins tolerated per window before every login (right or wrong) waits for the window to pass. */
export const MAX_FAILED_LOGINS = 10;
export const FAILURE_WINDOW_MS = 15 * 60_000;
/** Nonces tracked at once per account; past this, new nonces are refused as stale until old ones expire. */
const MAX_TRACKED_NONCES = 10_000;

export interface AccountRecord {
  accountId: string;
  subscriber?: string;
  createdAt: number;
  updatedAt: number;
}

interface AccountRow extends Record<string, SqlStorageValue> {
  account_id: string;
  basic: string;
  digest_ha1: string;
  subscriber: string | null;
  created_at: number;
  updated_at: number;
}

export type NonceUse = "ok" | "stale" | "replayed";

export class CredentialStore {
  constructor(private readonly sql: SqlStorage) {}

  private row(): AccountRow | undefined {
    return one<AccountRow>(this.sql, "SELECT * FROM account");
  }

  record(): AccountRecord | undefined {
    const r = this.row();
    return r ? { accountId: r.account_id, ...(r.subscriber ? { subscriber: r.subscriber } : {}), createdAt: r.created_at, updatedAt: r.updated_at } : undefined;
  }

  secret(): StoredSecret | undefined {
    const r = this.row();
    return r ? { basic: r.basic, digestHa1: r.digest_ha1 } : undefined;
  }

  /** Creates or replaces the account's credentials; true when it did not exist. */
  put(accountId: string, secret: StoredSecret, subscriber: string | undefined): boolean {
    const existed = !!this.row();
    const now = Date.now();
    this.sql.exec(
      `INSERT INTO account (id, account_id, basic, digest_ha1, subscriber, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET basic = excluded.basic, digest_ha1 = excluded.digest_ha1, subscriber = excluded.subscriber, updated_at = excluded.updated_at`,
      accountId, secret.basic, secret.digestHa1, subscriber ?? null, now, now,
    );
    // A new password ends every outstanding Digest nonce: nothing signed with the old one is accepted again.
    if (existed) this.sql.exec("DELETE FROM digest_nonce");
    this.sql.exec("DELETE FROM login_failure");
    return !existed;
  }

  /** Milliseconds until logins are accepted again, or 0. */
  lockedFor(now = Date.now()): number {
    const f = one<{ window_start: number; count: number }>(this.sql, "SELECT window_start, count FROM login_failure");
    if (!f || now - f.window_start >= FAILURE_WINDOW_MS) return 0;
    return f.count >= MAX_FAILED_LOGINS ? f.window_start + FAILURE_WINDOW_MS - now : 0;
  }

  failed(now = Date.now()): void {
    const f = one<{ window_start: number; count: number }>(this.sql, "SELECT window_start, count FROM login_failure");
    if (!f || now - f.window_start >= FAILURE_WINDOW_MS) this.sql.exec("INSERT OR REPLACE INTO login_failure (id, window_start, count) VALUES (1, ?, 1)", now);
    else this.sql.exec("UPDATE login_failure SET count = count + 1");
  }

  /**
   * Accepts a Digest (nonce, nc) once: nc must grow for each request with the same nonce
   * (RFC 7616 §3.4), and a nonce past its lifetime is stale.
   */
  useNonce(nonce: string, issuedAt: number, nc: number, now = Date.now()): NonceUse {
    this.sql.exec("DELETE FROM digest_nonce WHERE expires_at <= ?", now);
    if (now - issuedAt > NONCE_TTL_MS || issuedAt > now + 30_000) return "stale";
    const seen = one<{ last_nc: number }>(this.sql, "SELECT last_nc FROM digest_nonce WHERE nonce = ?", nonce);
    if (seen) {
      if (nc <= seen.last_nc) return "replayed";
      this.sql.exec("UPDATE digest_nonce SET last_nc = ? WHERE nonce = ?", nc, nonce);
      return "ok";
    }
    const tracked = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM digest_nonce")!.n;
    if (tracked >= MAX_TRACKED_NONCES) return "stale";
    this.sql.exec("INSERT INTO digest_nonce (nonce, last_nc, expires_at) VALUES (?, ?, ?)", nonce, nc, issuedAt + NONCE_TTL_MS);
    return "ok";
  }
}
