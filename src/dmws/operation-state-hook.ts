// Each operation job's state, reported to its provider's object so an operation's counts per state
// are read there (a counts table) instead of from every device. Plugged into the job path
// (src/dm/job-model.ts JobHooks, composed in ./job-hooks.ts): when a save changes a provider
// operation's job from one state to another (pending, running, succeeded, failed, timeout,
// cancelled: ./operation-kinds.ts deviceResult), the new state and a version are written in the
// device's storage in that transaction; the device's alarm delivers the latest version of each to the
// provider's object, which keeps a newer version only. A delivery repeated after a crash, or
// overtaken by a later state, changes nothing.
import type { Env } from "../env";
import type { JobHooks } from "../dm/job-model";
import { deviceResult, type DeviceJobTag, type DeviceState } from "./operation-kinds";
import { hasTable } from "../http/sql";

/** One job's state as its provider's object takes it. */
export interface JobStateReport {
  jobId: string;
  state: DeviceState;
  version: number;
}

const OUTBOX = `CREATE TABLE IF NOT EXISTS dmws_op_state (job_id TEXT PRIMARY KEY, provider TEXT NOT NULL, state TEXT NOT NULL,
    version INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0);
  CREATE INDEX IF NOT EXISTS dmws_op_state_due ON dmws_op_state (delivered, version)`;
const BATCH = 200;
const RETRY_MS = 10_000;

const hasOutbox = (sql: SqlStorage) => hasTable(sql, "dmws_op_state");

export const operationStateHooks: JobHooks = {
  saved(job, sql) {
    const tag = job.tag as DeviceJobTag | undefined;
    // Campaign jobs are counted by their campaign.
    if (tag?.dmws !== "1" || tag.campaign === "1" || !tag.provider) return;
    const state = deviceResult(job).state;
    sql.exec(OUTBOX);
    const row = sql.exec<{ state: string; version: number }>("SELECT state, version FROM dmws_op_state WHERE job_id = ?", job.jobId).toArray()[0];
    // A job starts pending in its provider's object: only changes from there are news.
    if (row?.state === state || (!row && state === "pending")) return;
    sql.exec("INSERT INTO dmws_op_state (job_id, provider, state, version) VALUES (?, ?, ?, 1) ON CONFLICT (job_id) DO UPDATE SET state = excluded.state, version = version + 1",
      job.jobId, tag.provider, state);
  },

  pending(sql) {
    return hasOutbox(sql) && sql.exec("SELECT 1 FROM dmws_op_state WHERE delivered < version LIMIT 1").toArray().length > 0;
  },

  async deliver(env: Env, sql) {
    if (!hasOutbox(sql)) return undefined;
    const rows = sql.exec<{ job_id: string; provider: string; state: DeviceState; version: number }>(
      "SELECT job_id, provider, state, version FROM dmws_op_state WHERE delivered < version LIMIT ?", BATCH).toArray();
    const byProvider = new Map<string, JobStateReport[]>();
    for (const r of rows) byProvider.set(r.provider, [...(byProvider.get(r.provider) ?? []), { jobId: r.job_id, state: r.state, version: r.version }]);
    let failed = false;
    for (const [provider, reports] of byProvider) {
      try {
        await env.DMWS_PROVIDERS.getByName(provider).jobStates(reports);
        // A state written while this was on its way has a newer version: it goes out next time.
        for (const r of reports) sql.exec("UPDATE dmws_op_state SET delivered = ? WHERE job_id = ? AND delivered < ?", r.version, r.jobId, r.version);
      } catch (err) {
        failed = true;
        console.warn(JSON.stringify({ event: "dmws.operation-state.delivery-failed", provider, jobs: reports.length, error: String(err) }));
      }
    }
    if (failed) return Date.now() + RETRY_MS;
    return rows.length === BATCH ? Date.now() : undefined;
  },
};
