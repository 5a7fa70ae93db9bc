// One object per service provider, named by its client_id: its charging ledger (records fed by each
// device's outbox, idempotent by record id) and its operations (./operations.ts).
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrateStores, one, type StoreSchema } from "../http/sql";
import type { JobCommandSpec } from "../dm/job-model";
import type { ChargingRecord } from "./charging-model";
import { OPERATION_SCHEMA, OperationStore, type OperationJob, type OperationRecord, type StateCounts } from "./operation-store";
import type { JobStateReport } from "./operation-state-hook";
import { queueRound } from "./operations";

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
  private readonly ops: OperationStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrateStores(ctx, [LEDGER_SCHEMA, OPERATION_SCHEMA]);
    this.ops = new OperationStore(this.sql);
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

  // ---------------------------------------------------------------- operations (./operations.ts runs them)

  async createOperation(op: OperationRecord, nextRoundAt?: number): Promise<void> {
    this.ctx.storage.transactionSync(() => this.ops.create(op, nextRoundAt));
    if (nextRoundAt !== undefined) await this.armRounds();
  }

  operation(operationId: string): OperationRecord | undefined {
    return this.ops.get(operationId);
  }

  operations(cursor: number | undefined, limit: number): { items: OperationRecord[]; nextCursor?: string } {
    return this.ops.list(cursor, Math.max(1, Math.min(limit, 1000)));
  }

  recordJobs(operationId: string, round: number, jobs: OperationJob[]): void {
    this.ctx.storage.transactionSync(() => this.ops.recordJobs(operationId, round, jobs));
  }

  /** The operation's device jobs a page at a time; undefined for an operation of another provider (or none). */
  operationJobs(operationId: string, cursor: string | undefined, limit: number): { items: OperationJob[]; nextCursor?: string } | undefined {
    if (!this.ops.get(operationId)) return undefined;
    return this.ops.jobs(operationId, cursor, Math.max(1, Math.min(limit, 1000)));
  }

  /** Job states from a device's outbox (./operation-state-hook.ts): the counts follow in the same transaction. */
  jobStates(reports: JobStateReport[]): void {
    this.ctx.storage.transactionSync(() => this.ops.jobStates(reports));
  }

  /** The operation's counts per state (O(states)); undefined for another provider's operation, or one recorded before states were reported. */
  operationCounts(operationId: string): StateCounts | undefined {
    if (!this.ops.get(operationId)) return undefined;
    return this.ops.counts(operationId, Date.now());
  }

  /** No more scheduled rounds (a cancelled operation). */
  stopRounds(operationId: string): void {
    const op = this.ops.get(operationId);
    if (op) this.ops.save(op, null);
  }

  putConfigurationSet(name: string, commands: JobCommandSpec[]): boolean {
    return this.ctx.storage.transactionSync(() => this.ops.putConfigurationSet(name, commands));
  }

  configurationSet(name: string): JobCommandSpec[] | undefined {
    return this.ops.configurationSet(name);
  }

  claimEvent(eventId: string, operationId: string): string | undefined {
    return this.ctx.storage.transactionSync(() => this.ops.claimEvent(eventId, operationId));
  }

  releaseEvent(eventId: string): void {
    this.sql.exec("DELETE FROM provisioning_event WHERE event_id = ?", eventId);
  }

  private async armRounds(): Promise<void> {
    const next = this.ops.nextRoundAt();
    if (next === undefined) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }

  /** Scheduled DiagMon: each due operation gets its next round of collection jobs on the same devices. */
  override async alarm(): Promise<void> {
    for (const op of this.ops.dueRounds(Date.now())) {
      if (op.spec.kind !== "diagmon" || !op.spec.schedule) {
        this.ops.save(op, null);
        continue;
      }
      const round = op.rounds + 1;
      // The round is recorded before its jobs go out: an alarm retried after a crash does not add a round twice.
      const next = round < op.spec.schedule.count ? Date.now() + op.spec.schedule.intervalSeconds * 1000 : null;
      this.ops.save({ ...op, rounds: round }, next);
      await queueRound(this.env, op.provider, { ...op, rounds: round }, this.ops.devicesWithJobs(op.operationId), round);
    }
    await this.armRounds();
  }
}
