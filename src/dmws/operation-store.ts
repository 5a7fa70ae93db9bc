// The provider object's operations: each operation's spec and target, the device job of each device
// (per round, for scheduled DiagMon), the provider's configuration sets for service provisioning and
// the provisioning events already acted on (a webhook delivered twice starts one push).
import { one, type StoreSchema } from "../http/sql";
import type { JobCommandSpec } from "../dm/job-model";
import type { DeviceState, OperationSpec } from "./operation-kinds";
import type { JobStateReport } from "./operation-state-hook";

export const OPERATION_SCHEMA: StoreSchema = {
  name: "operations",
  steps: [
    `CREATE TABLE operation (operation_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, next_round_at INTEGER, doc TEXT NOT NULL);
     CREATE INDEX operation_by_round ON operation (next_round_at);
     CREATE TABLE op_job (operation_id TEXT NOT NULL, dev_id TEXT NOT NULL, round INTEGER NOT NULL, job_id TEXT, error TEXT, PRIMARY KEY (operation_id, round, dev_id));
     CREATE TABLE config_set (name TEXT PRIMARY KEY, doc TEXT NOT NULL, updated_at INTEGER NOT NULL);
     CREATE TABLE provisioning_event (event_id TEXT PRIMARY KEY, operation_id TEXT NOT NULL, at INTEGER NOT NULL);`,
    // Each job's state as its device reports it (./operation-state-hook.ts), and the counts per
    // (operation, state) kept by triggers in the statement that writes a job or changes its state: an
    // operation's progress is read in O(states), not from every device. Jobs recorded before this
    // step have no state ("legacy" in the counts): their operation is counted from its devices.
    `ALTER TABLE op_job ADD COLUMN state TEXT;
     ALTER TABLE op_job ADD COLUMN state_version INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE op_job ADD COLUMN result_deadline INTEGER;
     CREATE INDEX op_job_by_job ON op_job (job_id);
     CREATE INDEX op_job_overdue ON op_job (operation_id, state, result_deadline) WHERE result_deadline IS NOT NULL;
     CREATE TABLE op_state_early (job_id TEXT PRIMARY KEY, state TEXT NOT NULL, version INTEGER NOT NULL);
     CREATE TABLE op_count (operation_id TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (operation_id, state));
     INSERT INTO op_count (operation_id, state, n) SELECT operation_id, 'legacy', COUNT(*) FROM op_job GROUP BY operation_id;
     CREATE TRIGGER op_job_counted AFTER INSERT ON op_job BEGIN
       INSERT INTO op_count (operation_id, state, n) VALUES (NEW.operation_id, COALESCE(NEW.state, 'legacy'), 1) ON CONFLICT (operation_id, state) DO UPDATE SET n = n + 1;
     END;
     CREATE TRIGGER op_job_recounted AFTER UPDATE OF state ON op_job WHEN COALESCE(OLD.state, 'legacy') <> COALESCE(NEW.state, 'legacy') BEGIN
       UPDATE op_count SET n = n - 1 WHERE operation_id = OLD.operation_id AND state = COALESCE(OLD.state, 'legacy');
       INSERT INTO op_count (operation_id, state, n) VALUES (NEW.operation_id, COALESCE(NEW.state, 'legacy'), 1) ON CONFLICT (operation_id, state) DO UPDATE SET n = n + 1;
     END;`,
  ],
};

export type OperationTarget = { devices: string[] } | { group: string } | { subscriber: string };

export interface OperationRecord {
  operationId: string;
  /** The provider (client_id) that runs it. */
  provider: string;
  spec: OperationSpec;
  target: OperationTarget;
  createdAt: string;
  deviceCount: number;
  /** Rounds queued so far (1 unless DiagMon runs on a schedule). */
  rounds: number;
  deadlineSeconds?: number;
  /** How it was started: "api", or the provisioning event's id. */
  trigger: string;
}

export interface OperationJob {
  devId: string;
  round: number;
  jobId?: string;
  /** Why the device got no job (e.g. it is not a managed device). */
  error?: string;
  /** FUMO/SCOMO: after this instant (ms) a job still running without its result alert is a timeout. */
  resultDeadline?: number;
}

export type StateCounts = Record<DeviceState, number>;
const emptyStateCounts = (): StateCounts => ({ pending: 0, running: 0, succeeded: 0, failed: 0, timeout: 0, cancelled: 0 });

export class OperationStore {
  constructor(private readonly sql: SqlStorage) {}

  create(op: OperationRecord, nextRoundAt?: number): void {
    const seq = (one<{ n: number | null }>(this.sql, "SELECT MAX(seq) AS n FROM operation")?.n ?? 0) + 1;
    this.sql.exec("INSERT INTO operation (operation_id, seq, next_round_at, doc) VALUES (?, ?, ?, ?)", op.operationId, seq, nextRoundAt ?? null, JSON.stringify(op));
  }

  get(operationId: string): OperationRecord | undefined {
    const r = one<{ doc: string }>(this.sql, "SELECT doc FROM operation WHERE operation_id = ?", operationId);
    return r ? (JSON.parse(r.doc) as OperationRecord) : undefined;
  }

  save(op: OperationRecord, nextRoundAt: number | null): void {
    this.sql.exec("UPDATE operation SET doc = ?, next_round_at = ? WHERE operation_id = ?", JSON.stringify(op), nextRoundAt, op.operationId);
  }

  /** Newest first, after the seq `cursor`. */
  list(cursor: number | undefined, limit: number): { items: OperationRecord[]; nextCursor?: string } {
    const rows = this.sql.exec<{ seq: number; doc: string }>("SELECT seq, doc FROM operation WHERE seq < ? ORDER BY seq DESC LIMIT ?", cursor ?? Number.MAX_SAFE_INTEGER, limit + 1).toArray();
    const items = rows.slice(0, limit).map((r) => JSON.parse(r.doc) as OperationRecord);
    return rows.length > limit ? { items, nextCursor: String(rows[limit - 1]!.seq) } : { items };
  }

  /** A device without a job is failed from the start; a job's state may have been reported before it was recorded here. */
  recordJobs(operationId: string, round: number, jobs: OperationJob[]): void {
    for (const j of jobs) {
      const early = j.jobId ? one<{ state: string; version: number }>(this.sql, "SELECT state, version FROM op_state_early WHERE job_id = ?", j.jobId) : undefined;
      if (early) this.sql.exec("DELETE FROM op_state_early WHERE job_id = ?", j.jobId!);
      this.sql.exec(
        `INSERT INTO op_job (operation_id, dev_id, round, job_id, error, state, state_version, result_deadline) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (operation_id, round, dev_id) DO UPDATE SET job_id = excluded.job_id, error = excluded.error, result_deadline = excluded.result_deadline,
           -- Recorded again: the state comes with it (another job, or none), unless this job's own state is newer.
           state = CASE WHEN op_job.job_id IS excluded.job_id AND op_job.state_version > excluded.state_version THEN op_job.state ELSE excluded.state END,
           state_version = CASE WHEN op_job.job_id IS excluded.job_id AND op_job.state_version > excluded.state_version THEN op_job.state_version ELSE excluded.state_version END`,
        operationId, j.devId, round, j.jobId ?? null, j.error ?? null, j.jobId ? (early?.state ?? "pending") : "failed", early?.version ?? 0, j.resultDeadline ?? null,
      );
    }
  }

  /** Jobs' states from their devices: a newer version replaces the state; one for a job not recorded yet waits for it. */
  jobStates(reports: JobStateReport[]): void {
    for (const r of reports) {
      const written = this.sql.exec("UPDATE op_job SET state = ?, state_version = ? WHERE job_id = ? AND state_version < ?", r.state, r.version, r.jobId, r.version).rowsWritten;
      if (written > 0 || one(this.sql, "SELECT 1 AS x FROM op_job WHERE job_id = ?", r.jobId)) continue;
      this.sql.exec("INSERT INTO op_state_early (job_id, state, version) VALUES (?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, version = excluded.version WHERE excluded.version > version",
        r.jobId, r.state, r.version);
    }
  }

  /**
   * Counts per state from the counts table; a job still running past its result deadline counts as a
   * timeout (no event marks that moment). Undefined when the operation has jobs recorded before
   * states were reported (count those from the devices).
   */
  counts(operationId: string, now: number): StateCounts | undefined {
    const counts = emptyStateCounts();
    for (const r of this.sql.exec<{ state: string; n: number }>("SELECT state, n FROM op_count WHERE operation_id = ? AND n > 0", operationId)) {
      if (r.state === "legacy") return undefined;
      if (r.state in counts) counts[r.state as DeviceState] += r.n;
    }
    const overdue = one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM op_job WHERE operation_id = ? AND state = 'running' AND result_deadline IS NOT NULL AND result_deadline <= ?", operationId, now)!.n;
    counts.running -= overdue;
    counts.timeout += overdue;
    return counts;
  }

  /** The device jobs in (round, devId) order after `cursor` ("<round>:<devId>"). */
  jobs(operationId: string, cursor: string | undefined, limit: number): { items: OperationJob[]; nextCursor?: string } {
    const at = cursor ? cursor.indexOf(":") : -1;
    const [round, devId] = at > 0 ? [Number(cursor!.slice(0, at)), cursor!.slice(at + 1)] : [0, ""];
    const rows = this.sql.exec<{ dev_id: string; round: number; job_id: string | null; error: string | null }>(
      "SELECT dev_id, round, job_id, error FROM op_job WHERE operation_id = ? AND (round > ? OR (round = ? AND dev_id > ?)) ORDER BY round, dev_id LIMIT ?",
      operationId, round, round, devId, limit + 1,
    ).toArray();
    const items = rows.slice(0, limit).map((r) => ({ devId: r.dev_id, round: r.round, ...(r.job_id ? { jobId: r.job_id } : {}), ...(r.error ? { error: r.error } : {}) }));
    const last = items[items.length - 1];
    return rows.length > limit && last ? { items, nextCursor: `${last.round}:${last.devId}` } : { items };
  }

  /** The devices of round 1 that got a job (later rounds go to the same devices). */
  devicesWithJobs(operationId: string): string[] {
    return this.sql.exec<{ dev_id: string }>("SELECT dev_id FROM op_job WHERE operation_id = ? AND round = 1 AND job_id IS NOT NULL ORDER BY dev_id", operationId).toArray().map((r) => r.dev_id);
  }

  dueRounds(now: number): OperationRecord[] {
    return this.sql.exec<{ doc: string }>("SELECT doc FROM operation WHERE next_round_at IS NOT NULL AND next_round_at <= ? ORDER BY next_round_at LIMIT 20", now).toArray().map((r) => JSON.parse(r.doc) as OperationRecord);
  }

  nextRoundAt(): number | undefined {
    return one<{ t: number | null }>(this.sql, "SELECT MIN(next_round_at) AS t FROM operation WHERE next_round_at IS NOT NULL")?.t ?? undefined;
  }

  putConfigurationSet(name: string, commands: JobCommandSpec[]): boolean {
    const created = !one(this.sql, "SELECT name FROM config_set WHERE name = ?", name);
    this.sql.exec("INSERT INTO config_set (name, doc, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at", name, JSON.stringify(commands), Date.now());
    return created;
  }

  configurationSet(name: string): JobCommandSpec[] | undefined {
    const r = one<{ doc: string }>(this.sql, "SELECT doc FROM config_set WHERE name = ?", name);
    return r ? (JSON.parse(r.doc) as JobCommandSpec[]) : undefined;
  }

  deleteConfigurationSet(name: string): boolean {
    const existed = !!one(this.sql, "SELECT name FROM config_set WHERE name = ?", name);
    this.sql.exec("DELETE FROM config_set WHERE name = ?", name);
    return existed;
  }

  /** The operation an event already started, or undefined after claiming the event for `operationId`. */
  claimEvent(eventId: string, operationId: string): string | undefined {
    const seen = one<{ operation_id: string }>(this.sql, "SELECT operation_id FROM provisioning_event WHERE event_id = ?", eventId);
    if (seen) return seen.operation_id;
    this.sql.exec("INSERT INTO provisioning_event (event_id, operation_id, at) VALUES (?, ?, ?)", eventId, operationId, Date.now());
    return undefined;
  }
}
