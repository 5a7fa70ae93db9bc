// The charging hook in the DM result path (src/dm/job-model.ts JobHooks). When a job of the DM web
// services reaches a final device result, the charging record is written in the device's own storage
// inside the same transaction that saved the result; its id is the job's, so a result recorded again
// (a retried message, a repeated alert, a second save) never adds a second one. The device's alarm
// then hands undelivered records to the provider's ledger, which ignores ids it already has: a
// delivery that is retried after a crash between the two steps doubles nothing either.
import type { Env } from "../env";
import type { Job, JobHooks } from "../dm/job-model";
import type { ChargingRecord } from "./charging-model";
import { deviceResult, type DeviceJobTag } from "./operation-kinds";
import { hasTable } from "../http/sql";

const OUTBOX = `CREATE TABLE IF NOT EXISTS dmws_charge (record_id TEXT PRIMARY KEY, provider TEXT NOT NULL, doc TEXT NOT NULL, delivered_at INTEGER);
  CREATE INDEX IF NOT EXISTS dmws_charge_undelivered ON dmws_charge (delivered_at)`;
const BATCH = 200;
const RETRY_MS = 10_000;

const hasOutbox = (sql: SqlStorage) => hasTable(sql, "dmws_charge");

/** The charging record a job's final result is worth, if it has one. */
export function chargeFor(job: Job): ChargingRecord | undefined {
  const tag = job.tag as DeviceJobTag | undefined;
  // An operator's campaign charges nobody (its tag names no provider).
  if (tag?.dmws !== "1" || !tag.provider) return undefined;
  const r = deviceResult(job);
  if (r.state !== "succeeded" && r.state !== "failed") return undefined;
  return {
    recordId: job.jobId,
    provider: tag.provider,
    devId: tag.devId,
    ...(tag.subscriber ? { subscriber: tag.subscriber } : {}),
    operation: tag.operation,
    operationId: tag.operationId,
    jobId: job.jobId,
    at: r.updatedAt ?? job.updatedAt,
    outcome: r.state === "succeeded" ? "success" : "failure",
    ...(r.resultCode ? { resultCode: r.resultCode } : {}),
  };
}

export const chargingHooks: JobHooks = {
  saved(job, sql) {
    const record = chargeFor(job);
    if (!record) return;
    sql.exec(OUTBOX);
    sql.exec("INSERT OR IGNORE INTO dmws_charge (record_id, provider, doc) VALUES (?, ?, ?)", record.recordId, record.provider, JSON.stringify(record));
  },

  pending(sql) {
    return hasOutbox(sql) && sql.exec("SELECT 1 FROM dmws_charge WHERE delivered_at IS NULL LIMIT 1").toArray().length > 0;
  },

  async deliver(env: Env, sql) {
    if (!hasOutbox(sql)) return undefined;
    const rows = sql.exec<{ record_id: string; provider: string; doc: string }>("SELECT record_id, provider, doc FROM dmws_charge WHERE delivered_at IS NULL LIMIT ?", BATCH).toArray();
    const byProvider = new Map<string, { ids: string[]; records: ChargingRecord[] }>();
    for (const r of rows) {
      const entry = byProvider.get(r.provider) ?? { ids: [], records: [] };
      entry.ids.push(r.record_id);
      entry.records.push(JSON.parse(r.doc) as ChargingRecord);
      byProvider.set(r.provider, entry);
    }
    let failed = false;
    for (const [provider, { ids, records }] of byProvider) {
      try {
        await env.DMWS_PROVIDERS.getByName(provider).addChargingRecords(records);
        for (const id of ids) sql.exec("UPDATE dmws_charge SET delivered_at = ? WHERE record_id = ?", Date.now(), id);
      } catch (err) {
        failed = true;
        console.warn(JSON.stringify({ event: "dmws.charging.delivery-failed", provider, records: ids.length, error: String(err) }));
      }
    }
    if (failed) return Date.now() + RETRY_MS;
    return rows.length === BATCH ? Date.now() : undefined;
  },
};
