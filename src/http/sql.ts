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

/** One page of a keyset read (the admin listings, the audit log): rows in key order after a cursor. */
export interface KeysetQuery {
  /** `SELECT … FROM table`, without WHERE. */
  select: string;
  /** The unique column the page is ordered by; its value in a page's last row is the next page's cursor. */
  key: string;
  order: "asc" | "desc";
  /** The previous page's cursor: rows after it in `order`. */
  after?: string | number;
  limit: number;
  /** Only rows whose `column` starts with `value` (substr, so LIKE's wildcards mean nothing here). */
  prefix?: { column: string; value: string };
  /** Only rows with `column` = `value`. */
  equals?: { column: string; value: string };
}

/** Reads one more row than `limit`: when it exists there may be more, and `next` is the cursor for them. */
export function keysetPage<T extends Record<string, SqlStorageValue>, K extends keyof T & string>(sql: SqlStorage, q: KeysetQuery & { key: K }): { rows: T[]; next?: T[K] } {
  const where: string[] = [];
  const bindings: unknown[] = [];
  if (q.after !== undefined) (where.push(`${q.key} ${q.order === "asc" ? ">" : "<"} ?`), bindings.push(q.after));
  if (q.prefix?.value) (where.push(`substr(${q.prefix.column}, 1, ?) = ?`), bindings.push(q.prefix.value.length, q.prefix.value));
  if (q.equals) (where.push(`${q.equals.column} = ?`), bindings.push(q.equals.value));
  const rows = sql.exec<T>(`${q.select}${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${q.key} ${q.order.toUpperCase()} LIMIT ?`, ...bindings, q.limit + 1).toArray();
  const page = rows.slice(0, q.limit);
  return rows.length > q.limit ? { rows: page, next: page[page.length - 1]![q.key] } : { rows: page };
}

/**
 * Whether the object was ever given its schema. Reading this writes nothing, so an object that a
 * request merely names (a random client_id, a forged refresh token) stays without storage.
 */
export function hasSchema(ctx: DurableObjectState): boolean {
  return hasTable(ctx.storage.sql, "_schema");
}

/** Whether the table `name` exists (one read of the schema, no write). */
export function hasTable(sql: SqlStorage, name: string): boolean {
  return sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", name).toArray().length > 0;
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

const lastPurges = new WeakMap<SqlStorage, Map<string, number>>();

/**
 * Whether the clean-up named `what` of this object's storage is due: true at most once per `everyMs`
 * per object instance. For DELETEs of expired rows that scan a table: run on every write of a busy
 * object they would cost more than the write; rows kept a little longer must change no answer.
 */
export function purgeDue(sql: SqlStorage, what: string, everyMs: number, now = Date.now()): boolean {
  let purges = lastPurges.get(sql);
  if (!purges) lastPurges.set(sql, (purges = new Map()));
  if (now - (purges.get(what) ?? -Infinity) < everyMs) return false;
  purges.set(what, now);
  return true;
}
