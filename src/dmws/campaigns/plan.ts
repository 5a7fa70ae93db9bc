// What a campaign does next, decided from its counts alone (no storage, no I/O): the wave rules of
// Eclipse hawkBit's rollouts (a group starts when the one before reached its success threshold; an
// error threshold pauses or stops the rollout) with AWS IoT Jobs' rollout rate (at most N devices
// per minute) and deadline.

export type CampaignState = "draft" | "running" | "paused" | "completed" | "stopped" | "cancelled";
export type DeviceState = "pending" | "dispatching" | "inProgress" | "succeeded" | "failed" | "timedOut" | "cancelled";
/** The states a provider sees: "dispatching" (the job is being queued on the device) counts as inProgress. */
export const COUNTED_STATES = ["pending", "inProgress", "succeeded", "failed", "timedOut", "cancelled"] as const;
export type CountedState = (typeof COUNTED_STATES)[number];
export type Counts = Record<CountedState, number> & { total: number };
export type PausedBy = "request" | "errorThreshold" | "successThreshold";

export interface CampaignPlan {
  state: CampaignState;
  waveCount: number;
  /** The highest wave released for dispatch; -1 before the start. */
  currentWave: number;
  /** Percent of a wave that must succeed before the next wave starts. */
  successThreshold: number;
  errorThreshold?: { percent: number; action: "pause" | "stop" };
  /** Waves up to this one were resumed past their error threshold (not checked again). */
  ackErrorWave: number;
  /** Waves up to this one were resumed below their success threshold (the next one starts anyway). */
  ackSuccessWave: number;
}

export type Step =
  | { kind: "none" }
  | { kind: "openWave"; wave: number }
  | { kind: "pause"; by: PausedBy; wave: number; reason: string }
  | { kind: "stop"; wave: number; reason: string }
  | { kind: "finish" };

export const emptyCounts = (): Counts => ({ pending: 0, inProgress: 0, succeeded: 0, failed: 0, timedOut: 0, cancelled: 0, total: 0 });
export const unfinished = (c: Counts): number => c.pending + c.inProgress;
const percent = (n: number, of: number) => (of === 0 ? 100 : (n / of) * 100);
const pct = (n: number) => `${Math.round(n * 10) / 10}%`;

/** Wave sizes: `size` each (the last one smaller), or `count` waves as even as they come. */
export function waveOf(index: number, total: number, waves: { size: number } | { count: number }): number {
  if ("size" in waves) return Math.floor(index / waves.size);
  const size = Math.ceil(total / Math.min(waves.count, total));
  return Math.floor(index / size);
}

/** The next step of a running or paused campaign, given each wave's counts (index = wave). */
export function nextStep(plan: CampaignPlan, waves: Counts[]): Step {
  const all = waves.reduce((n, w) => n + unfinished(w), 0);
  if (plan.state === "paused" || plan.state === "running") {
    if (all === 0) return { kind: "finish" };
  }
  if (plan.state !== "running") return { kind: "none" };
  if (plan.errorThreshold) {
    for (let w = Math.max(0, plan.ackErrorWave + 1); w <= plan.currentWave && w < waves.length; w++) {
      const c = waves[w]!;
      const failed = percent(c.failed + c.timedOut, c.total);
      if (failed >= plan.errorThreshold.percent) {
        const reason = `wave ${w + 1}: ${pct(failed)} of its ${c.total} devices failed or timed out, at or above the errorThreshold ${plan.errorThreshold.percent}%`;
        return plan.errorThreshold.action === "stop" ? { kind: "stop", wave: w, reason } : { kind: "pause", by: "errorThreshold", wave: w, reason };
      }
    }
  }
  const w = plan.currentWave;
  if (w + 1 >= plan.waveCount) return { kind: "none" };
  const c = waves[w]!;
  const succeeded = percent(c.succeeded, c.total);
  if (succeeded >= plan.successThreshold) return { kind: "openWave", wave: w + 1 };
  if (unfinished(c) === 0) {
    if (plan.ackSuccessWave >= w) return { kind: "openWave", wave: w + 1 };
    return { kind: "pause", by: "successThreshold", wave: w, reason: `wave ${w + 1} finished with ${pct(succeeded)} succeeded, below the successThreshold ${plan.successThreshold}%` };
  }
  return { kind: "none" };
}

/** How many more devices may start now under `maxPerMinute`, given when the last minute's starts were. */
export function rateAllowance(maxPerMinute: number, startsInLastMinute: number): number {
  return Math.max(0, maxPerMinute - startsInLastMinute);
}
