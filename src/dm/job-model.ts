// The management job model, the same for every device-facing protocol.
//
// A job is what the northbound API queued for one device: a list of commands on management-tree
// URIs (Get, Add, Replace, Delete, Copy, Exec, Atomic, Sequence, user-interaction Alerts) and,
// per command, the device's answer. Nothing here knows SyncML or DM 2.0: a protocol adapter maps
// the commands onto its wire (SyncML DM 1.2: ./syncml-commands.ts and ./engine.ts; DM 2.0 REST:
// ./v2/) and reports each command's outcome back in the same words.
//
// The seam a protocol adapter uses (DeviceObject RPC methods, each one transaction):
//   takeCommands(sessionKey, { maxJobs })  the next unfinished jobs, in queue order, each with its
//                                           commands that have no status and were not handed out in
//                                           this session yet; they count as sent in `sessionKey`
//                                           (one attempt per job per session).
//   recordCommand(sessionKey, jobId, path, outcome)
//                                           the device's status code (any protocol's string: "200",
//                                           "404", DM 2.0 "sc"), results, UI response, or a server-side
//                                           `error` (why the command failed without a device verdict).
//   releaseSession(sessionKey)              the session ended: commands it handed out that never got a
//                                           status go back to the queue (an Atomic or Sequence whole);
//                                           a job whose attempts reached the limit fails with the reason.
//   cancelJob(jobId)                        state "cancelled": nothing more of it is handed out.
// A session key is the adapter's own opaque id for one session (e.g. "syncml:<secret hash>").
// Jobs also fail when their deadline passes (the object's alarm, and every take, check it).
// A job may name a listener (./job-reports.ts): the transaction that finishes it also writes the
// report the listener gets (a campaign counting its devices' results).
//
// A capability that builds on jobs (src/dmws/: charging records) tags them when it queues them and
// plugs JobHooks in when the app is mounted (src/index.ts): `saved` runs inside the transaction that
// stores each job (so what it writes commits or rolls back with the result), `deliver` in the
// device's alarm hands on what `saved` wrote (an outbox).
//
// This file is the model (the job document and its commands); ./job-store.ts keeps and changes jobs
// (queue, take, record, release, deadlines, the SQL rows); ./job-hooks.ts is the hook registry.
import type { JobListener } from "./job-reports";

export type { JobHooks } from "./job-hooks";
export { registerJobHooks } from "./job-hooks";

export type UiAlertCode = "1100" | "1101" | "1102" | "1103" | "1104";

/** A command that DM 1.2 and DM 2.0 both carry, alone or inside an Atomic or Sequence. */
type SharedSpec =
  | { kind: "Get" | "Delete"; target: string }
  | { kind: "Add" | "Replace"; target: string; data?: string; format?: string; type?: string }
  | { kind: "Copy"; target: string; source: string }
  | { kind: "Exec"; target: string; data?: string; correlator?: string }
  | { kind: "Alert"; code: UiAlertCode; items: string[]; options?: string };
type GroupSpec = { kind: "Atomic" | "Sequence"; commands: (SharedSpec | GroupSpec)[] };

/**
 * DM 2.0 commands with no SyncML DM 1.2 counterpart (src/dm/v2/README.md, decision 13): HPOST of a
 * node's value (to the session's data URI, or to `url`), SUB/UNSUB of a node's changes, DEFAULT DM
 * server. Top-level commands only; a DM 1.2 device's job gets 406 for each, naming the command.
 */
export type Dm2OnlySpec =
  | { kind: "HPost"; target: string; url?: string }
  | { kind: "Sub" | "Unsub"; target: string }
  | { kind: "Default"; url: string };
export const DM2_ONLY_COMMANDS: Readonly<Record<Dm2OnlySpec["kind"], string>> = { HPost: "HPOST", Sub: "SUB", Unsub: "UNSUB", Default: "DEFAULT" };
export const isDm2Only = (kind: string): kind is Dm2OnlySpec["kind"] => Object.hasOwn(DM2_ONLY_COMMANDS, kind);

export type JobCommandSpec = SharedSpec | GroupSpec | Dm2OnlySpec;

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
  /** HPost: where the device POSTs the value (absent: this server, and the value lands in `results`); Default: the DM server's address. */
  url?: string;
  code?: string;
  items?: string[];
  options?: string;
  status?: string;
  /** Why the command failed on the server's side (no device verdict, or one that cannot stand). */
  error?: string;
  results?: CommandResult[];
  /** What the user answered to a UI alert (1102 text, 1103/1104 choices). */
  response?: string[];
  alerts?: GenericAlert[];
  children?: JobCommand[];
}

export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";

export interface Job {
  jobId: string;
  state: JobState;
  createdAt: string;
  updatedAt: string;
  /** After this instant an unfinished job fails ("deadline passed"). */
  deadline: string;
  /** Sessions that handed out some of its commands. */
  attempts: number;
  maxAttempts: number;
  /** Why the job failed or was cancelled. */
  reason?: string;
  commands: JobCommand[];
  /** Internal: the session holding the job and the top-level commands it handed out. */
  session?: { key: string; sent: number[] };
  /** Internal: who hears when the job finishes, and whether its report was written. */
  listener?: JobListener;
  reported?: boolean;
  /** What the capability that queued the job needs to know of it again (e.g. src/dmws/: provider, operation). */
  tag?: Record<string, string>;
}

/** Path of a command inside its job: indices from the top level down. */
export type CommandPath = number[];

export interface CommandOutcome {
  status?: string;
  error?: string;
  results?: CommandResult[];
  response?: string[];
}

/** One job's share of a batch: the top-level commands handed out, by index. */
export interface JobBatch {
  jobId: string;
  commands: { path: CommandPath; command: JobCommand }[];
}

const SUCCESS = /^2\d\d$/;
const FINISHED: ReadonlySet<JobState> = new Set(["done", "failed", "cancelled"]);

export const isFinished = (job: Job): boolean => FINISHED.has(job.state);
export const succeeded = (c: JobCommand): boolean => c.status !== undefined && c.error === undefined && SUCCESS.test(c.status);

export function jobCommand(spec: JobCommandSpec): JobCommand {
  if (spec.kind === "Atomic" || spec.kind === "Sequence") return { kind: spec.kind, children: spec.commands.map(jobCommand) };
  return { ...spec } as JobCommand;
}

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

/** What the northbound API shows: everything but the internal session marker. */
export function jobView(job: Job): Omit<Job, "session" | "listener" | "reported"> {
  const { session: _internal, listener: _listener, reported: _reported, ...view } = job;
  return view;
}
