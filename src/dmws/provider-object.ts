// One object per service provider, named by its client_id: its charging ledger (records fed by each
// device's outbox, idempotent by record id) and its operations (./operations.ts).
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrateStores, one, type StoreSchema } from "../http/sql";
import type { ChargingRecord } from "./charging-model";

const LEDGER_SCHEMA: StoreSchema = {
  name: "ledger",
  steps: [
    `CREATE TABLE charge (record_id TEXT PRIMARY KEY, at INTEGER NOT NULL, doc TEXT NOT NULL);
     CREATE INDEX charge_by_time ON charge (at, record_id);`,
  ],
};

export interface LedgerQuery {
  from?: number;
  to?: number;
  /** The nextCursor of the page before ("<at>:<recordId>"). */
  cursor?: string;
  limit: number;
  operationId?: string;
}

export class DmwsProviderObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrateStores(ctx, [LEDGER_SCHEMA]);
  }

  /** Adds records it does not have yet; answers how many were new (a redelivery adds none). */
  addChargingRecords(records: ChargingRecord[]): number {
    return this.ctx.storage.transactionSync(() => {
      let added = 0;
      for (const r of records) {
        const res = this.sql.exec("INSERT OR IGNORE INTO charge (record_id, at, doc) VALUES (?, ?, ?)", r.recordId, Date.parse(r.at), JSON.stringify(r));
        added += res.rowsWritten > 0 ? 1 : 0;
      }
      return added;
    });
  }

  /** Records in time order (then record id), within [from, to), a page at a time. */
  chargingRecords(q: LedgerQuery): { items: ChargingRecord[]; nextCursor?: string } {
    const limit = Math.max(1, Math.min(q.limit, 1000));
    const [cAt, cId] = q.cursor ? [Number(q.cursor.slice(0, q.cursor.indexOf(":"))), q.cursor.slice(q.cursor.indexOf(":") + 1)] : [-1, ""];
    const rows = this.sql.exec<{ at: number; record_id: string; doc: string }>(
      `SELECT at, record_id, doc FROM charge WHERE (at > ? OR (at = ? AND record_id > ?)) AND at >= ? AND at < ?
         AND (? IS NULL OR json_extract(doc, '$.operationId') = ?) ORDER BY at, record_id LIMIT ?`,
      cAt, cAt, cId, q.from ?? 0, q.to ?? Number.MAX_SAFE_INTEGER, q.operationId ?? null, q.operationId ?? null, limit + 1,
    ).toArray();
    const items = rows.slice(0, limit).map((r) => JSON.parse(r.doc) as ChargingRecord);
    const last = rows[Math.min(rows.length, limit) - 1];
    return rows.length > limit && last ? { items, nextCursor: `${last.at}:${last.record_id}` } : { items };
  }

  chargingCount(q: { from?: number; to?: number } = {}): number {
    return one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM charge WHERE at >= ? AND at < ?", q.from ?? 0, q.to ?? Number.MAX_SAFE_INTEGER)!.n;
  }
}
