// How a campaign reaches one device: its job queued on the device's object through the protocol-
// neutral job model (DM 1.2 and DM 2.0 devices alike), naming the campaign as the job's listener,
// then a notification (package 0) asking the device to open a session. A device that is offline
// finds both when it next connects: the job waits in its queue until the campaign's deadline, the
// package 0 in its push outbox (and at the push gateway, DM_PUSH_WEBHOOK).
import type { Env } from "../../env";
import type { Job, JobCommandSpec } from "../../dm/job-model";
import type { JobReport } from "../../dm/job-reports";
import { sendPackage0 } from "../../dm/push-connector";
import { dm2Notification } from "../../dm/v2/notification";
import type { DeviceState } from "./plan";
import type { UiMode } from "./campaign-store";
import { deviceStub } from "../../ops/residency";

/** The Env binding of the campaign objects: device objects report finished jobs to it. */
export const CAMPAIGN_BINDING = "CAMPAIGNS";

export type Dispatched = { queued: true } | { refused: string };

export async function startOnDevice(
  env: Env,
  campaignId: string,
  devId: string,
  jobId: string,
  operation: { commands: JobCommandSpec[]; maxAttempts?: number },
  deadline: number,
  uiMode: UiMode,
): Promise<Dispatched> {
  const device = deviceStub(env, devId);
  const deadlineSeconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
  const queued = await device.queueJob(operation.commands, {
    jobId,
    deadlineSeconds,
    ...(operation.maxAttempts !== undefined ? { maxAttempts: operation.maxAttempts } : {}),
    listener: { binding: CAMPAIGN_BINDING, name: campaignId, ref: devId },
  });
  if (!queued.ok) return { refused: queued.error.variables.join(": ") || `HTTP ${queued.error.status}` };
  const dm2 = await dm2Notification(env, devId, uiMode);
  if (dm2) {
    await sendPackage0(env, devId, dm2.package0);
  } else {
    const n = await device.notify(uiMode);
    if (n.ok) await sendPackage0(env, devId, n.value.package0);
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
