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
