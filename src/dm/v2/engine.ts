// The DM 2.0 session engine: packages between the device and the job model. The account's object
// owns the session (its ids, what the current package carries); the device's object owns the jobs
// (DeviceObject's protocol-neutral seam, ../job-model.ts). Writes go to the jobs first and to the
// session last, and every job write is idempotent, so a request that dies halfway leaves a session
// the device can abort or restart, never a job with a half-recorded answer.
import type { Env } from "../../env";
import { ApiError, invalidInput, unwrap } from "../../http/errors";
import type { Dm2Alert, Dm2Command, ResultPackage } from "./commands";
import type { Initiator, Session, SessionDoc } from "./session-store";
import type { CommandOutcome } from "../job-model";
import { outcomeOf, sequenceStatus, translate } from "./translate";
import { jobPort } from "./device-binding";

/** Jobs taken into one package. */
const JOBS_PER_PACKAGE = 5;

export interface Package {
  commands: Dm2Command[];
  /** The id the device answers under (PUT /sessions/id/{id}); absent when the session ended. */
  sessionId?: string;
  /** The session's result when this package ended it. */
  ended?: { outcome: "OK" | "failure"; reason?: string };
  /** The nonce of the device's next package 0 (decision 14), delivered with every package of the session. */
  nextNonce: string;
}

export interface EngineContext {
  env: Env;
  origin: string;
  accountId: string;
}

const sessionUrl = (x: EngineContext, id: string) => `${x.origin}/dm/v2/sessions/id/${id}`;

function count(doc: SessionDoc, what: string, o: CommandOutcome): void {
  if (o.status !== undefined && o.error === undefined && /^2\d\d$/.test(o.status)) doc.succeeded++;
  else {
    doc.failed++;
    doc.firstFailure ??= `${what}: ${o.error ?? `status ${o.status}`}`;
  }
}

/** Package 1 arrived: the session starts (or the pending one named by `sessionId`), and the first commands go out. */
export async function startSession(x: EngineContext, devId: string, initiator: Initiator, alerts: Dm2Alert[], sessionId?: string): Promise<Package> {
  const account = x.env.DM_ACCOUNTS.getByName(x.accountId);
  const { session, abandoned, nextNonce } = unwrap(await account.startSession(devId, initiator, sessionId));
  const device = jobPort(x.env, devId);
  if (abandoned) unwrap(await device.releaseSession(abandoned.doc.jobSession));
  await deliverAlerts(x.env, devId, alerts);
  return { ...(await nextPackage(x, session)), nextNonce };
}

/** A result package: statuses onto the jobs, then the next commands under a new id, or END. */
export async function answer(x: EngineContext, sessionId: string, result: ResultPackage): Promise<Package> {
  const account = x.env.DM_ACCOUNTS.getByName(x.accountId);
  const current = unwrap(await account.activeSession(sessionId));
  const statuses = result.Status ?? [];
  const expected = current.doc.inFlight.length;
  // A status for the CONT that closed the package is tolerated; fewer than the commands is not.
  if (statuses.length !== expected && statuses.length !== expected + 1) {
    throw invalidInput("body.Status", `${expected} status${expected === 1 ? "" : "es"}, one per command of the package in order (CONT and END excepted)`);
  }
  const { session, nextNonce } = unwrap(await account.claim(sessionId));
  const uploads = await account.uploads(session.key);
  const device = jobPort(x.env, session.devId);
  const doc = structuredClone(session.doc);
  for (const [k, f] of doc.inFlight.entries()) {
    const outcome = outcomeOf(f, statuses[k], uploads[f.index]);
    unwrap(await device.recordCommand(f.jobId, f.path, outcome));
    const seq = doc.sequences.find((s) => s.jobId === f.jobId && f.path.length === s.path.length + 1 && s.path.every((p, i) => f.path[i] === p));
    if (seq) seq.outcomes[f.path[f.path.length - 1]!] = outcome;
    else count(doc, `${f.name} ${f.target ?? ""}`.trim(), outcome);
  }
  for (const seq of doc.sequences) {
    const status = sequenceStatus(Array.from({ length: seq.children }, (_, j) => seq.outcomes[j]));
    const outcome: CommandOutcome = status ? { status } : { error: "not every command of the Sequence was answered" };
    unwrap(await device.recordCommand(seq.jobId, seq.path, outcome));
    count(doc, "Sequence", outcome);
  }
  doc.inFlight = [];
  doc.sequences = [];
  await deliverAlerts(x.env, session.devId, result.Alert ?? []);
  return { ...(await nextPackage(x, { ...session, doc })), nextNonce };
}

/** DELETE /session/id/{id}: the session ends as aborted; what it sent without an answer goes back to the queue. */
export async function abortSession(x: EngineContext, sessionId: string): Promise<void> {
  const s = unwrap(await x.env.DM_ACCOUNTS.getByName(x.accountId).abort(sessionId));
  unwrap(await jobPort(x.env, s.devId).releaseSession(s.doc.jobSession));
}

/** The next jobs' commands for the device, or the end of the session. */
async function nextPackage(x: EngineContext, session: Session): Promise<Omit<Package, "nextNonce">> {
  const account = x.env.DM_ACCOUNTS.getByName(x.accountId);
  const device = jobPort(x.env, session.devId);
  const doc = session.doc;
  const dataUrl = (i: number) => `${sessionUrl(x, session.id)}/data/${i}`;
  // Jobs whose commands DM 2.0 cannot carry are answered at once; keep taking until something goes out.
  for (let round = 0; round < 20; round++) {
    const batches = unwrap(await device.takeCommands(doc.jobSession, { maxJobs: JOBS_PER_PACKAGE }));
    if (!batches.length) break;
    const t = translate(batches, dataUrl);
    doc.sent += t.inFlight.length + t.immediate.length;
    for (const im of t.immediate) {
      unwrap(await device.recordCommand(im.jobId, im.path, im.outcome));
      const seq = t.sequences.find((s) => s.jobId === im.jobId && im.path.length === s.path.length + 1 && s.path.every((p, i) => im.path[i] === p));
      if (seq) continue;
      count(doc, "not sent", im.outcome);
    }
    doc.sequences = t.sequences.map((s) => ({
      ...s,
      outcomes: Object.fromEntries(t.immediate.filter((im) => im.jobId === s.jobId && im.path.length === s.path.length + 1 && s.path.every((p, i) => im.path[i] === p)).map((im) => [im.path[im.path.length - 1]!, im.outcome])),
    }));
    if (t.commands.length) {
      doc.inFlight = t.inFlight;
      doc.exchanges++;
      unwrap(await account.commit(session.id, doc));
      return { commands: [...t.commands, ["CONT", sessionUrl(x, session.id)]], sessionId: session.id };
    }
    // Only Sequences of unsupported children: their status is known now.
    for (const seq of doc.sequences) {
      const status = sequenceStatus(Array.from({ length: seq.children }, (_, j) => seq.outcomes[j])) ?? "406";
      unwrap(await device.recordCommand(seq.jobId, seq.path, { status }));
      count(doc, "Sequence", { status });
    }
    doc.sequences = [];
  }
  doc.exchanges++;
  const view = unwrap(await account.finish(session.id, "completed", doc));
  unwrap(await device.releaseSession(doc.jobSession));
  return { commands: [["END"]], ended: { outcome: view.result?.outcome ?? "OK", ...(view.result?.reason ? { reason: view.result.reason } : {}) } };
}

/**
 * Device events: an alert with the correlator of an EXEC lands on that job command (like DM 1.2's
 * 1226); one without a correlator but with a SourceURI reports a change of a node, and lands on the
 * Sub command that subscribed to it (decision 6). Others (the session's own alerts) are not kept.
 */
async function deliverAlerts(env: Env, devId: string, alerts: Dm2Alert[]): Promise<void> {
  const groups = new Map<string | undefined, Dm2Alert[]>();
  for (const a of alerts) if (a.Correlator || a.SourceURI) groups.set(a.Correlator, [...(groups.get(a.Correlator) ?? []), a]);
  if (!groups.size) return;
  const device = jobPort(env, devId);
  const receivedAt = new Date().toISOString();
  for (const [correlator, list] of groups) {
    unwrap(
      await device.attachAlerts(
        correlator,
        list.map((a) => ({ type: a.AlertType, ...(a.SourceURI ? { source: a.SourceURI } : {}), ...(a.DataType ? { format: a.DataType } : {}), ...(a.Data !== undefined ? { data: String(a.Data) } : {}), receivedAt })),
      ),
    );
  }
}

export const noDevice = (why: string) => new ApiError(404, "SVC0002", ["OMADM-DevID", why]);
