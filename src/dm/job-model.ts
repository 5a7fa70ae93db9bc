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
//
// A capability that builds on jobs (src/dmws/: charging records) tags them when it queues them and
// plugs JobHooks in when the app is mounted (src/index.ts): `saved` runs inside the transaction that
// stores each job (so what it writes commits or rolls back with the result), `deliver` in the
// device's alarm hands on what `saved` wrote (an outbox).
import type { Env } from "../env";
import { notFound } from "../http/errors";

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
  /** What the capability that queued the job needs to know of it again (e.g. src/dmws/: provider, operation). */
  tag?: Record<string, string>;
}

export interface JobHooks {
  /** Inside the transaction that stores `job`, on the device's storage. */
  saved?(job: Job, sql: SqlStorage): void;
  /** Whether `saved` left something for `deliver` (checked after each transaction that stored jobs). */
  pending?(sql: SqlStorage): boolean;
  /** In the device's alarm: hands on what `saved` left; answers when to come back (ms), if anything is left. */
  deliver?(env: Env, sql: SqlStorage): Promise<number | undefined>;
}

let hooks: JobHooks = {};
/** Plugs hooks into the job path (src/index.ts); answers the previous ones. */
export function registerJobHooks(next: JobHooks): JobHooks {
  const previous = hooks;
  hooks = next;
  return previous;
}
export const jobHooks = (): Readonly<JobHooks> => hooks;

export type QueueOptions = { deadlineSeconds?: number; maxAttempts?: number; tag?: Record<string, string> };

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

export interface JobPolicy {
  /** Sessions a job may take before it fails for want of a status. */
  maxAttempts: number;
  /** Lifetime of a job that does not say otherwise. */
  ttlMs: number;
}

export const DEFAULT_JOB_POLICY: JobPolicy = { maxAttempts: 3, ttlMs: 7 * 24 * 3600_000 };

/** Where job documents live; SQL in the object, a Map in unit tests. */
export interface JobRows {
  insert(job: Job): void;
  load(jobId: string): Job | undefined;
  save(job: Job): void;
  /** Unfinished jobs (queued, running) in queue order, at most `limit`. */
  unfinished(limit: number): Job[];
  /** The earliest deadline of an unfinished job (ms), for the alarm. */
  nextDeadline(): number | undefined;
}

const SUCCESS = /^2\d\d$/;
const FINISHED: ReadonlySet<JobState> = new Set(["done", "failed", "cancelled"]);
const SCAN = 200;

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
export function jobView(job: Job): Omit<Job, "session"> {
  const { session: _internal, ...view } = job;
  return view;
}

/** Done once every top-level command has its verdict: "done" if all succeeded, else "failed". */
function settle(job: Job): void {
  if (isFinished(job)) return;
  const answered = job.commands.every((c) => c.status !== undefined || c.error !== undefined);
  if (!answered) return;
  job.state = job.commands.every(succeeded) ? "done" : "failed";
  if (job.state === "failed") job.reason ??= failureReason(job.commands);
  delete job.session;
}

function failureReason(commands: JobCommand[]): string {
  const i = commands.findIndex((c) => !succeeded(c));
  const c = commands[i]!;
  return `command ${i + 1} (${c.kind}${c.target ? ` ${c.target}` : ""}): ${c.error ?? `status ${c.status}`}`;
}

function clearOutcome(c: JobCommand): void {
  delete c.status;
  delete c.error;
  delete c.results;
  delete c.response;
  for (const child of c.children ?? []) clearOutcome(child);
}

export class JobStore {
  constructor(
    private readonly rows: JobRows,
    private readonly policy: JobPolicy = DEFAULT_JOB_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  queue(specs: JobCommandSpec[], opts: QueueOptions = {}): Job {
    const t = this.now();
    const iso = new Date(t).toISOString();
    const job: Job = {
      jobId: crypto.randomUUID(),
      state: "queued",
      createdAt: iso,
      updatedAt: iso,
      deadline: new Date(t + (opts.deadlineSeconds !== undefined ? opts.deadlineSeconds * 1000 : this.policy.ttlMs)).toISOString(),
      attempts: 0,
      maxAttempts: opts.maxAttempts ?? this.policy.maxAttempts,
      commands: specs.map(jobCommand),
      ...(opts.tag ? { tag: opts.tag } : {}),
    };
    this.rows.insert(job);
    return job;
  }

  get(jobId: string): Job {
    const job = this.rows.load(jobId);
    if (!job) throw notFound("jobId", jobId);
    return job;
  }

  find(jobId: string): Job | undefined {
    return this.rows.load(jobId);
  }

  save(job: Job): void {
    job.updatedAt = new Date(this.now()).toISOString();
    settle(job);
    this.rows.save(job);
  }

  /** Cancelling a finished job changes nothing (the call is idempotent). */
  cancel(jobId: string): Job {
    const job = this.get(jobId);
    if (isFinished(job)) return job;
    job.state = "cancelled";
    job.reason = "cancelled through the API";
    delete job.session;
    this.save(job);
    return job;
  }

  /** Unfinished jobs past their deadline fail. Answers the earliest deadline left (ms), for the alarm. */
  expire(): number | undefined {
    const t = this.now();
    for (const job of this.rows.unfinished(SCAN)) {
      if (Date.parse(job.deadline) <= t) this.fail(job, `deadline ${job.deadline} passed before the device answered every command`);
    }
    return this.rows.nextDeadline();
  }

  private fail(job: Job, reason: string): void {
    job.state = "failed";
    job.reason = reason;
    delete job.session;
    this.save(job);
  }

  /**
   * The unfinished jobs in queue order with what `sessionKey` has not handed out yet. Lazy: the
   * SyncML engine takes as many as fit in its message and marks only those with {@link markSent}.
   */
  *pending(sessionKey: string): Generator<{ job: Job; commands: { path: CommandPath; command: JobCommand }[] }> {
    const t = this.now();
    for (const job of this.rows.unfinished(SCAN)) {
      if (Date.parse(job.deadline) <= t) {
        this.fail(job, `deadline ${job.deadline} passed before the device answered every command`);
        continue;
      }
      const sent = job.session?.key === sessionKey ? job.session.sent : [];
      const commands = job.commands
        .map((command, i) => ({ path: [i], command }))
        .filter(({ path, command }) => command.status === undefined && command.error === undefined && !sent.includes(path[0]!));
      if (commands.length) yield { job, commands };
    }
  }

  /** Marks top-level commands as handed out in `sessionKey`; the first time in a session counts an attempt. */
  markSent(sessionKey: string, job: Job, indices: number[]): void {
    if (job.session?.key !== sessionKey) {
      job.session = { key: sessionKey, sent: [] };
      job.attempts += 1;
    }
    for (const i of indices) if (!job.session.sent.includes(i)) job.session.sent.push(i);
    job.state = "running";
    this.save(job);
  }

  /** takeCommands for a second protocol: the next `maxJobs` jobs' commands, marked sent. */
  take(sessionKey: string, maxJobs = 1): JobBatch[] {
    const out: JobBatch[] = [];
    for (const { job, commands } of this.pending(sessionKey)) {
      if (out.length >= maxJobs) break;
      this.markSent(sessionKey, job, commands.map((c) => c.path[0]!));
      out.push({ jobId: job.jobId, commands });
    }
    return out;
  }

  /** The device's verdict on one command. A cancelled job keeps what still arrives, but stays cancelled. */
  record(jobId: string, path: CommandPath, outcome: CommandOutcome): Job | undefined {
    const job = this.rows.load(jobId);
    const cmd = job && commandAt(job, path);
    if (!job || !cmd) return undefined;
    if (outcome.status !== undefined) cmd.status = outcome.status;
    if (outcome.error !== undefined) cmd.error = outcome.error;
    if (outcome.results) cmd.results = [...(cmd.results ?? []), ...outcome.results];
    if (outcome.response) cmd.response = outcome.response;
    if (job.state === "queued") job.state = "running";
    this.save(job);
    return job;
  }

  /** Adds generic alerts to the command with this correlator in one of the latest jobs. */
  attachAlerts(correlator: string, alerts: GenericAlert[], recent: Iterable<Job>): void {
    for (const job of recent) {
      const hit = findCorrelated(job.commands, correlator);
      if (hit) {
        hit.alerts = [...(hit.alerts ?? []), ...alerts];
        this.save(job);
        return;
      }
    }
  }

  /**
   * The session ended (or was replaced): what it handed out and never got a status for goes back to
   * the queue. An Atomic or Sequence is all or nothing from the server's view, so it goes out again
   * whole. A job that used up its attempts fails, naming the commands that were never answered.
   */
  release(sessionKey: string): void {
    for (const job of this.rows.unfinished(SCAN)) {
      if (job.session?.key !== sessionKey) continue;
      const unanswered = job.session.sent.filter((i) => job.commands[i] && job.commands[i]!.status === undefined && job.commands[i]!.error === undefined);
      delete job.session;
      if (unanswered.length && job.attempts >= job.maxAttempts) {
        const names = unanswered.map((i) => `${i + 1} (${job.commands[i]!.kind})`).join(", ");
        for (const i of unanswered) job.commands[i]!.error = `no status from the device after ${job.attempts} sessions`;
        job.state = "failed";
        job.reason = `the device never answered command ${names} in ${job.attempts} sessions`;
        this.save(job);
        continue;
      }
      for (const i of unanswered) clearOutcome(job.commands[i]!);
      if (job.commands.every((c) => c.status === undefined && c.error === undefined)) job.state = "queued";
      this.save(job);
    }
  }
}

function findCorrelated(commands: JobCommand[], correlator: string): JobCommand | undefined {
  for (const c of commands) {
    if (c.correlator === correlator) return c;
    const inner = c.children && findCorrelated(c.children, correlator);
    if (inner) return inner;
  }
  return undefined;
}

/** The job table in the device's SQLite storage. */
export class SqlJobRows implements JobRows {
  constructor(private readonly sql: SqlStorage) {}

  insert(job: Job): void {
    const seq = (this.sql.exec<{ n: number | null }>("SELECT MAX(seq) AS n FROM job").toArray()[0]?.n ?? 0) + 1;
    this.sql.exec("INSERT INTO job (job_id, seq, state, deadline, doc) VALUES (?, ?, ?, ?, ?)", job.jobId, seq, job.state, Date.parse(job.deadline), JSON.stringify(job));
    hooks.saved?.(job, this.sql);
  }

  load(jobId: string): Job | undefined {
    const row = this.sql.exec<{ doc: string }>("SELECT doc FROM job WHERE job_id = ?", jobId).toArray()[0];
    return row ? upgrade(JSON.parse(row.doc)) : undefined;
  }

  save(job: Job): void {
    this.sql.exec("UPDATE job SET state = ?, doc = ? WHERE job_id = ?", job.state, JSON.stringify(job), job.jobId);
    hooks.saved?.(job, this.sql);
  }

  unfinished(limit: number): Job[] {
    return this.sql.exec<{ doc: string }>("SELECT doc FROM job WHERE state IN ('queued', 'running') ORDER BY seq LIMIT ?", limit).toArray().map((r) => upgrade(JSON.parse(r.doc)));
  }

  recent(limit: number): Job[] {
    return this.sql.exec<{ doc: string }>("SELECT doc FROM job ORDER BY seq DESC LIMIT ?", limit).toArray().map((r) => upgrade(JSON.parse(r.doc)));
  }

  nextDeadline(): number | undefined {
    return this.sql.exec<{ d: number | null }>("SELECT MIN(deadline) AS d FROM job WHERE state IN ('queued', 'running')").toArray()[0]?.d ?? undefined;
  }
}

/** Jobs stored before deadlines and attempts existed get the defaults. */
function upgrade(job: Job): Job {
  job.deadline ??= new Date(Date.parse(job.createdAt) + DEFAULT_JOB_POLICY.ttlMs).toISOString();
  job.attempts ??= 0;
  job.maxAttempts ??= DEFAULT_JOB_POLICY.maxAttempts;
  return job;
}
