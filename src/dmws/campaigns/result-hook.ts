// The result hook of campaign operations whose result comes after the job (FUMO: the job is done at
// Exec 202, the outcome arrives as generic alert 1226, usually in a later session). Plugged into the
// job path (src/dm/job-model.ts JobHooks, composed in ../job-hooks.ts): when a campaign job's final
// result is saved, the report for the campaign is written in the device's storage inside that same
// transaction, once per job; the device's alarm delivers it to the campaign's object, retrying with
// backoff until it is taken. The campaign counts a device once (../campaigns/campaign-store.ts finish),
// so a delivery repeated after a crash between the two steps changes nothing.
import type { Env } from "../../env";
import type { JobHooks } from "../../dm/job-model";
import type { DeviceJobTag } from "../operation-kinds";
import { campaignResultOf } from "./dispatch";
import type { DeviceState } from "./plan";
import { hasTable } from "../../http/sql";

/** A device's final result as the campaign takes it. */
export interface CampaignResult {
  devId: string;
  jobId: string;
  state: DeviceState;
  reason?: string;
  resultCode?: string;
  statuses: (string | null)[];
}

const OUTBOX = `CREATE TABLE IF NOT EXISTS dmws_campaign_result (job_id TEXT PRIMARY KEY, campaign_id TEXT NOT NULL, doc TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, delivered_at INTEGER);
  CREATE INDEX IF NOT EXISTS dmws_campaign_result_due ON dmws_campaign_result (delivered_at, next_at)`;
const BATCH = 50;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 5 * 60_000;

const hasOutbox = (sql: SqlStorage) => hasTable(sql, "dmws_campaign_result");

export const campaignResultHooks: JobHooks = {
  saved(job, sql) {
    const tag = job.tag as DeviceJobTag | undefined;
    // A campaign job with a listener is reported by the job model when it finishes (./dispatch.ts).
    if (tag?.dmws !== "1" || tag.campaign !== "1" || job.listener) return;
    const result = campaignResultOf(job);
    if (!result) return;
    const report: CampaignResult = { devId: tag.devId, jobId: job.jobId, ...result, statuses: job.commands.map((c) => c.status ?? null) };
    sql.exec(OUTBOX);
    sql.exec("INSERT OR IGNORE INTO dmws_campaign_result (job_id, campaign_id, doc, next_at) VALUES (?, ?, ?, ?)", job.jobId, tag.operationId, JSON.stringify(report), Date.now());
  },

  pending(sql) {
    return hasOutbox(sql) && sql.exec("SELECT 1 FROM dmws_campaign_result WHERE delivered_at IS NULL LIMIT 1").toArray().length > 0;
  },

  async deliver(env: Env, sql) {
    if (!hasOutbox(sql)) return undefined;
    const due = sql.exec<{ job_id: string; campaign_id: string; doc: string; attempts: number }>(
      "SELECT job_id, campaign_id, doc, attempts FROM dmws_campaign_result WHERE delivered_at IS NULL AND next_at <= ? ORDER BY next_at LIMIT ?", Date.now(), BATCH).toArray();
    await Promise.all(due.map(async (r) => {
      try {
        await env.CAMPAIGNS.getByName(r.campaign_id).resultReported(JSON.parse(r.doc) as CampaignResult);
        sql.exec("UPDATE dmws_campaign_result SET delivered_at = ? WHERE job_id = ?", Date.now(), r.job_id);
      } catch (err) {
        const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** r.attempts) * (0.5 + Math.random() / 2);
        sql.exec("UPDATE dmws_campaign_result SET attempts = attempts + 1, next_at = ? WHERE job_id = ?", Math.round(Date.now() + delay), r.job_id);
        console.warn(JSON.stringify({ event: "dmws.campaign.result-delivery-failed", campaignId: r.campaign_id, jobId: r.job_id, error: String(err) }));
      }
    }));
    const next = sql.exec<{ t: number | null }>("SELECT MIN(next_at) AS t FROM dmws_campaign_result WHERE delivered_at IS NULL").toArray()[0]?.t;
    return next ?? undefined;
  },
};
