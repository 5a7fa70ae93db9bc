// The Durable Object GET /healthz talks to: one SQLite write and read per check, so a health check
// proves what every API needs (an object reached over RPC, its storage committing), not just that the
// Worker runs. One object per location hint is enough; it holds one row.
import { DurableObject } from "cloudflare:workers";

export class HealthObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS beat (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL, n INTEGER NOT NULL)");
  }

  /** Records this check and answers how many there were: a real write, read back in the same transaction. */
  ping(now: number): { beats: number } {
    return this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("INSERT INTO beat (id, at, n) VALUES (1, ?, 1) ON CONFLICT (id) DO UPDATE SET at = excluded.at, n = n + 1", now);
      const row = this.ctx.storage.sql.exec<{ n: number }>("SELECT n FROM beat WHERE id = 1").one();
      return { beats: row.n };
    });
  }
}
