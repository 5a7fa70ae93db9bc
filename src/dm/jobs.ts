// Management jobs (northbound) and how their commands become SyncML DM commands and take back
// the device's Status and Results. A job is one document: its commands with their outcome.
import type { Command, Item, ItemData, Meta } from "../codec";

export type UiAlertCode = "1100" | "1101" | "1102" | "1103" | "1104";

export type JobCommandSpec =
  | { kind: "Get" | "Delete"; target: string }
  | { kind: "Add" | "Replace"; target: string; data?: string; format?: string; type?: string }
  | { kind: "Copy"; target: string; source: string }
  | { kind: "Exec"; target: string; data?: string; correlator?: string }
  | { kind: "Atomic" | "Sequence"; commands: JobCommandSpec[] }
  | { kind: "Alert"; code: UiAlertCode; items: string[]; options?: string };

export interface CommandResult {
  source: string;
  format?: string;
  type?: string;
  data: string;
}

export interface GenericAlert {
  type?: string;
  source?: string;
  format?: string;
  data?: string;
  receivedAt: string;
}

/** A job command with its outcome. `status` is the device's code once it answered. */
export interface JobCommand {
  kind: JobCommandSpec["kind"];
  target?: string;
  source?: string;
  data?: string;
  format?: string;
  type?: string;
  correlator?: string;
  code?: string;
  items?: string[];
  options?: string;
  status?: string;
  results?: CommandResult[];
  /** What the user answered to a UI alert (1102 text, 1103/1104 choices). */
  response?: string[];
  alerts?: GenericAlert[];
  children?: JobCommand[];
}

export type JobState = "queued" | "running" | "done" | "failed";

export interface Job {
  jobId: string;
  state: JobState;
  createdAt: string;
  updatedAt: string;
  commands: JobCommand[];
}

export function jobCommand(spec: JobCommandSpec): JobCommand {
  if (spec.kind === "Atomic" || spec.kind === "Sequence") return { kind: spec.kind, children: spec.commands.map(jobCommand) };
  return { ...spec } as JobCommand;
}

/** Path of a command inside its job: indices from the top level down. */
export type CommandPath = number[];

export function commandAt(job: Job, path: CommandPath): JobCommand | undefined {
  let list = job.commands;
  let cmd: JobCommand | undefined;
  for (const i of path) {
    cmd = list[i];
    if (!cmd) return undefined;
    list = cmd.children ?? [];
  }
  return cmd;
}

const SUCCESS = /^2\d\d$/;

/** Done once every top-level command has its status: "done" if all succeeded, else "failed". */
export function settle(job: Job): void {
  const finals = job.commands.map((c) => c.status);
  if (finals.every((s) => s !== undefined)) job.state = finals.every((s) => SUCCESS.test(s!)) ? "done" : "failed";
}

const meta = (c: JobCommand): Meta | undefined => (c.format || c.type ? { ...(c.format ? { format: c.format } : {}), ...(c.type ? { type: c.type } : {}) } : undefined);

/**
 * The SyncML command for a job command. `nextCmdId` hands out CmdIDs; `onId` records which CmdID
 * stands for which path, so Status and Results find their way back.
 */
export function toSyncML(c: JobCommand, path: CommandPath, nextCmdId: () => string, onId: (cmdId: string, path: CommandPath) => void, data?: { chunk: ItemData; size?: number; more: boolean }): Command {
  const cmdId = nextCmdId();
  onId(cmdId, path);
  const target = c.target ? { target: { locURI: c.target } } : {};
  switch (c.kind) {
    case "Get":
    case "Delete":
      return { kind: c.kind, cmdId, items: [{ ...target }] };
    case "Add":
    case "Replace": {
      const m = meta(c);
      const item: Item = { ...target };
      const value = data ? data.chunk : c.data;
      if (m || data?.size !== undefined) item.meta = { ...(m ?? {}), ...(data?.size !== undefined ? { size: data.size } : {}) };
      if (value !== undefined) item.data = value;
      if (data?.more) item.moreData = true;
      return { kind: c.kind, cmdId, items: [item] };
    }
    case "Copy":
      return { kind: "Copy", cmdId, items: [{ ...target, source: { locURI: c.source! } }] };
    case "Exec":
      return { kind: "Exec", cmdId, ...(c.correlator ? { correlator: c.correlator } : {}), items: [{ ...target, ...(c.data !== undefined ? { data: c.data } : {}) }] };
    case "Alert":
      // OMA-TS-DM_Protocol §10.4: the first Item carries the options (MINDT, MAXDT, DR ...), the rest the texts.
      return { kind: "Alert", cmdId, data: c.code!, items: [{ data: c.options ?? "" }, ...(c.items ?? []).map((t) => ({ data: t }))] };
    case "Atomic":
    case "Sequence":
      return { kind: c.kind, cmdId, commands: (c.children ?? []).map((child, i) => toSyncML(child, [...path, i], nextCmdId, onId)) };
  }
}

/** Size of a value as the device counts it (Meta Size: bytes). */
export const valueSize = (v: ItemData): number => (typeof v === "string" ? new TextEncoder().encode(v).length : v instanceof Uint8Array ? v.length : 0);

/** Item data as text for the job document and the tree; bytes become base64 (format b64). */
export function itemText(d: ItemData | undefined): { data: string; format?: string } {
  if (d === undefined) return { data: "" };
  if (typeof d === "string") return { data: d };
  if (d instanceof Uint8Array) {
    let bin = "";
    for (let i = 0; i < d.length; i += 0x8000) bin += String.fromCharCode(...d.subarray(i, i + 0x8000));
    return { data: btoa(bin), format: "b64" };
  }
  return { data: JSON.stringify(d), format: "xml-element" };
}
