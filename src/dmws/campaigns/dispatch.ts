// How a campaign reaches one device: its job queued on the device's object through the protocol-
// neutral job model (DM 1.2 and DM 2.0 devices alike), then a notification (package 0) asking the
// device to open a session. A device that is offline finds both when it next connects: the job
// waits in its queue until the campaign's deadline, the package 0 in its push outbox (and at the
// push gateway, DM_PUSH_WEBHOOK).
//
// The job is tagged like every job of the DM web services (../operations.ts jobTag): its final
// result writes one charging record in the device's transaction, for a provider's campaign (an
// operator's charges nobody). Its result reaches the campaign one of two ways:
//   - a job of commands is done when the device answered them: the job model's listener reports it
//     (src/dm/job-reports.ts);
//   - an operation whose result comes later (FUMO: Exec 202, then generic alert 1226 in a later
//     session) is reported by the result hook when that final result is saved (./result-hook.ts); a
//     device whose alert never comes is timed out by the campaign at its result deadline.
import type { Env } from "../../env";
import type { Job, JobCommandSpec } from "../../dm/job-model";
import type { JobReport } from "../../dm/job-reports";
import { sendPackage0 } from "../../dm/push-connector";
import { dm2Notification } from "../../dm/v2/notification";
import { deviceResult, planOperation, type FumoSpec } from "../operation-kinds";
import { correlatorOf, jobTag } from "../operations";
import type { DeviceState } from "./plan";
import type { UiMode } from "./campaign-store";
import { deviceStub } from "../../residency";

/** The Env binding of the campaign objects: device objects report finished jobs to it. */
export const CAMPAIGN_BINDING = "CAMPAIGNS";

/** What a campaign runs on each device: a job of commands, or a high-level operation (FUMO) planned by ../operation-kinds.ts. */
export type CampaignOperation = { commands: JobCommandSpec[]; maxAttempts?: number } | FumoSpec;

/** The chargeable operation a job of plain commands is recorded as. */
export const COMMANDS_OPERATION = "campaign.commands";

export interface DeviceJobPlan {
  commands: JobCommandSpec[];
  /** The chargeable operation's name (fumo.downloadandupdate, campaign.commands). */
  operation: string;
  maxAttempts?: number;
  /** The result comes after the job (an alert): reported by the result hook, timed out at `resultDeadline`. */
  laterResult: boolean;
  /** When a later result that did not come is a timeout (ms); the job's own deadline too. */
  resultDeadline?: number;
}

/** One device's job for the campaign's operation, started at `now`. */
export function deviceJobPlan(operation: CampaignOperation, campaignId: string, now: number, campaignDeadline: number): DeviceJobPlan {
  if (!("kind" in operation)) {
    return { commands: operation.commands, operation: COMMANDS_OPERATION, ...(operation.maxAttempts !== undefined ? { maxAttempts: operation.maxAttempts } : {}), laterResult: false };
  }
  const plan = planOperation(operation, correlatorOf(campaignId));
  // Without resultTimeoutSeconds a device has the whole campaign to take its job and report.
  const resultDeadline = Math.min(campaignDeadline, operation.resultTimeoutSeconds !== undefined ? now + operation.resultTimeoutSeconds * 1000 : campaignDeadline);
  return { commands: plan.commands, operation: plan.operation, laterResult: true, resultDeadline };
}

export type Dispatched = { queued: true } | { refused: string };

export interface CampaignJobRef {
  campaignId: string;
  /** "operator", or the provider's client id (charged). */
  owner: string;
  devId: string;
  jobId: string;
  subscriber?: string;
}

export async function startOnDevice(env: Env, ref: CampaignJobRef, plan: DeviceJobPlan, deadline: number, uiMode: UiMode): Promise<Dispatched> {
  const device = deviceStub(env, ref.devId);
  const until = Math.min(deadline, plan.resultDeadline ?? deadline);
  const deadlineSeconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
  const tag = jobTag({
    provider: ref.owner === "operator" ? "" : ref.owner, operationId: ref.campaignId, operation: plan.operation, devId: ref.devId,
    ...(ref.subscriber ? { subscriber: ref.subscriber } : {}), ...(plan.resultDeadline !== undefined ? { resultDeadline: plan.resultDeadline } : {}), campaign: true,
  });
  const queued = await device.queueJob(plan.commands, {
    jobId: ref.jobId,
    deadlineSeconds,
    tag,
    ...(plan.maxAttempts !== undefined ? { maxAttempts: plan.maxAttempts } : {}),
    ...(plan.laterResult ? {} : { listener: { binding: CAMPAIGN_BINDING, name: ref.campaignId, ref: ref.devId } }),
  });
  if (!queued.ok) return { refused: queued.error.variables.join(": ") || `HTTP ${queued.error.status}` };
  const dm2 = await dm2Notification(env, ref.devId, uiMode);
  if (dm2) {
    await sendPackage0(env, ref.devId, dm2.package0);
  } else {
    const n = await device.notify(uiMode);
    if (n.ok) await sendPackage0(env, ref.devId, n.value.package0);
  }
  return { queued: true };
}

/** A cancel for the device's job; the job's own report (cancelled, or done if it finished first) follows. */
export async function cancelOnDevice(env: Env, devId: string, jobId: string): Promise<Job | undefined> {
  const r = await deviceStub(env, devId).cancelJob(jobId);
  return r.ok ? r.value : undefined;
}

/** The campaign state a finished job puts its device in. */
export function deviceStateOf(report: Pick<JobReport, "state" | "reason">): DeviceState {
  if (report.state === "done") return "succeeded";
  if (report.state === "cancelled") return "cancelled";
  return report.reason?.startsWith("deadline") ? "timedOut" : "failed";
}

/** A device's result in campaign terms, read from its job: undefined while it has none yet (e.g. FUMO waiting for alert 1226). */
export function campaignResultOf(job: Job): { state: DeviceState; reason?: string; resultCode?: string } | undefined {
  const r = deviceResult(job);
  const reason = r.detail ?? (r.resultName ? `${r.resultCode} ${r.resultName}` : undefined);
  const state: DeviceState | undefined = r.state === "succeeded" ? "succeeded" : r.state === "failed" ? "failed" : r.state === "timeout" ? "timedOut" : r.state === "cancelled" ? "cancelled" : undefined;
  if (!state) return undefined;
  return { state, ...(reason ? { reason } : {}), ...(r.resultCode ? { resultCode: r.resultCode } : {}) };
}
