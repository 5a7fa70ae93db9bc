// Reports of finished jobs to the Durable Object that asked for them (a campaign over a device
// group counts its devices' results this way). A job queued with a listener gets its report written
// in the transaction that finishes it (./job-model.ts calls `add`), so a result is never lost; the
// device's alarm delivers it afterwards and retries with backoff until the listener takes it. Delivery
// is at least once: the listener counts a report once per (ref, jobId).
import type { Env } from "../env";
import { hasTable, one } from "../http/sql";
import type { Job } from "./job-model";

/** Who hears when a job finishes: a Durable Object (binding name in Env, object name) and the caller's own reference (the device). */
export interface JobListener {
  binding: string;
  name: string;
  ref: string;
}

export interface JobReport {
  ref: string;
  jobId: string;
  state: "done" | "failed" | "cancelled";
  reason?: string;
  /** Each top-level command's status (the device's code), in order; absent where none came. */
  statuses: (string | null)[];
  finishedAt: string;
}

/** What a listener object offers: `jobFinished` takes a report (twice delivered, counted once). */
export interface JobReportReceiver {
  jobFinished(report: JobReport): Promise<unknown>;
}

const TABLE = `CREATE TABLE IF NOT EXISTS job_report (job_id TEXT PRIMARY KEY, binding TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL)`;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 5 * 60_000;
const BATCH = 50;

export class JobReports {
  /** Set by `add`: the owner arms its alarm after the transaction. */
  written = false;

  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {}

  private get exists(): boolean {
    return hasTable(this.sql, "job_report");
  }

  /** Inside the transaction that finished `job`. */
  add(job: Job): void {
    const l = job.listener;
    if (!l) return;
    const report: JobReport = {
      ref: l.ref,
      jobId: job.jobId,
      state: job.state as JobReport["state"],
      ...(job.reason !== undefined ? { reason: job.reason } : {}),
      statuses: job.commands.map((c) => c.status ?? null),
      finishedAt: job.updatedAt,
    };
    this.sql.exec(TABLE);
    this.sql.exec("INSERT OR IGNORE INTO job_report (job_id, binding, name, doc, next_at) VALUES (?, ?, ?, ?, ?)", job.jobId, l.binding, l.name, JSON.stringify(report), Date.now());
    this.written = true;
  }

  /** Delivers what is due; answers when the next retry is due (ms), if anything is left. */
  async deliver(): Promise<number | undefined> {
    this.written = false;
    if (!this.exists) return undefined;
    const due = this.sql.exec<{ job_id: string; binding: string; name: string; doc: string; attempts: number }>(
      "SELECT job_id, binding, name, doc, attempts FROM job_report WHERE next_at <= ? ORDER BY next_at LIMIT ?", Date.now(), BATCH).toArray();
    await Promise.all(due.map(async (r) => {
      try {
        const ns = (this.env as unknown as Record<string, { getByName(name: string): JobReportReceiver } | undefined>)[r.binding];
        if (!ns) throw new Error(`no binding ${r.binding}`);
        await ns.getByName(r.name).jobFinished(JSON.parse(r.doc) as JobReport);
        this.sql.exec("DELETE FROM job_report WHERE job_id = ?", r.job_id);
      } catch (err) {
        const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** r.attempts) * (0.5 + Math.random() / 2);
        this.sql.exec("UPDATE job_report SET attempts = attempts + 1, next_at = ? WHERE job_id = ?", Math.round(Date.now() + delay), r.job_id);
        console.warn(`job report ${r.job_id} to ${r.binding}/${r.name} not taken: ${err instanceof Error ? err.message : String(err)}`);
      }
    }));
    return one<{ t: number | null }>(this.sql, "SELECT MIN(next_at) AS t FROM job_report")?.t ?? undefined;
  }
}
