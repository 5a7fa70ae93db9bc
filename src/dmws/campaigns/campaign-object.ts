// One object per campaign (named by its campaignId). It owns the campaign's state machine, its
// devices' progress wave by wave and the provider's webhook subscription; its alarm drives it:
// dispatch within the rate limit, cancels after a stop or cancel, the deadline, webhook delivery.
// Device objects report each finished job here (jobFinished, at least once); a device's result is
// counted once (./campaign-store.ts `finish`). Every change and the notification that reports it
// are one transaction; nothing awaits another object inside one.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../../env";
import { config } from "../../config";
import { ApiError, notFound, outcome, type Outcome } from "../../http/errors";
import { LazySchema } from "../../http/sql";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE, NotificationQueue } from "../../notify/queue";
import type { JobReport } from "../../dm/job-reports";
import { registry } from "../groups";
import { CAMPAIGN_SCHEMA, CAMPAIGN_SCHEMA_COUNTS, CampaignStore, type CampaignDoc, type DeviceRow } from "./campaign-store";
import { campaignResultOf, cancelOnDevice, deviceJobPlan, deviceStateOf, startOnDevice } from "./dispatch";
import type { CampaignResult } from "./result-hook";
import { nextStep, rateAllowance, unfinished, waveOf, type Counts, type CountedState } from "./plan";

export type Caller = { operator: true } | { operator: false; clientId: string };
export type CampaignAction = "start" | "pause" | "resume" | "cancel";

export interface NewCampaign extends Pick<CampaignDoc, "campaignId" | "owner" | "name" | "operation" | "uiMode" | "waves" | "maxPerMinute" | "successThreshold" | "errorThreshold" | "deadline"> {
  devices: string[];
  callback?: { notifyURL: string; callbackData?: string };
  start: boolean;
}

export interface CampaignView extends Omit<CampaignDoc, "currentWave" | "ackErrorWave" | "ackSuccessWave" | "pausedWave" | "subscriptionId" | "waveCount"> {
  waveCount: number;
  /** 1-based; 0 before the start. */
  currentWave: number;
  counts: Counts;
  waveCounts: (Counts & { wave: number })[];
}

export interface CampaignDevice {
  devId: string;
  wave: number;
  state: CountedState;
  jobId?: string;
  startedAt?: number;
  finishedAt?: number;
  reason?: string;
  statuses?: (string | null)[];
  resultCode?: string;
}

const STEPS = [CAMPAIGN_SCHEMA, NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE, CAMPAIGN_SCHEMA_COUNTS];
/** Devices started per alarm run at most, and how many of them at once. */
const BATCH = 100;
const PARALLEL = 12;
const RETRY_MS = 2_000;

export class CampaignObject extends DurableObject<Env> {
  private readonly schema: LazySchema;
  private readonly store: CampaignStore;
  private readonly queue: NotificationQueue;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.schema = new LazySchema(ctx, STEPS);
    this.store = new CampaignStore(ctx.storage.sql);
    this.queue = new NotificationQueue(ctx.storage.sql, env);
  }

  private tx<T>(fn: () => T): T {
    return this.ctx.storage.transactionSync(fn);
  }

  private requireDoc(caller: Caller): CampaignDoc {
    const doc = this.schema.exists ? this.store.doc() : undefined;
    // Another provider's campaign is not theirs to see: it does not exist for them.
    if (!doc || (!caller.operator && caller.clientId !== doc.owner)) throw notFound("campaignId", "campaign");
    return doc;
  }

  // ---------------------------------------------------------------- the provider's API (through ./routes.ts)

  create(input: NewCampaign): Promise<Outcome<{ campaign: CampaignView; signingSecret?: string }>> {
    return outcome(async () => {
      if (this.schema.exists) throw new ApiError(409, "SVC0005", [input.campaignId]);
      const now = Date.now();
      const total = input.devices.length;
      const waveCount = waveOf(total - 1, total, input.waves) + 1;
      const signingSecret = this.tx(() => {
        this.schema.ensure();
        const doc: CampaignDoc = {
          campaignId: input.campaignId, owner: input.owner, ...(input.name !== undefined ? { name: input.name } : {}),
          operation: input.operation, uiMode: input.uiMode, waves: input.waves, waveCount, maxPerMinute: input.maxPerMinute,
          successThreshold: input.successThreshold, ...(input.errorThreshold ? { errorThreshold: input.errorThreshold } : {}),
          deadline: input.deadline, createdAt: now, state: "draft", currentWave: -1, ackErrorWave: -1, ackSuccessWave: -1,
        };
        this.store.addDevices(input.devices.map((devId, i) => ({ devId, wave: waveOf(i, total, input.waves) })));
        let secret: string | undefined;
        if (input.callback) {
          const s = this.queue.subscribe({ clientId: input.owner, notifyURL: input.callback.notifyURL, ...(input.callback.callbackData !== undefined ? { callbackData: input.callback.callbackData } : {}), kind: "campaign" });
          doc.subscriptionId = s.subscription.id;
          secret = s.signingSecret;
        }
        this.store.save(doc);
        if (input.start) this.apply(doc, "start", now);
        return secret;
      });
      await this.schedule();
      return { campaign: this.view(), ...(signingSecret ? { signingSecret } : {}) };
    });
  }

  get(caller: Caller): Promise<Outcome<CampaignView>> {
    return outcome(() => {
      this.requireDoc(caller);
      return this.view();
    });
  }

  devices(caller: Caller, opts: { state?: CountedState; after: number; limit: number }): Promise<Outcome<{ devices: CampaignDevice[]; next?: number }>> {
    return outcome(() => {
      this.requireDoc(caller);
      const rows = this.store.list({ ...opts, limit: opts.limit + 1 });
      const page = rows.slice(0, opts.limit);
      return { devices: page.map(deviceView), ...(rows.length > opts.limit ? { next: page.at(-1)!.seq } : {}) };
    });
  }

  control(caller: Caller, action: CampaignAction): Promise<Outcome<CampaignView>> {
    return outcome(async () => {
      this.tx(() => this.apply(this.requireDoc(caller), action, Date.now()));
      await this.schedule();
      return this.view();
    });
  }

  /** A device object's report of a finished campaign job; true when it counted (false: known already, or not this campaign's). */
  async jobFinished(report: JobReport): Promise<{ counted: boolean }> {
    if (!this.schema.exists) return { counted: false };
    const now = Date.now();
    const counted = this.tx(() => {
      const written = this.store.finish(report.ref, report.jobId, deviceStateOf(report), report.reason, report.statuses, now);
      if (written) this.advance(this.store.doc()!, now);
      return written;
    });
    if (counted) await this.schedule();
    return { counted };
  }

  /** A device's later final result (FUMO alert 1226), from the result hook (./result-hook.ts); counted once, like jobFinished. */
  async resultReported(result: CampaignResult): Promise<{ counted: boolean }> {
    if (!this.schema.exists) return { counted: false };
    const now = Date.now();
    const counted = this.tx(() => {
      const written = this.store.finish(result.devId, result.jobId, result.state, result.reason, result.statuses, now, result.resultCode);
      if (written) this.advance(this.store.doc()!, now);
      return written;
    });
    if (counted) await this.schedule();
    return { counted };
  }

  // ---------------------------------------------------------------- the state machine

  /** A provider's action on the campaign, in its transaction. Repeating the state it is in changes nothing. */
  private apply(doc: CampaignDoc, action: CampaignAction, now: number): void {
    const refuse = () => new ApiError(409, "SVC0002", ["state", `a campaign that is ${doc.state} cannot be ${action === "start" ? "started" : action === "pause" ? "paused" : action === "resume" ? "resumed" : "cancelled"}`]);
    switch (action) {
      case "start":
        if (doc.state === "running") return;
        if (doc.state !== "draft") throw refuse();
        if (now >= doc.deadline) throw new ApiError(409, "SVC0002", ["deadline", "the campaign's deadline has passed"]);
        doc.state = "running";
        doc.startedAt = now;
        doc.currentWave = 0;
        this.event(doc, "started");
        this.event(doc, "waveStarted");
        break;
      case "pause":
        if (doc.state === "paused") return;
        if (doc.state !== "running") throw refuse();
        Object.assign(doc, { state: "paused", pausedBy: "request", pausedWave: doc.currentWave, reason: "paused through the API" });
        this.event(doc, "paused");
        break;
      case "resume":
        if (doc.state === "running") return;
        if (doc.state !== "paused") throw refuse();
        // Resuming acknowledges the threshold that paused it: that wave is not held back by it again.
        if (doc.pausedBy === "errorThreshold") doc.ackErrorWave = Math.max(doc.ackErrorWave, doc.pausedWave ?? -1);
        if (doc.pausedBy === "successThreshold") doc.ackSuccessWave = Math.max(doc.ackSuccessWave, doc.pausedWave ?? -1);
        doc.state = "running";
        delete doc.pausedBy;
        delete doc.pausedWave;
        delete doc.reason;
        this.event(doc, "resumed");
        break;
      case "cancel":
        if (doc.state === "cancelled") return;
        if (doc.state === "completed" || doc.state === "stopped") throw refuse();
        doc.state = "cancelled";
        doc.reason = "cancelled through the API";
        this.store.finishPending("cancelled", "the campaign was cancelled before the device's turn", now);
        this.store.requestCancel();
        this.event(doc, "cancelled");
        break;
    }
    this.store.save(doc);
    this.advance(doc, now);
  }

  /** Takes every step the counts call for (deadline, thresholds, next waves, the end); saves the document. */
  private advance(doc: CampaignDoc, now: number): void {
    const active = doc.state === "running" || doc.state === "paused";
    if (active && now >= doc.deadline) {
      this.store.finishPending("timedOut", "the campaign's deadline passed before the device's turn", now);
      this.store.finishInFlight("timedOut", "the campaign's deadline passed before the device reported a result", now);
      Object.assign(doc, { state: "completed", reason: `deadline ${new Date(doc.deadline).toISOString()} passed` });
    }
    if (active) this.store.expireResults(now);
    for (let i = 0; i <= doc.waveCount + 1 && (doc.state === "running" || doc.state === "paused"); i++) {
      const step = nextStep(doc, this.store.counts(doc.waveCount).waves);
      if (step.kind === "none") break;
      if (step.kind === "openWave") {
        doc.currentWave = step.wave;
        this.event(doc, "waveStarted");
      } else if (step.kind === "pause") {
        Object.assign(doc, { state: "paused", pausedBy: step.by, pausedWave: step.wave, reason: step.reason });
        this.event(doc, "paused");
      } else if (step.kind === "stop") {
        Object.assign(doc, { state: "stopped", reason: step.reason });
        this.store.finishPending("cancelled", `the campaign stopped: ${step.reason}`, now);
        this.store.requestCancel();
        this.event(doc, "stopped");
      } else {
        doc.state = "completed";
      }
    }
    if (doc.finishedAt === undefined && !(doc.state === "running" || doc.state === "paused" || doc.state === "draft") && unfinished(this.store.counts(doc.waveCount).all) === 0) {
      doc.finishedAt = now;
      this.event(doc, "finished");
    }
    this.store.save(doc);
  }

  /** Queues a signed webhook to the provider's callback (if it gave one), in the transaction of the change it reports. */
  private event(doc: CampaignDoc, event: string): void {
    if (!doc.subscriptionId) return;
    const { all } = this.store.counts(doc.waveCount);
    this.queue.enqueueNotification("campaignNotification", {
      campaignId: doc.campaignId, event, state: doc.state, currentWave: doc.currentWave + 1, waveCount: doc.waveCount,
      ...(doc.reason && event !== "started" && event !== "waveStarted" && event !== "resumed" ? { reason: doc.reason } : {}),
      counts: all, timestamp: new Date(Date.now()).toISOString(),
    }, "campaign");
  }

  private view(): CampaignView {
    const doc = this.store.doc()!;
    const { currentWave, ackErrorWave: _e, ackSuccessWave: _s, pausedWave: _p, subscriptionId: _sub, ...rest } = doc;
    const { all, waves } = this.store.counts(doc.waveCount);
    return { ...rest, currentWave: currentWave + 1, counts: all, waveCounts: waves.map((c, i) => ({ wave: i + 1, ...c })) };
  }

  // ---------------------------------------------------------------- the alarm: dispatch, cancels, webhooks

  override async alarm(): Promise<void> {
    if (!this.schema.exists) return;
    this.tx(() => this.advance(this.store.doc()!, Date.now()));
    const doc = this.store.doc()!;
    if (doc.state === "running") await this.dispatch(doc);
    await this.sendCancels();
    this.tx(() => this.advance(this.store.doc()!, Date.now()));
    const { CALLBACK_ALLOW_LOOPBACK: allowLoopback, NOTIFY_RETRY_WINDOW_SECONDS: window } = config(this.env);
    await this.queue.deliverDue({ allowLoopback, retryWindowMs: window * 1000 });
    await this.schedule();
  }

  private async dispatch(doc: CampaignDoc): Promise<void> {
    const now = Date.now();
    const rows = this.tx(() => {
      const retried = this.store.unconfirmed(BATCH);
      const starts = this.store.startsSince(now - 60_000).n;
      const resultDeadline = deviceJobPlan(doc.operation, doc.campaignId, now, doc.deadline).resultDeadline;
      return [...retried, ...this.store.claim(doc.currentWave, Math.min(BATCH - retried.length, rateAllowance(doc.maxPerMinute, starts)), now, resultDeadline)];
    });
    if (rows.length === 0) return;
    // Who the charging records name: the devices' subscribers, one registry call per batch.
    const subscribers: Record<string, string> = doc.owner === "operator" ? {} : await registry(this.env).subscribersOf(rows.map((r) => r.dev_id));
    await pool(rows, PARALLEL, async (r: DeviceRow) => {
      try {
        const plan = deviceJobPlan(doc.operation, doc.campaignId, r.started_at!, doc.deadline);
        const ref = { campaignId: doc.campaignId, owner: doc.owner, devId: r.dev_id, jobId: r.job_id!, ...(subscribers[r.dev_id] ? { subscriber: subscribers[r.dev_id] } : {}) };
        const result = await startOnDevice(this.env, ref, plan, doc.deadline, doc.uiMode);
        this.tx(() => {
          if ("queued" in result) this.store.confirm(r.seq);
          else if (this.store.finish(r.dev_id, r.job_id!, "failed", `the job could not be queued: ${result.refused}`, undefined, Date.now())) this.advance(this.store.doc()!, Date.now());
        });
      } catch (err) {
        // Left "dispatching": the next run queues it again under the same job id (idempotent).
        console.warn(`campaign ${doc.campaignId}: ${r.dev_id} not reached: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  private async sendCancels(): Promise<void> {
    const rows = this.store.toCancel(BATCH);
    await pool(rows, PARALLEL, async (r: DeviceRow) => {
      try {
        const job = r.job_id ? await cancelOnDevice(this.env, r.dev_id, r.job_id) : undefined;
        this.tx(() => {
          // A result the device gave before the cancel counts; one still to come (FUMO waiting for its alert) does not.
          const result = job ? campaignResultOf(job) : undefined;
          const state = result?.state ?? "cancelled";
          const reason = result?.reason ?? job?.reason ?? "cancelled before its job reached the device";
          this.store.finish(r.dev_id, r.job_id ?? undefined, state, reason, job?.commands.map((c) => c.status ?? null), Date.now(), result?.resultCode);
          this.store.cancelSent(r.seq);
        });
      } catch (err) {
        console.warn(`campaign: cancel of ${r.dev_id}'s job not sent: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
  }

  /** Arms the alarm for the earliest thing due: a dispatch (now, or when the rate allows), a cancel, the deadline, a webhook. */
  private async schedule(): Promise<void> {
    if (!this.schema.exists) return;
    const doc = this.store.doc()!;
    const now = Date.now();
    const due: number[] = [];
    const work = this.store.hasWork(doc.currentWave);
    if (doc.state === "running") {
      if (work.unconfirmed) due.push(now + RETRY_MS);
      if (work.dispatchable) {
        const starts = this.store.startsSince(now - 60_000);
        due.push(rateAllowance(doc.maxPerMinute, starts.n) > 0 ? now : (starts.oldest ?? now) + 60_000);
      }
    }
    if (work.cancels) due.push(now);
    if (doc.state === "running" || doc.state === "paused") {
      due.push(doc.deadline);
      const result = this.store.nextResultDeadline();
      if (result !== undefined) due.push(result);
    }
    const webhook = this.queue.nextDue();
    if (webhook !== undefined) due.push(webhook);
    if (due.length === 0) return;
    const next = Math.max(now, Math.min(...due));
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next || current < now) await this.ctx.storage.setAlarm(next);
  }
}

function deviceView(r: DeviceRow): CampaignDevice {
  return {
    devId: r.dev_id, wave: r.wave + 1, state: r.state === "dispatching" ? "inProgress" : r.state,
    ...(r.job_id ? { jobId: r.job_id } : {}), ...(r.started_at !== null ? { startedAt: r.started_at } : {}),
    ...(r.finished_at !== null ? { finishedAt: r.finished_at } : {}), ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.statuses !== null ? { statuses: JSON.parse(r.statuses) as (string | null)[] } : {}),
    ...(r.result_code !== null ? { resultCode: r.result_code } : {}),
  };
}

async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}
