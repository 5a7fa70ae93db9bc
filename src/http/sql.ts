// Small helpers over the Durable Object SQLite API shared by every object.

/** Applies `steps[i]` for every schema version above the stored one, synchronously, in one transaction. */
export function migrate(ctx: DurableObjectState, steps: string[]): void {
  const sql = ctx.storage.sql;
  ctx.storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS _schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)");
    const row = sql.exec<{ version: number }>("SELECT version FROM _schema").toArray()[0];
    const current = row?.version ?? 0;
    for (let v = current; v < steps.length; v++) sql.exec(steps[v]!);
    sql.exec("INSERT INTO _schema (id, version) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET version = excluded.version", steps.length);
  });
}

/** First row of a query or undefined. */
export function one<T extends Record<string, SqlStorageValue>>(sql: SqlStorage, query: string, ...bindings: unknown[]): T | undefined {
  return sql.exec<T>(query, ...bindings).toArray()[0];
}

/**
 * Whether the object was ever given its schema. Reading this writes nothing, so an object that a
 * request merely names (a random client_id, a forged refresh token) stays without storage.
 */
export function hasSchema(ctx: DurableObjectState): boolean {
  return ctx.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_schema'").toArray().length > 0;
}

/**
 * For objects that exist only once something registered them: the schema is applied when they are
 * first written (or at start when they already were), never because a request named them.
 */
export class LazySchema {
  private applied: boolean;
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly steps: string[],
  ) {
    this.applied = hasSchema(ctx);
    if (this.applied) migrate(ctx, steps);
  }

  /** True once the object has storage; reads of an object without it find nothing. */
  get exists(): boolean {
    return this.applied;
  }

  /** Before the first write. */
  ensure(): void {
    if (!this.applied) {
      migrate(this.ctx, this.steps);
      this.applied = true;
    }
  }

  /** After `deleteAll()`: the object is gone until written again. */
  forget(): void {
    this.applied = false;
  }
}
