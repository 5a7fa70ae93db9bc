// The high-level operations, each translated onto the protocol-neutral job model (src/dm/job-model.ts)
// so DM 1.2 and DM 2.0 devices get the same commands, and each device's job read back as one result:
//   fumo          OMA-TS-DM_FUMO-V1_0: PkgURL, then Exec Download | Update | DownloadAndUpdate; the result
//                 is generic alert 1226 (org.openmobilealliance.dm.firmwareupdate.*) with the Exec's
//                 correlator, usually in a later session; the State node is read in the same job.
//   scomo         urn:oma:mo:oma-scomo:1.0: install (Download/<PkgID>), remove, activate, deactivate
//                 (Inventory/Deployed/<ID>/Operations/*), inventory; result alert urn:oma:at:scomo:1.0:OperationComplete.
//   diagmon       Get of the values asked for, now or on a schedule (one collection job per round).
//   provisioning  a configuration set (tree operations) pushed to every device of a subscriber.
import type { Job, JobCommand, JobCommandSpec } from "../dm/job-model";
import { normaliseSubtree, operationOf, type Operation } from "./access-model";
import { FUMO_ALERT_PREFIX, FUMO_STATES, fumoResult, SCOMO_ALERT, scomoResult } from "./fumo-codes";

export type FumoSpec = { kind: "fumo"; action: "Download" | "Update" | "DownloadAndUpdate"; pkgURL?: string; pkgName?: string; pkgVersion?: string; node?: string; resultTimeoutSeconds?: number };
export type ScomoSpec =
  | { kind: "scomo"; action: "install"; pkgId: string; pkgURL: string; name?: string; version?: string; activate?: boolean; resultTimeoutSeconds?: number }
  | { kind: "scomo"; action: "remove" | "activate" | "deactivate"; componentId: string; resultTimeoutSeconds?: number }
  | { kind: "scomo"; action: "inventory" };
export type DiagmonSpec = { kind: "diagmon"; values: string[]; schedule?: { intervalSeconds: number; count: number } };
export type ProvisioningSpec = { kind: "provisioning"; configurationSet: string; commands: JobCommandSpec[] };
export type OperationSpec = FumoSpec | ScomoSpec | DiagmonSpec | ProvisioningSpec;

/** What one device's job carries so its result can be charged and found again (job tag). */
export interface DeviceJobTag {
  [key: string]: string;
  dmws: "1";
  /** The provider charged for the result; "" when nobody is (an operator's campaign). */
  provider: string;
  operationId: string;
  /** The chargeable operation: fumo.update, scomo.install, diagmon.collect, provisioning.push ... */
  operation: string;
  devId: string;
  subscriber: string;
  /** The ISO instant after which a FUMO/SCOMO result that never arrived is a timeout ("" when none). */
  resultDeadline: string;
  /**
   * "1" when the job is a campaign's (operationId is then the campaign id: the campaign counts its
   * result, ./campaigns/); "" for an operation's job (its provider object counts it, ./operation-state-hook.ts).
   * Absent on jobs queued before this field existed.
   */
  campaign: "" | "1";
}

export type DeviceState = "pending" | "running" | "succeeded" | "failed" | "timeout" | "cancelled";

export interface DeviceResult {
  devId: string;
  jobId?: string;
  state: DeviceState;
  /** The device's result code: FUMO 200/250-299/4xx/5xx, SCOMO 1200/14xx, or a command status. */
  resultCode?: string;
  resultName?: string;
  /** FUMO: the State node as read in the job, with its name. */
  fumoState?: { value: string; name: string };
  /** DiagMon and SCOMO inventory: the values read, by URI. */
  values?: Record<string, string>;
  detail?: string;
  updatedAt?: string;
}

export interface OperationPlan {
  commands: JobCommandSpec[];
  /** Every (subtree, operations) the provider needs on each device. */
  needs: { subtree: string; operations: Operation[] }[];
  /** The chargeable operation's name. */
  operation: string;
  /** FUMO/SCOMO: seconds to wait for the asynchronous result after the job was created. */
  resultTimeoutSeconds?: number;
}

export const DEFAULT_RESULT_TIMEOUT_SECONDS = 24 * 3600;
const join = (base: string, ...parts: string[]) => [normaliseSubtree(base), ...parts].join("/");

/** The job commands and the grants one operation needs on one device. */
export function planOperation(spec: OperationSpec, correlator: string): OperationPlan {
  switch (spec.kind) {
    case "fumo": {
      const node = normaliseSubtree(spec.node ?? "./FUMO");
      const commands: JobCommandSpec[] = [];
      if (spec.pkgName !== undefined) commands.push({ kind: "Replace", target: join(node, "PkgName"), data: spec.pkgName });
      if (spec.pkgVersion !== undefined) commands.push({ kind: "Replace", target: join(node, "PkgVersion"), data: spec.pkgVersion });
      if (spec.action !== "Update") commands.push({ kind: "Replace", target: join(node, spec.action, "PkgURL"), data: spec.pkgURL ?? "" });
      commands.push({ kind: "Exec", target: join(node, spec.action), correlator });
      commands.push({ kind: "Get", target: join(node, "State") });
      return { commands, needs: [{ subtree: node, operations: [...(commands.some((c) => c.kind === "Replace") ? ["write" as const] : []), "exec", "read"] }], operation: `fumo.${spec.action.toLowerCase()}`, resultTimeoutSeconds: spec.resultTimeoutSeconds ?? DEFAULT_RESULT_TIMEOUT_SECONDS };
    }
    case "scomo": {
      if (spec.action === "inventory") {
        return { commands: [{ kind: "Get", target: "./SCOMO/Inventory/Deployed" }, { kind: "Get", target: "./SCOMO/Inventory/Delivered" }], needs: [{ subtree: "./SCOMO/Inventory", operations: ["read"] }], operation: "scomo.inventory" };
      }
      if (spec.action === "install") {
        const pkg = `./SCOMO/Download/${spec.pkgId}`;
        const commands: JobCommandSpec[] = [{ kind: "Add", target: `${pkg}/PkgURL`, data: spec.pkgURL }];
        if (spec.name !== undefined) commands.push({ kind: "Add", target: `${pkg}/Name`, data: spec.name });
        if (spec.version !== undefined) commands.push({ kind: "Add", target: `${pkg}/PkgVersion`, data: spec.version });
        commands.push({ kind: "Exec", target: `${pkg}/Operations/${spec.activate === false ? "DownloadInstallInactive" : "DownloadInstall"}`, correlator });
        return { commands, needs: [{ subtree: pkg, operations: ["write", "exec"] }], operation: "scomo.install", resultTimeoutSeconds: spec.resultTimeoutSeconds ?? DEFAULT_RESULT_TIMEOUT_SECONDS };
      }
      const component = `./SCOMO/Inventory/Deployed/${spec.componentId}`;
      const verb = { remove: "Remove", activate: "Activate", deactivate: "Deactivate" }[spec.action];
      return { commands: [{ kind: "Exec", target: `${component}/Operations/${verb}`, correlator }], needs: [{ subtree: component, operations: ["exec"] }], operation: `scomo.${spec.action}`, resultTimeoutSeconds: spec.resultTimeoutSeconds ?? DEFAULT_RESULT_TIMEOUT_SECONDS };
    }
    case "diagmon":
      return { commands: spec.values.map((target) => ({ kind: "Get" as const, target })), needs: spec.values.map((v) => ({ subtree: v, operations: ["read" as const] })), operation: "diagmon.collect" };
    case "provisioning": {
      const needs = flatten(spec.commands).flatMap((c) => {
        const op = operationOf(c.kind);
        const targets = "target" in c ? [c.target] : [];
        if (c.kind === "Copy") return [{ subtree: c.target, operations: ["write" as Operation] }, { subtree: c.source, operations: ["read" as Operation] }];
        return op ? targets.map((t) => ({ subtree: t, operations: [op] })) : [];
      });
      return { commands: spec.commands, needs, operation: "provisioning.push" };
    }
  }
}

function flatten(specs: JobCommandSpec[]): JobCommandSpec[] {
  return specs.flatMap((s) => (s.kind === "Atomic" || s.kind === "Sequence" ? flatten(s.commands) : [s]));
}

/** A job whose deadline passed before the device answered (src/dm/job-model.ts): no result from the device, a timeout. */
const expired = (job: Pick<Job, "state" | "reason">) => job.state === "failed" && (job.reason ?? "").startsWith("deadline ");

const ok = (status: string | undefined) => status !== undefined && /^2\d\d$/.test(status);

/**
 * One device's result, read from its job. Final states are succeeded, failed, cancelled (and
 * timeout, when `now` is past the tag's resultDeadline with no asynchronous result).
 */
export function deviceResult(job: Omit<Job, "session">, now = Date.now()): DeviceResult {
  const tag = job.tag as DeviceJobTag | undefined;
  const base: DeviceResult = { devId: tag?.devId ?? "", jobId: job.jobId, state: "pending", updatedAt: job.updatedAt };
  const kind = tag?.operation.split(".")[0];
  if (job.state === "cancelled") return { ...base, state: "cancelled", ...(job.reason ? { detail: job.reason } : {}) };
  const exec = job.commands.find((c) => c.kind === "Exec" && c.correlator !== undefined);
  if ((kind === "fumo" || kind === "scomo") && exec) return asyncResult(job, exec, kind, tag!, base, now);
  if (job.state === "queued") return base;
  if (job.state === "running") return { ...base, state: "running" };
  if (expired(job)) return { ...base, state: "timeout", detail: job.reason! };
  const values = readValues(job.commands);
  if (job.state === "done") return { ...base, state: "succeeded", resultCode: "200", resultName: "every command succeeded", ...(Object.keys(values).length ? { values } : {}) };
  const failed = job.commands.find((c) => !ok(c.status) || c.error !== undefined);
  return { ...base, state: "failed", ...(failed?.status ? { resultCode: failed.status } : {}), detail: job.reason ?? "failed", ...(Object.keys(values).length ? { values } : {}) };
}

function asyncResult(job: Omit<Job, "session">, exec: JobCommand, kind: "fumo" | "scomo", tag: DeviceJobTag, base: DeviceResult, now: number): DeviceResult {
  const stateCmd = job.commands.find((c) => c.kind === "Get" && c.target?.endsWith("/State"));
  const stateValue = stateCmd?.results?.[0]?.data;
  const withState = kind === "fumo" && stateValue !== undefined ? { fumoState: { value: stateValue, name: FUMO_STATES[stateValue.trim()] ?? "unknown state" } } : {};
  const alertType = (t: string | undefined) => (kind === "fumo" ? (t ?? "").startsWith(FUMO_ALERT_PREFIX) : t === SCOMO_ALERT);
  const alert = exec.alerts?.find((a) => alertType(a.type));
  if (alert) {
    const code = (alert.data ?? "").trim();
    const r = kind === "fumo" ? fumoResult(code) : scomoResult(code);
    return { ...base, ...withState, state: r.success ? "succeeded" : "failed", resultCode: code, resultName: r.name, updatedAt: alert.receivedAt };
  }
  if (exec.error !== undefined || (exec.status !== undefined && !ok(exec.status))) {
    return { ...base, ...withState, state: "failed", ...(exec.status ? { resultCode: exec.status } : {}), resultName: "the device refused the Exec", detail: exec.error ?? `Exec ${exec.target} answered ${exec.status}` };
  }
  if (exec.status === undefined) {
    if (expired(job)) return { ...base, state: "timeout", detail: job.reason! };
    if (job.state === "failed") return { ...base, state: "failed", detail: job.reason ?? "failed before the Exec was answered" };
    return job.state === "queued" ? base : { ...base, state: "running" };
  }
  // Exec 200: the device completed synchronously (no alert follows); 202: the result comes as an alert.
  if (exec.status === "200") return { ...base, ...withState, state: "succeeded", resultCode: "200", resultName: "Successful (synchronous)" };
  if (tag.resultDeadline && now > Date.parse(tag.resultDeadline)) {
    return { ...base, ...withState, state: "timeout", detail: `no ${kind === "fumo" ? "firmware update" : "SCOMO"} result alert arrived by ${tag.resultDeadline}` };
  }
  return { ...base, ...withState, state: "running", detail: `Exec accepted (${exec.status}); waiting for the device's result alert` };
}

function readValues(commands: JobCommand[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of commands) {
    if (c.kind !== "Get" || !c.results) continue;
    for (const r of c.results) out[r.source] = r.data;
  }
  return out;
}

export const isFinal = (s: DeviceState) => s === "succeeded" || s === "failed" || s === "timeout" || s === "cancelled";
