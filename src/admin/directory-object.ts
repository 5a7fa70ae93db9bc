// The admin API's listings. A Durable Object knows only itself, so "every subscriber" has no answer
// without an index: one DirectoryObject per listing (named by it: "subscribers", "clients",
// "devices", "token-families:<sub>") holds the names of the objects in it, in name order, with a
// little metadata (never a secret). The admin routes that create or remove an object keep its entry;
// a page is a range read over the primary key, so listing stays cheap however long the list is.
// One object per listing keeps each one small and serial; D1 would add a second store to keep
// consistent with the objects for no query we need beyond "next page by name".
import { DurableObject } from "cloudflare:workers";
import { keysetPage, migrate } from "../http/sql";

export interface DirectoryEntry {
  id: string;
  addedAt: number;
  meta: Record<string, string>;
}

export interface DirectoryPage {
  entries: DirectoryEntry[];
  /** The last id of this page when there may be more (the next page starts after it). */
  next?: string;
}

const SCHEMA = ["CREATE TABLE entry (id TEXT PRIMARY KEY, added_at INTEGER NOT NULL, meta TEXT NOT NULL)"];

export class DirectoryObject extends DurableObject {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
  }

  /** Lists `id` (again: the first time it was added is kept, its metadata replaced). */
  async add(id: string, meta: Record<string, string> = {}): Promise<void> {
    this.sql.exec(
      "INSERT INTO entry (id, added_at, meta) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET meta = excluded.meta",
      id, Date.now(), JSON.stringify(meta),
    );
  }

  async remove(id: string): Promise<boolean> {
    return this.sql.exec("DELETE FROM entry WHERE id = ?", id).rowsWritten > 0;
  }

  /** Up to `limit` entries after `after`, in id order; `prefix` keeps only ids that start with it. */
  async page(opts: { after?: string; limit: number; prefix?: string }): Promise<DirectoryPage> {
    const { rows, next } = keysetPage<{ id: string; added_at: number; meta: string }, "id">(this.sql, {
      select: "SELECT id, added_at, meta FROM entry", key: "id", order: "asc", limit: opts.limit,
      ...(opts.after ? { after: opts.after } : {}), ...(opts.prefix ? { prefix: { column: "id", value: opts.prefix } } : {}),
    });
    const entries = rows.map((r) => ({ id: r.id, addedAt: r.added_at, meta: JSON.parse(r.meta) as Record<string, string> }));
    return next !== undefined ? { entries, next } : { entries };
  }
}
