// How the DM 2.0 adapter reaches a device's object: the job model's protocol-neutral seam (take,
// record, release), and the device's claim by one DM account (a devId belongs to one account; the
// claim is decided in the device's own object, so two accounts racing for it cannot both win).
import type { Env } from "../../env";
import { ApiError, type Outcome } from "../../http/errors";
import type { Protocol } from "./device-registry";
import type { CommandOutcome, GenericAlert, JobBatch } from "../job-model";
import { deviceStub } from "../../residency";

export interface Dm2Binding {
  accountId: string;
  protocol: Protocol;
}

/** The DeviceObject RPC methods this adapter uses. */
export interface JobPort {
  takeCommands(sessionKey: string, opts: { maxJobs?: number }): Promise<Outcome<JobBatch[]>>;
  recordCommand(jobId: string, path: number[], outcome: CommandOutcome): Promise<Outcome<unknown>>;
  releaseSession(sessionKey: string): Promise<Outcome<void>>;
  /** With a correlator: the EXEC it reports on; without: a change at or below a node a Sub command subscribed to. */
  attachAlerts(correlator: string | undefined, alerts: GenericAlert[]): Promise<Outcome<void>>;
  job(jobId: string): Promise<Outcome<{ commands: unknown[] }>>;
  bindDm2(accountId: string, protocol: Protocol): Promise<Outcome<Dm2Binding>>;
  unbindDm2(accountId: string): Promise<Outcome<void>>;
  dm2Binding(): Promise<Dm2Binding | undefined>;
}

export const jobPort = (env: Env, devId: string): JobPort => deviceStub(env, devId) as unknown as JobPort;

/** Claims `devId` for the account; 409 when another account holds it. */
export async function bindDevice(env: Env, devId: string, accountId: string, protocol: Protocol): Promise<void> {
  const r = await jobPort(env, devId).bindDm2(accountId, protocol);
  if (!r.ok) throw ApiError.from(r.error);
}

export async function unbindDevice(env: Env, devId: string, accountId: string): Promise<void> {
  await jobPort(env, devId).unbindDm2(accountId);
}
