// Running an operation: resolve the devices, authorize every (subtree, operations) the plan needs,
// record the operation in the provider's object and queue one job per device on the device's object
// (the job model reaches DM 1.2 and DM 2.0 devices alike). Campaigns call createDeviceJob for one
// device at a time and read it back with readDeviceResult.
import type { Env } from "../env";
import { ApiError, notFound, type Outcome } from "../http/errors";
import type { Job } from "../dm/job-model";
import { authorize } from "./access";
import { allDevicesOf, registry } from "./groups";
import { deviceResult, planOperation, type DeviceJobTag, type DeviceResult, type OperationSpec } from "./operation-kinds";
import type { OperationJob, OperationRecord, OperationTarget, StateCounts } from "./operation-store";

import { deviceStub } from "../residency";

export type { StateCounts } from "./operation-store";

export const providerObject = (env: Env, provider: string) => env.DMWS_PROVIDERS.getByName(provider);
const PARALLEL = 16;

/** The correlator of the Exec of an operation's jobs: the 1226 / OperationComplete alert comes back with it. */
export const correlatorOf = (operationId: string) => `dmws:${operationId}`;

/** What a job of the DM web services carries: whose result it is (charged to), of which operation, and where it is reported. */
export function jobTag(args: { provider: string; operationId: string; operation: string; devId: string; subscriber?: string; resultDeadline?: number; campaign?: boolean }): DeviceJobTag {
  return {
    dmws: "1",
    provider: args.provider,
    operationId: args.operationId,
    operation: args.operation,
    devId: args.devId,
    subscriber: args.subscriber ?? "",
    resultDeadline: args.resultDeadline !== undefined ? new Date(args.resultDeadline).toISOString() : "",
    campaign: args.campaign ? "1" : "",
  };
}

/**
 * Queues one operation's job on one device. The job carries the tag its result is charged by (one
 * charging record per final result, written with the result). Answers the job id, or why the device
 * got none (an unknown device is not an error of the whole operation). Authorize first: this does not.
 */
export async function createDeviceJob(
  env: Env,
  args: { provider: string; operationId: string; spec: OperationSpec; devId: string; subscriber?: string; deadlineSeconds?: number; maxAttempts?: number },
): Promise<OperationJob & { round: number }> {
  const plan = planOperation(args.spec, correlatorOf(args.operationId));
  const tag = jobTag({
    provider: args.provider, operationId: args.operationId, operation: plan.operation, devId: args.devId,
    ...(args.subscriber ? { subscriber: args.subscriber } : {}),
    ...(plan.resultTimeoutSeconds ? { resultDeadline: Date.now() + plan.resultTimeoutSeconds * 1000 } : {}),
  });
  const out: Outcome<Job> = await deviceStub(env, args.devId).queueJob(plan.commands, {
    tag,
    ...(args.deadlineSeconds !== undefined ? { deadlineSeconds: args.deadlineSeconds } : {}),
    ...(args.maxAttempts !== undefined ? { maxAttempts: args.maxAttempts } : {}),
  });
  if (out.ok) return { devId: args.devId, round: 1, jobId: out.value.jobId, ...(tag.resultDeadline ? { resultDeadline: Date.parse(tag.resultDeadline) } : {}) };
  return { devId: args.devId, round: 1, error: out.error.variables.join(": ") };
}

/** One device's result, read from its job; a device without a job reads as failed. */
export async function readDeviceResult(env: Env, j: OperationJob): Promise<DeviceResult> {
  if (!j.jobId) return { devId: j.devId, state: "failed", detail: j.error ?? "no job" };
  const out = await deviceStub(env, j.devId).job(j.jobId);
  if (!out.ok) return { devId: j.devId, jobId: j.jobId, state: "failed", detail: out.error.variables.join(": ") };
  return { ...deviceResult(out.value), devId: j.devId };
}

async function inBatches<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += PARALLEL) out.push(...(await Promise.all(items.slice(i, i + PARALLEL).map(fn))));
  return out;
}

export async function resolveTarget(env: Env, target: OperationTarget): Promise<string[]> {
  if ("devices" in target) return [...new Set(target.devices)];
  if ("group" in target) return allDevicesOf(env, target.group);
  const devices = await registry(env).devicesOfSubscriber(target.subscriber);
  if (!devices.length) throw notFound("subscriber", target.subscriber, "(no device of this subscriber in the inventory)");
  return devices;
}

/** Every grant the plan needs, checked on every device (403 naming the first refusal, audited). */
export async function authorizePlan(env: Env, provider: string, spec: OperationSpec, devices: string[] | { group: string }, action: string): Promise<void> {
  const plan = planOperation(spec, "");
  for (const need of plan.needs) await authorize(env, provider, devices, need.subtree, need.operations, action);
}

/** Queues a round of jobs (all devices) and records them in the provider's object. */
export async function queueRound(env: Env, provider: string, op: OperationRecord, devices: string[], round: number): Promise<OperationJob[]> {
  const subscribers = await registry(env).subscribersOf(devices);
  const jobs = await inBatches(devices, async (devId) => {
    const j = await createDeviceJob(env, {
      provider, operationId: op.operationId, spec: op.spec, devId,
      ...(subscribers[devId] ? { subscriber: subscribers[devId] } : {}),
      ...(op.deadlineSeconds !== undefined ? { deadlineSeconds: op.deadlineSeconds } : {}),
    });
    return { ...j, round };
  });
  await providerObject(env, provider).recordJobs(op.operationId, round, jobs);
  return jobs;
}

export interface StartRequest {
  spec: OperationSpec;
  target: OperationTarget;
  deadlineSeconds?: number;
  trigger?: string;
  operationId?: string;
}

export async function startOperation(env: Env, provider: string, req: StartRequest, action: string): Promise<OperationRecord> {
  const devices = await resolveTarget(env, req.target);
  if (!devices.length) throw new ApiError(400, "SVC0002", ["target", "the target holds no device"]);
  await authorizePlan(env, provider, req.spec, devices, action);
  const op: OperationRecord = {
    operationId: req.operationId ?? crypto.randomUUID(),
    provider,
    spec: req.spec,
    target: req.target,
    createdAt: new Date().toISOString(),
    deviceCount: devices.length,
    rounds: 1,
    ...(req.deadlineSeconds !== undefined ? { deadlineSeconds: req.deadlineSeconds } : {}),
    trigger: req.trigger ?? "api",
  };
  const schedule = req.spec.kind === "diagmon" ? req.spec.schedule : undefined;
  await providerObject(env, provider).createOperation(op, schedule && schedule.count > 1 ? Date.now() + schedule.intervalSeconds * 1000 : undefined);
  await queueRound(env, provider, op, devices, 1);
  return op;
}


/** One page of an operation's device results, in (round, devId) order. */
export async function operationResults(env: Env, provider: string, operationId: string, cursor: string | undefined, limit: number) {
  const page = await providerObject(env, provider).operationJobs(operationId, cursor, limit);
  if (!page) throw notFound("operationId", operationId);
  const items = await inBatches(page.items, async (j) => ({ round: j.round, ...(await readDeviceResult(env, j)) }));
  return { items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
}

/**
 * Counts of device results per state: from the provider object's counts table (each job's state is
 * reported there by its device, ./operation-state-hook.ts), or, for an operation recorded before
 * that, by reading every device job.
 */
export async function operationCounts(env: Env, provider: string, operationId: string): Promise<StateCounts> {
  const kept = await providerObject(env, provider).operationCounts(operationId);
  if (kept) return kept;
  const counts: StateCounts = { pending: 0, running: 0, succeeded: 0, failed: 0, timeout: 0, cancelled: 0 };
  let cursor: string | undefined;
  do {
    const page = await operationResults(env, provider, operationId, cursor, 500);
    for (const r of page.items) counts[r.state] += 1;
    cursor = page.nextCursor;
  } while (cursor);
  return counts;
}

/** Cancels every unfinished device job of the operation (finished ones stay as they are). */
export async function cancelOperation(env: Env, provider: string, operationId: string): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await providerObject(env, provider).operationJobs(operationId, cursor, 500);
    if (!page) throw notFound("operationId", operationId);
    await inBatches(page.items.filter((j) => j.jobId), async (j) => {
      await deviceStub(env, j.devId).cancelJob(j.jobId!);
    });
    cursor = page.nextCursor;
  } while (cursor);
  await providerObject(env, provider).stopRounds(operationId);
}
