// Keeping jobs: queue, hand out, record, release, deadlines (./job-model.ts describes the seam),
// over rows that live in the device's SQLite storage (SqlJobRows) or a Map in unit tests.
import { notFound } from "../http/errors";
import { jobHooks } from "./job-hooks";
import {
  commandAt, isFinished, jobCommand, succeeded,
  type CommandOutcome, type CommandPath, type GenericAlert, type Job, type JobBatch, type JobCommand, type JobCommandSpec,
} from "./job-model";
import type { JobListener } from "./job-reports";

export interface JobPolicy {
  /** Sessions a job may take before it fails for want of a status. */
  maxAttempts: number;
  /** Lifetime of a job that does not say otherwise. */
  ttlMs: number;
}

export interface QueueOptions {
  deadlineSeconds?: number;
  maxAttempts?: number;
  tag?: Record<string, string>;
  /** The caller's own id for the job (a UUID), so that queueing it again changes nothing. */
  jobId?: string;
  listener?: JobListener;
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

const SCAN = 200;

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
    /** Called inside the transaction that finishes a job with a listener, once per job. */
    private readonly onFinished?: (job: Job) => void,
  ) {}

  /** With `jobId`, idempotent: a job already queued under that id is answered as it is. */
  queue(specs: JobCommandSpec[], opts: QueueOptions = {}): Job {
    if (opts.jobId !== undefined) {
      const existing = this.rows.load(opts.jobId);
      if (existing) return existing;
    }
    const t = this.now();
    const iso = new Date(t).toISOString();
    const job: Job = {
      jobId: opts.jobId ?? crypto.randomUUID(),
      state: "queued",
      createdAt: iso,
      updatedAt: iso,
      deadline: new Date(t + (opts.deadlineSeconds !== undefined ? opts.deadlineSeconds * 1000 : this.policy.ttlMs)).toISOString(),
      attempts: 0,
      maxAttempts: opts.maxAttempts ?? this.policy.maxAttempts,
      commands: specs.map(jobCommand),
      ...(opts.listener ? { listener: opts.listener } : {}),
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
    if (isFinished(job) && job.listener && !job.reported) {
      job.reported = true;
      this.onFinished?.(job);
    }
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
   * Alerts reporting changes of nodes (DM 2.0 SUB): each lands on the newest succeeded Sub whose node
   * is the alert's source or above it, unless a succeeded Unsub of that node came after it.
   */
  attachChanges(alerts: GenericAlert[], recent: Job[]): void {
    const touched = new Set<Job>();
    for (const alert of alerts) {
      const sub = alert.source !== undefined ? subscriptionOf(alert.source, recent) : undefined;
      if (!sub) continue;
      sub.command.alerts = [...(sub.command.alerts ?? []), alert];
      touched.add(sub.job);
    }
    for (const job of touched) this.save(job);
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

const covers = (node: string, uri: string): boolean => uri === node || uri.startsWith(node.endsWith("/") ? node : `${node}/`);

/** The Sub command (newest first) whose subscription covers `uri`, if none of its node was unsubscribed after it. */
function subscriptionOf(uri: string, recent: Job[]): { job: Job; command: JobCommand } | undefined {
  for (const job of recent) {
    for (let i = job.commands.length - 1; i >= 0; i--) {
      const c = job.commands[i]!;
      if ((c.kind !== "Sub" && c.kind !== "Unsub") || !succeeded(c) || c.target === undefined || !covers(c.target, uri)) continue;
      return c.kind === "Sub" ? { job, command: c } : undefined;
    }
  }
  return undefined;
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
    jobHooks().saved?.(job, this.sql);
  }

  load(jobId: string): Job | undefined {
    const row = this.sql.exec<{ doc: string }>("SELECT doc FROM job WHERE job_id = ?", jobId).toArray()[0];
    return row ? upgrade(JSON.parse(row.doc)) : undefined;
  }

  save(job: Job): void {
    this.sql.exec("UPDATE job SET state = ?, doc = ? WHERE job_id = ?", job.state, JSON.stringify(job), job.jobId);
    jobHooks().saved?.(job, this.sql);
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
