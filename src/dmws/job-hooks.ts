// The DM web services' hooks in the job path (src/dm/job-model.ts JobHooks), registered once in
// src/index.ts: charging records (./charging-hook.ts), operation jobs' states for their provider's
// counts (./operation-state-hook.ts) and campaigns' later results (./campaigns/result-hook.ts), each
// written in the transaction that saves the job and delivered from the device's alarm.
import type { JobHooks } from "../dm/job-model";
import { chargingHooks } from "./charging-hook";
import { campaignResultHooks } from "./campaigns/result-hook";
import { operationStateHooks } from "./operation-state-hook";

const parts: JobHooks[] = [chargingHooks, operationStateHooks, campaignResultHooks];

export const dmwsJobHooks: JobHooks = {
  saved(job, sql) {
    for (const h of parts) h.saved?.(job, sql);
  },
  pending(sql) {
    return parts.some((h) => h.pending?.(sql));
  },
  async deliver(env, sql) {
    const next = await Promise.all(parts.map((h) => h.deliver?.(env, sql)));
    const due = next.filter((t): t is number => t !== undefined);
    return due.length ? Math.min(...due) : undefined;
  },
};
