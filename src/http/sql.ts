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

/** The tables of one store inside an object: its name and its schema steps, applied in order. */
export interface StoreSchema {
  name: string;
  steps: readonly string[];
}

/**
 * Brings every store of an object to its latest schema, synchronously, in one transaction. Each
 * store keeps its own version (table `_store_schema`), so stores add steps without renumbering
 * each other's. `legacy` maps the version of an object migrated by `migrate` (one `_schema`
 * version for the whole object) to the version each store was at, once.
 */
export function migrateStores(ctx: DurableObjectState, stores: readonly StoreSchema[], legacy?: (version: number) => Record<string, number>): void {
  const sql = ctx.storage.sql;
  ctx.storage.transactionSync(() => {
    sql.exec("CREATE TABLE IF NOT EXISTS _store_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    const stored = new Map(sql.exec<{ name: string; version: number }>("SELECT name, version FROM _store_schema").toArray().map((r) => [r.name, r.version]));
    const versions = new Map(stored);
    if (stored.size === 0 && legacy && hasSchema(ctx)) {
      const old = one<{ version: number }>(sql, "SELECT version FROM _schema")?.version ?? 0;
      for (const [name, version] of Object.entries(legacy(old))) versions.set(name, version);
      sql.exec("DROP TABLE _schema");
    }
    for (const store of stores) {
      const current = versions.get(store.name) ?? 0;
      for (let v = current; v < store.steps.length; v++) sql.exec(store.steps[v]!);
      if (stored.get(store.name) !== Math.max(current, store.steps.length)) {
        sql.exec("INSERT INTO _store_schema (name, version) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET version = excluded.version", store.name, Math.max(current, store.steps.length));
      }
    }
  });
}
