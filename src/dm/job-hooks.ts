// The hooks a capability plugs into the job path (./job-model.ts explains when each runs).
import type { Env } from "../env";
import type { Job } from "./job-model";

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
