// Idempotency-Key for operator-to-operator requests (draft-ietf-httpapi-idempotency-key-header):
// one object per calling peer (named by its MCC-MNC) remembers, per key, what the request was
// (a fingerprint of method, path and body) and the first answer. A retry with the same key gets
// that answer again and never reaches the handler a second time; the same key with another
// request is refused (422); a retry while the first is still running is refused (409). A first
// attempt that died holds its key only for a short lease, after which a retry runs it again: the
// federation handlers are themselves idempotent on their relationship ids, so that second run has
// no second effect either. Answers are kept for a day, then the alarm forgets them.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";

export const IDEMPOTENCY_RETENTION_MS = 24 * 3600_000;
/** How long a first attempt holds its key before a retry may run the request again. */
export const IDEMPOTENCY_LEASE_MS = 30_000;

export interface StoredAnswer {
  status: number;
  contentType: string | null;
  body: string;
}

export type Begin =
  | { kind: "new" }
  | { kind: "replay"; answer: StoredAnswer }
  | { kind: "in-progress" }
  | { kind: "mismatch" };

interface RequestRow extends Record<string, SqlStorageValue> {
  key: string;
  fingerprint: string;
  state: "running" | "done";
  status: number | null;
  content_type: string | null;
  body: string | null;
  created_at: number;
  lease_until: number;
}

export class IdempotencyObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, [
      `CREATE TABLE request (key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL, status INTEGER,
         content_type TEXT, body TEXT, created_at INTEGER NOT NULL, lease_until INTEGER NOT NULL);
       CREATE INDEX request_created ON request (created_at);`,
    ]);
  }

  /** Claims `key` for a request with `fingerprint`, or says what the first request with it got. */
  async begin(key: string, fingerprint: string): Promise<Begin> {
    const now = Date.now();
    const begun = this.ctx.storage.transactionSync((): Begin => {
      const row = one<RequestRow>(this.sql, "SELECT * FROM request WHERE key = ?", key);
      if (!row) {
        this.sql.exec("INSERT INTO request (key, fingerprint, state, created_at, lease_until) VALUES (?, ?, 'running', ?, ?)", key, fingerprint, now, now + IDEMPOTENCY_LEASE_MS);
        return { kind: "new" };
      }
      if (row.fingerprint !== fingerprint) return { kind: "mismatch" };
      if (row.state === "done") return { kind: "replay", answer: { status: row.status!, contentType: row.content_type, body: row.body ?? "" } };
      if (row.lease_until > now) return { kind: "in-progress" };
      this.sql.exec("UPDATE request SET lease_until = ? WHERE key = ?", now + IDEMPOTENCY_LEASE_MS, key);
      return { kind: "new" };
    });
    if (begun.kind === "new" && (await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + IDEMPOTENCY_RETENTION_MS);
    return begun;
  }

  /** Records the first answer; from now on a retry gets it. */
  async complete(key: string, fingerprint: string, answer: StoredAnswer): Promise<void> {
    this.sql.exec(
      "UPDATE request SET state = 'done', status = ?, content_type = ?, body = ? WHERE key = ? AND fingerprint = ? AND state = 'running'",
      answer.status, answer.contentType, answer.body, key, fingerprint,
    );
  }

  /** The request failed in a way a retry may fix (a 5xx): the key is free again. */
  async release(key: string, fingerprint: string): Promise<void> {
    this.sql.exec("DELETE FROM request WHERE key = ? AND fingerprint = ? AND state = 'running'", key, fingerprint);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    this.sql.exec("DELETE FROM request WHERE created_at <= ?", now - IDEMPOTENCY_RETENTION_MS);
    const oldest = one<{ t: number | null }>(this.sql, "SELECT MIN(created_at) AS t FROM request")?.t;
    if (typeof oldest === "number") await this.ctx.storage.setAlarm(oldest + IDEMPOTENCY_RETENTION_MS);
  }
}
