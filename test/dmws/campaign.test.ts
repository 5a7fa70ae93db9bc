// Campaigns (issue 16, anchored on Eclipse hawkBit rollouts and AWS IoT Jobs): one operation over a
// set of DM 1.2 devices (the simulator, through the Worker) in waves, with thresholds, a rate, a
// deadline, start/pause/resume/cancel, counts per state, exactly-once counting and signed webhooks.
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, call, ORIGIN } from "../helpers";
import { device, expectClean, notifications } from "../dm/harness";
import { received, receiver, newBox, plan } from "../notify/support";
import { signNotification } from "../../src/notify/queue";
import type { CampaignObject } from "../../src/dmws/campaigns/campaign-object";
import { asProvider, auditOf, defineGroup, grant, newGroupName, newProvider } from "./support";

const JOB = { commands: [{ kind: "Replace", target: "./Vendor/Setting", data: "7" }, { kind: "Exec", target: "./FUMO/Pkg1/DownloadAndUpdate" }] };
type Dev = Awaited<ReturnType<typeof device>>;

/** Devices whose FUMO Exec answers `status`. */
async function devices(n: number, status = "200"): Promise<Dev[]> {
  const out: Dev[] = [];
  for (let i = 0; i < n; i++) {
    out.push(await device("syncml:auth-basic", { tree: { "./FUMO/Pkg1/DownloadAndUpdate": "", "./Vendor/Setting": "0" }, exec: { "./FUMO/Pkg1/DownloadAndUpdate": () => ({ status }) } }));
  }
  return out;
}

async function create(devs: Dev[], extra: Record<string, unknown> = {}) {
  const res = await call("POST", "/dmws/v1/campaigns", { headers: ADMIN, body: { target: { devices: devs.map((d) => d.devId) }, operation: JOB, ...extra } });
  expect(res.status, res.text).toBe(201);
  return res.json as { campaign: any; signingSecret?: string };
}

const get = async (id: string) => {
  const res = await call("GET", `/dmws/v1/campaigns/${id}`, { headers: ADMIN });
  expect(res.status, res.text).toBe(200);
  return res.json.campaign;
};
const act = (id: string, action: string) => call("POST", `/dmws/v1/campaigns/${id}/${action}`, { headers: ADMIN });

/** Polls the campaign until `test` holds (bounded; the campaign's alarm does the work). */
async function until(id: string, test: (c: any) => boolean, what: string): Promise<any> {
  const end = Date.now() + 20_000;
  for (;;) {
    const c = await get(id);
    if (test(c)) return c;
    if (Date.now() > end) {
      const devs = (await call("GET", `/dmws/v1/campaigns/${id}/devices`, { headers: ADMIN })).json.deviceList;
      throw new Error(`campaign never got to: ${what}; it is ${JSON.stringify({ state: c.state, reason: c.reason, currentWave: c.currentWave, counts: c.counts, devs })}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The device's latest package 0; a device counted inProgress has it a moment later (it is sent just after the job is queued). */
async function package0(devId: string): Promise<string | undefined> {
  for (let i = 0; i < 40; i++) {
    const list = await notifications(devId);
    if (list.length) return list.at(-1)!.package0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** The device answers the campaign's notification: a session started by its package 0. */
async function connect(d: Dev) {
  const [n] = await notifications(d.devId);
  const s = await d.client.startSession(n ? { package0: n.package0 } : {});
  expectClean(s);
  return s;
}

const executedFumo = (s: Awaited<ReturnType<typeof connect>>) => s.executed.some((e) => e.kind === "Exec" && e.target === "./FUMO/Pkg1/DownloadAndUpdate");

describe("campaigns: waves and the success threshold", () => {
  it("waves start one after the other once the wave before succeeded; a device whose wave has not started gets nothing; final counts", async () => {
    const devs = await devices(6);
    const { campaign } = await create(devs, { waves: { size: 2 }, successThreshold: 100, start: true });
    expect(campaign).toMatchObject({ state: "running", waveCount: 3, currentWave: 1, counts: { total: 6 } });
    await until(campaign.campaignId, (c) => c.counts.inProgress === 2 && c.counts.pending === 4, "wave 1 on its devices");
    // A device of wave 3 connecting now finds no job of the campaign.
    expect(executedFumo(await connect(devs[5]!))).toBe(false);
    for (const d of devs.slice(0, 2)) expect(executedFumo(await connect(d))).toBe(true);
    await until(campaign.campaignId, (c) => c.currentWave === 2 && c.counts.succeeded === 2 && c.counts.inProgress === 2, "wave 2 started after wave 1 succeeded");
    for (const d of devs.slice(2, 4)) await connect(d);
    await until(campaign.campaignId, (c) => c.currentWave === 3 && c.counts.inProgress === 2, "wave 3 started");
    for (const d of devs.slice(4, 6)) await connect(d);
    const done = await until(campaign.campaignId, (c) => c.state === "completed", "completed");
    expect(done.counts).toEqual({ pending: 0, inProgress: 0, succeeded: 6, failed: 0, timedOut: 0, cancelled: 0, total: 6 });
    expect(done.waveCounts.map((w: any) => [w.wave, w.total, w.succeeded])).toEqual([[1, 2, 2], [2, 2, 2], [3, 2, 2]]);
    expect(done.finishedAt).toBeDefined();
    const list = await call("GET", `/dmws/v1/campaigns/${campaign.campaignId}/devices?state=succeeded&limit=4`, { headers: ADMIN });
    expect(list.status).toBe(200);
    expect(list.json.deviceList.map((d: any) => d.devId)).toEqual(devs.slice(0, 4).map((d) => d.devId));
    expect(list.json.deviceList[0]).toMatchObject({ wave: 1, state: "succeeded", statuses: ["200", "200"] });
    const rest = await call("GET", `/dmws/v1/campaigns/${campaign.campaignId}/devices?state=succeeded&after=${list.json.next}`, { headers: ADMIN });
    expect(rest.json.deviceList.map((d: any) => d.devId)).toEqual(devs.slice(4).map((d) => d.devId));
  });

  it("a wave that ends below the success threshold pauses the campaign; resume starts the next wave anyway", async () => {
    const devs = [...(await devices(1, "500")), ...(await devices(1)), ...(await devices(2))];
    const { campaign } = await create(devs, { waves: { size: 2 }, successThreshold: 100, start: true });
    await until(campaign.campaignId, (c) => c.counts.inProgress === 2, "wave 1 dispatched");
    await connect(devs[0]!);
    await connect(devs[1]!);
    const paused = await until(campaign.campaignId, (c) => c.state === "paused", "paused below the success threshold");
    expect(paused).toMatchObject({ pausedBy: "successThreshold", currentWave: 1, counts: { failed: 1, succeeded: 1, pending: 2 } });
    expect(paused.reason).toMatch(/wave 1 finished with 50% succeeded, below the successThreshold 100%/);
    expect((await act(campaign.campaignId, "resume")).status).toBe(200);
    await until(campaign.campaignId, (c) => c.state === "running" && c.currentWave === 2 && c.counts.inProgress === 2, "wave 2 after resume");
  });
});

describe("campaigns: the error threshold", () => {
  it("pause: failures reaching the threshold pause the campaign; resume goes on past that wave's failures", async () => {
    const devs = [...(await devices(2, "500")), ...(await devices(2))];
    const { campaign } = await create(devs, { waves: { size: 4 }, successThreshold: 0, errorThreshold: { percent: 50, action: "pause" }, start: true });
    await until(campaign.campaignId, (c) => c.counts.inProgress === 4, "dispatched");
    await connect(devs[0]!);
    await connect(devs[1]!);
    const paused = await until(campaign.campaignId, (c) => c.state === "paused", "paused by errors");
    expect(paused).toMatchObject({ pausedBy: "errorThreshold", counts: { failed: 2, inProgress: 2 } });
    expect(paused.reason).toMatch(/50% of its 4 devices failed or timed out/);
    // Jobs already on devices go on while paused, and count.
    await connect(devs[2]!);
    await until(campaign.campaignId, (c) => c.counts.succeeded === 1 && c.state === "paused", "a result counted while paused");
    expect((await act(campaign.campaignId, "resume")).json.campaign.state).toBe("running");
    await connect(devs[3]!);
    const done = await until(campaign.campaignId, (c) => c.state === "completed", "completed");
    expect(done.counts).toMatchObject({ succeeded: 2, failed: 2, total: 4 });
  });

  it("stop: failures reaching the threshold stop the campaign; devices not started are cancelled, jobs on devices cancelled", async () => {
    const devs = [...(await devices(1, "500")), ...(await devices(3))];
    const { campaign } = await create(devs, { waves: { size: 2 }, successThreshold: 0, errorThreshold: { percent: 50, action: "stop" }, maxPerMinute: 2, start: true });
    await until(campaign.campaignId, (c) => c.counts.inProgress === 2, "wave 1 dispatched");
    await connect(devs[0]!);
    const stopped = await until(campaign.campaignId, (c) => c.state === "stopped" && c.finishedAt !== undefined, "stopped and finished");
    expect(stopped.counts).toMatchObject({ failed: 1, cancelled: 3, pending: 0, inProgress: 0 });
    // The cancelled job is gone from the device: its next session carries nothing of the campaign.
    expect(executedFumo(await connect(devs[1]!))).toBe(false);
  });
});

describe("campaigns: start, pause, resume, cancel and the rate", () => {
  it("a draft starts on request; pause holds new devices back; resume and cancel; actions a state does not allow are 409 and change nothing", async () => {
    const devs = await devices(4);
    const { campaign } = await create(devs, { maxPerMinute: 2 });
    expect(campaign).toMatchObject({ state: "draft", currentWave: 0, counts: { pending: 4 } });
    for (const a of ["pause", "resume"]) {
      const r = await act(campaign.campaignId, a);
      expect(r.status).toBe(409);
      expect(r.json.requestError.serviceException).toMatchObject({ messageId: "SVC0002", variables: ["state", expect.stringContaining("draft")] });
    }
    expect((await act(campaign.campaignId, "start")).json.campaign.state).toBe("running");
    expect((await act(campaign.campaignId, "start")).status).toBe(200);
    // maxPerMinute 2: two devices start, the other two wait for the minute to pass.
    await until(campaign.campaignId, (c) => c.counts.inProgress === 2, "two started");
    const first = (await call("GET", `/dmws/v1/campaigns/${campaign.campaignId}/devices?state=inProgress`, { headers: ADMIN })).json.deviceList;
    expect(first).toHaveLength(2);
    // The campaign's next wake-up is the end of the minute its first two starts opened.
    const alarmOf = () => runInDurableObject(env.CAMPAIGNS.getByName(campaign.campaignId), (_o, state) => state.storage.getAlarm());
    for (let i = 0; i < 100 && ((await alarmOf()) ?? 0) < Date.parse(first[0].startedAt) + 60_000; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await alarmOf()).toBe(Date.parse(first[0].startedAt) + 60_000);
    expect((await act(campaign.campaignId, "pause")).json.campaign).toMatchObject({ state: "paused", pausedBy: "request" });
    expect((await act(campaign.campaignId, "pause")).status).toBe(200);
    // The minute passes (the alarm fires early here): a paused campaign starts nobody.
    await runDurableObjectAlarm(env.CAMPAIGNS.getByName(campaign.campaignId));
    expect((await get(campaign.campaignId)).counts).toMatchObject({ inProgress: 2, pending: 2 });
    expect((await act(campaign.campaignId, "resume")).json.campaign.state).toBe("running");
    const cancelled = await act(campaign.campaignId, "cancel");
    expect(cancelled.json.campaign).toMatchObject({ state: "cancelled", counts: { pending: 0 } });
    await until(campaign.campaignId, (c) => c.counts.cancelled === 4 && c.finishedAt !== undefined, "every job cancelled");
    expect((await act(campaign.campaignId, "start")).status).toBe(409);
    expect((await act(campaign.campaignId, "cancel")).status).toBe(200);
    for (const d of devs.slice(0, 2)) expect(executedFumo(await connect(d))).toBe(false);
  });
});

describe("campaigns: the deadline and offline devices", () => {
  it("a device offline at the start gets its notification and job when it connects; at the deadline the rest are timedOut and the campaign completes", async () => {
    const devs = await devices(3);
    const { campaign } = await create(devs, { waves: { size: 2 }, successThreshold: 0, maxPerMinute: 2, start: true, deadlineSeconds: 3600 });
    await until(campaign.campaignId, (c) => c.counts.inProgress === 2, "wave 1 dispatched");
    // devs[0] was offline: it connects later, answering the package 0 waiting in its outbox (written just after its job was queued).
    expect(await package0(devs[0]!.devId)).toBeDefined();
    expect(await notifications(devs[0]!.devId)).toHaveLength(1);
    expect(executedFumo(await connect(devs[0]!))).toBe(true);
    await until(campaign.campaignId, (c) => c.counts.succeeded === 1, "the late device counted");
    // The deadline passes: devs[1] (job on the device, never connected) and devs[2] (its start held back by the rate) time out.
    const stub = env.CAMPAIGNS.getByName(campaign.campaignId);
    await runInDurableObject(stub, (_o, state) => {
      const doc = JSON.parse(state.storage.sql.exec<{ doc: string }>("SELECT doc FROM campaign").one().doc);
      state.storage.sql.exec("UPDATE campaign SET doc = ?", JSON.stringify({ ...doc, deadline: Date.now() - 1 }));
    });
    await runDurableObjectAlarm(stub);
    const done = await get(campaign.campaignId);
    expect(done).toMatchObject({ state: "completed", counts: { succeeded: 1, timedOut: 2, pending: 0, inProgress: 0 } });
    expect(done.reason).toMatch(/^deadline .* passed$/);
    const timedOut = (await call("GET", `/dmws/v1/campaigns/${campaign.campaignId}/devices?state=timedOut`, { headers: ADMIN })).json.deviceList;
    expect(timedOut.map((d: any) => d.reason)).toEqual([
      "the campaign's deadline passed before the device reported a result",
      "the campaign's deadline passed before the device's turn",
    ]);
  });
});

describe("campaigns: exactly-once counting", () => {
  it("a device's result delivered twice (and a report for another job) is counted once", async () => {
    const devs = await devices(2);
    const { campaign } = await create(devs, { start: true });
    await until(campaign.campaignId, (c) => c.counts.inProgress === 2, "dispatched");
    await connect(devs[0]!);
    await until(campaign.campaignId, (c) => c.counts.succeeded === 1, "counted once");
    const row = (await call("GET", `/dmws/v1/campaigns/${campaign.campaignId}/devices?state=succeeded`, { headers: ADMIN })).json.deviceList[0];
    const stub = env.CAMPAIGNS.getByName(campaign.campaignId) as DurableObjectStub<CampaignObject>;
    const report = { ref: devs[0]!.devId, jobId: row.jobId, state: "done" as const, statuses: ["200", "200"], finishedAt: new Date().toISOString() };
    expect(await stub.jobFinished(report)).toEqual({ counted: false });
    expect(await stub.jobFinished({ ...report, state: "failed", reason: "late duplicate" })).toEqual({ counted: false });
    const other = (await call("GET", `/dmws/v1/campaigns/${campaign.campaignId}/devices?state=inProgress`, { headers: ADMIN })).json.deviceList[0];
    expect(await stub.jobFinished({ ...report, ref: other.devId, jobId: crypto.randomUUID() })).toEqual({ counted: false });
    expect((await get(campaign.campaignId)).counts).toMatchObject({ succeeded: 1, inProgress: 1, failed: 0 });
    // The genuine report of the second device, delivered twice: one count.
    const genuine = { ...report, ref: other.devId, jobId: other.jobId };
    expect(await stub.jobFinished(genuine)).toEqual({ counted: true });
    expect(await stub.jobFinished(genuine)).toEqual({ counted: false });
    expect((await get(campaign.campaignId)).counts).toMatchObject({ succeeded: 2, inProgress: 0 });
  });
});

describe("campaigns: webhooks, polling and refusals", () => {
  it("progress and the final result reach the provider's callback signed, retried after failures", async () => {
    const box = newBox();
    await plan(box, { fail: 2 });
    const devs = await devices(1);
    const { campaign, signingSecret } = await create(devs, { start: true, callbackReference: { notifyURL: `${receiver}/box/${box}`, callbackData: "rollout-7" } });
    expect(signingSecret).toMatch(/^whsec_/);
    await until(campaign.campaignId, (c) => c.counts.inProgress === 1, "dispatched");
    await connect(devs[0]!);
    await until(campaign.campaignId, (c) => c.state === "completed", "completed");
    const end = Date.now() + 20_000;
    let got = await received(box);
    while (!got.some((r) => r.status === 200 && JSON.parse(r.body).campaignNotification.event === "finished") && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      got = await received(box);
    }
    const ok = got.filter((r) => r.status === 200).map((r) => ({ r, n: JSON.parse(r.body).campaignNotification }));
    expect(ok.map(({ n }) => n.event)).toEqual(["started", "waveStarted", "finished"]);
    expect(got.filter((r) => r.status === 500)).toHaveLength(2);
    expect(ok.at(-1)!.n).toMatchObject({ campaignId: campaign.campaignId, state: "completed", callbackData: "rollout-7", counts: { succeeded: 1, total: 1 } });
    for (const { r } of ok) {
      const t = Number(/t=(\d+)/.exec(r.headers["x-notification-signature"]!)![1]);
      expect(r.headers["x-notification-signature"]).toBe(await signNotification(signingSecret!, r.body, t));
    }
  });

  it("bad requests are refused in the OMA envelope and create nothing; unknown campaigns are 404; tokens are required", async () => {
    const before = (await call("GET", "/dmws/v1/campaigns?limit=200", { headers: ADMIN })).json.campaignList.length;
    for (const [body, part] of [
      [{ target: { devices: [] }, operation: JOB }, "target.devices"],
      [{ target: { devices: ["IMEI:1"] }, operation: { commands: [{ kind: "Launch" }] } }, "operation.commands"],
      [{ target: { devices: ["IMEI:1"] }, operation: JOB, errorThreshold: { percent: 120, action: "pause" } }, "errorThreshold.percent"],
      [{ target: { devices: ["IMEI:1"] }, operation: JOB, callbackReference: { notifyURL: "http://10.0.0.1/hook" } }, "callbackReference.notifyURL"],
    ] as const) {
      const r = await call("POST", "/dmws/v1/campaigns", { headers: ADMIN, body });
      expect(r.status, r.text).toBe(400);
      expect(r.json.requestError.serviceException.messageId).toBe("SVC0002");
      expect(r.json.requestError.serviceException.variables[0]).toContain(part.split(".")[0]);
    }
    expect((await call("GET", "/dmws/v1/campaigns?limit=200", { headers: ADMIN })).json.campaignList.length).toBe(before);
    const missing = await call("GET", `/dmws/v1/campaigns/${crypto.randomUUID()}`, { headers: ADMIN });
    expect(missing.status).toBe(404);
    expect(missing.json.requestError.serviceException.messageId).toBe("SVC0002");
    expect((await SELF.fetch(`${ORIGIN}/dmws/v1/campaigns`)).status).toBe(401);
  });

  it("a service provider sees its own campaigns only; the operator sees all", async () => {
    const [a, b] = [await newProvider("client_secret_basic"), await newProvider("client_secret_basic")];
    const devs = await devices(1);
    const fleet = newGroupName("campaign");
    await defineGroup(fleet, { devices: [devs[0]!.devId] });
    for (const p of [a, b]) await grant(p, [{ group: fleet, subtrees: ["./Vendor", "./FUMO"], operations: ["write", "exec"] }]);
    const made = await asProvider(a, "POST", "/dmws/v1/campaigns", { target: { devices: [devs[0]!.devId] }, operation: JOB });
    expect(made.status, made.text).toBe(201);
    const id = made.json.campaign.campaignId;
    expect(made.json.campaign.owner).toBe(a.clientId);
    expect((await asProvider(a, "GET", `/dmws/v1/campaigns/${id}`)).status).toBe(200);
    expect((await asProvider(b, "GET", `/dmws/v1/campaigns/${id}`)).status).toBe(404);
    expect((await asProvider(b, "POST", `/dmws/v1/campaigns/${id}/start`)).status).toBe(404);
    expect((await asProvider(a, "GET", "/dmws/v1/campaigns")).json.campaignList.map((e: any) => e.campaignId)).toEqual([id]);
    expect((await asProvider(b, "GET", "/dmws/v1/campaigns")).json.campaignList).toEqual([]);
    expect((await call("GET", "/dmws/v1/campaigns?limit=200", { headers: ADMIN })).json.campaignList.map((e: any) => e.campaignId)).toContain(id);
    expect((await get(id)).state).toBe("draft");
  });

  it("a provider's campaign runs over a group its grants cover; a device, subtree or operation outside them is 403 naming it, audited, and creates nothing", async () => {
    const p = await newProvider("client_secret_basic");
    const devs = await devices(3);
    const fleet = newGroupName("fleet");
    await defineGroup(fleet, { devices: devs.slice(0, 2).map((d) => d.devId) });
    await grant(p, [{ group: fleet, subtrees: ["./Vendor", "./FUMO"], operations: ["write", "exec"] }]);
    const made = await asProvider(p, "POST", "/dmws/v1/campaigns", { target: { group: fleet }, operation: JOB, start: true });
    expect(made.status, made.text).toBe(201);
    expect(made.json.campaign.counts.total).toBe(2);
    await until(made.json.campaign.campaignId, (c) => c.counts.inProgress === 2, "the group's devices started");
    const refused = [
      { target: { devices: [devs[2]!.devId] }, operation: JOB },
      { target: { group: fleet }, operation: { commands: [{ kind: "Replace", target: "./DevDetail/Ext/Conf", data: "1" }] } },
      { target: { group: fleet }, operation: { commands: [{ kind: "Get", target: "./FUMO/Pkg1/State" }] } },
    ];
    for (const body of refused) {
      const r = await asProvider(p, "POST", "/dmws/v1/campaigns", body);
      expect(r.status, r.text).toBe(403);
      expect(r.json.requestError.policyException.messageId).toBe("POL0001");
    }
    expect((await auditOf(p, "refusal")).length).toBeGreaterThanOrEqual(3);
    expect((await asProvider(p, "GET", "/dmws/v1/campaigns")).json.campaignList).toHaveLength(1);
    // The operator runs a campaign over the same group.
    const op = await call("POST", "/dmws/v1/campaigns", { headers: ADMIN, body: { target: { group: fleet }, operation: JOB } });
    expect(op.status, op.text).toBe(201);
    expect(op.json.campaign).toMatchObject({ owner: "operator", counts: { total: 2 } });
  });
});

// ---------------------------------------------------------------- charging and FUMO campaigns

const FUMO_DU = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";

async function charges(p: { token: string }, campaignId: string) {
  const res = await call("GET", `/dmws/v1/charging-records?operationId=${campaignId}`, { token: p.token });
  expect(res.status, res.text).toBe(200);
  return res.json.records as any[];
}

/** Runs each device's alarm (charging and result delivery) a few times: what its transactions wrote has reached the ledger and the campaign. */
async function deliverFrom(devs: Dev[]) {
  for (const d of devs) for (let i = 0; i < 3; i++) await runDurableObjectAlarm(env.DEVICES.getByName(d.devId));
}

async function providerOver(devs: Dev[], subtrees: string[]) {
  const p = await newProvider("client_secret_basic");
  const group = newGroupName("charged");
  await defineGroup(group, { devices: devs.map((d) => d.devId) });
  await grant(p, [{ group, subtrees, operations: ["read", "write", "exec"] }]);
  return p;
}

describe("campaigns: charging", () => {
  it("a provider's campaign writes exactly one charging record per result (retried session, report, outbox); an operator's campaign none", async () => {
    const devs = [...(await devices(1)), ...(await devices(1, "500"))];
    const p = await providerOver(devs, ["./Vendor", "./FUMO"]);
    const made = await asProvider(p, "POST", "/dmws/v1/campaigns", { target: { devices: devs.map((d) => d.devId) }, operation: JOB, start: true });
    expect(made.status, made.text).toBe(201);
    const id = made.json.campaign.campaignId;
    await until(id, (c) => c.counts.inProgress === 2, "dispatched");
    // The first device loses its session after executing the commands, then calls again: its job goes out again.
    expect((await devs[0]!.client.startSession({ package0: (await package0(devs[0]!.devId))!, drop: { afterServerMessages: 1, execute: true } })).outcome).toBe("dropped");
    expectClean(await devs[0]!.client.startSession());
    await connect(devs[1]!);
    const done = await until(id, (c) => c.state === "completed", "completed");
    expect(done.counts).toMatchObject({ succeeded: 1, failed: 1 });
    await deliverFrom(devs);
    // A crash between the ledger's insert and the outbox's mark, and a job report delivered again: nothing doubles.
    for (const d of devs) {
      await runInDurableObject(env.DEVICES.getByName(d.devId), async (_o, state) => {
        state.storage.sql.exec("UPDATE dmws_charge SET delivered_at = NULL");
        await state.storage.setAlarm(Date.now());
      });
    }
    await deliverFrom(devs);
    const row = (await call("GET", `/dmws/v1/campaigns/${id}/devices?state=succeeded`, { headers: ADMIN })).json.deviceList[0];
    const stub = env.CAMPAIGNS.getByName(id) as DurableObjectStub<CampaignObject>;
    expect(await stub.jobFinished({ ref: row.devId, jobId: row.jobId, state: "done", statuses: ["200", "200"], finishedAt: new Date().toISOString() })).toEqual({ counted: false });
    const recs = await charges(p, id);
    expect(recs.map((r) => [r.devId, r.outcome, r.operation, r.provider]).sort()).toEqual([
      [devs[0]!.devId, "success", "campaign.commands", p.clientId],
      [devs[1]!.devId, "failure", "campaign.commands", p.clientId],
    ].sort());
    expect(new Set(recs.map((r) => r.jobId)).size).toBe(2);

    // The operator runs the same job over the same devices: charged to nobody (no record written on the device).
    const op = await create(devs, { start: true });
    await until(op.campaign.campaignId, (c) => c.counts.inProgress === 2, "operator's dispatched");
    for (const d of devs) await connect(d);
    await until(op.campaign.campaignId, (c) => c.state === "completed", "operator's completed");
    for (const d of devs) {
      const written = await runInDurableObject(env.DEVICES.getByName(d.devId), (_o, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM dmws_charge").one().n);
      expect(written).toBe(1);
    }
    expect(await charges(p, op.campaign.campaignId)).toEqual([]);
  });
});

describe("campaigns: firmware update (FUMO)", () => {
  function fumoDevice(outcome: () => { status: string; alert?: any }) {
    return device("syncml:auth-basic", {
      tree: { "./FUMO/DownloadAndUpdate/PkgURL": "", "./FUMO/State": "10", "./FUMO/PkgVersion": "" },
      exec: { "./FUMO/DownloadAndUpdate": outcome },
    });
  }

  it("a device's result is its alert 1226 in a later session, not the Exec's 202; failure codes are named; no alert by the result deadline is timedOut; charged once per result", async () => {
    const later = await fumoDevice(() => ({ status: "202", alert: { type: FUMO_DU, data: "200", when: "next-session" } }));
    const failing = await fumoDevice(() => ({ status: "202", alert: { type: FUMO_DU, data: "410", when: "same-session" } }));
    const silent = await fumoDevice(() => ({ status: "202" }));
    const devs = [later, failing, silent];
    const p = await providerOver(devs, ["./FUMO"]);
    const made = await asProvider(p, "POST", "/dmws/v1/campaigns", {
      target: { devices: devs.map((d) => d.devId) }, start: true,
      operation: { kind: "fumo", action: "DownloadAndUpdate", pkgURL: "https://fw.example.com/a1-2.0.bin", pkgVersion: "2.0", resultTimeoutSeconds: 3600 },
    });
    expect(made.status, made.text).toBe(201);
    const id = made.json.campaign.campaignId;
    expect(made.json.campaign.operation).toMatchObject({ kind: "fumo", action: "DownloadAndUpdate" });
    await until(id, (c) => c.counts.inProgress === 3, "dispatched");
    for (const d of devs) {
      const s = await connect(d);
      expect(s.executed.some((e) => e.kind === "Exec" && e.target === "./FUMO/DownloadAndUpdate")).toBe(true);
    }
    expect(later.client.tree.value("./FUMO/DownloadAndUpdate/PkgURL")).toBe("https://fw.example.com/a1-2.0.bin");
    await until(id, (c) => c.counts.failed === 1, "the 410 counted");
    await deliverFrom(devs);
    // The Exec was accepted (202) and the job is done on the device, but the update's result has not come: still in progress.
    expect((await get(id)).counts).toMatchObject({ inProgress: 2, succeeded: 0, failed: 1 });
    // The device reboots into the new firmware and reports in its next session.
    expectClean(await later.client.startSession());
    await until(id, (c) => c.counts.succeeded === 1, "the later alert counted");
    const list = (await call("GET", `/dmws/v1/campaigns/${id}/devices`, { headers: ADMIN })).json.deviceList;
    const byDev = Object.fromEntries(list.map((d: any) => [d.devId, d]));
    expect(byDev[later.devId]).toMatchObject({ state: "succeeded", resultCode: "200" });
    expect(byDev[failing.devId]).toMatchObject({ state: "failed", resultCode: "410", reason: expect.stringMatching(/^410 .*failed/i) });
    expect(byDev[silent.devId]).toMatchObject({ state: "inProgress" });
    // The silent device: the campaign's alarm is due at its result deadline (an hour after its start); then it is timedOut.
    const stub = env.CAMPAIGNS.getByName(id);
    const due = Date.parse(byDev[silent.devId].startedAt) + 3600_000;
    expect(await runInDurableObject(stub, (_o, state) => state.storage.getAlarm())).toBe(due);
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE device SET result_deadline = ? WHERE dev_id = ?", Date.now() - 1, silent.devId);
    });
    await runDurableObjectAlarm(stub);
    const done = await get(id);
    expect(done).toMatchObject({ state: "completed", counts: { succeeded: 1, failed: 1, timedOut: 1, inProgress: 0, pending: 0 } });
    expect(done.finishedAt).toBeDefined();
    // A report of the same result again (the device repeats its alert) counts nothing more.
    expectClean(await later.client.startSession({ alerts: [{ correlator: `dmws:${id}`, source: "./FUMO", type: FUMO_DU, data: "200" }] }));
    await deliverFrom(devs);
    expect((await get(id)).counts).toMatchObject({ succeeded: 1, failed: 1, timedOut: 1 });
    const recs = await charges(p, id);
    expect(recs.map((r) => [r.devId, r.outcome, r.resultCode, r.operation]).sort()).toEqual([
      [later.devId, "success", "200", "fumo.downloadandupdate"],
      [failing.devId, "failure", "410", "fumo.downloadandupdate"],
    ].sort());
  });

  it("a provider's FUMO campaign needs write, exec and read on the FUMO node: without exec it is 403 naming it, audited", async () => {
    const d = await fumoDevice(() => ({ status: "200" }));
    const p = await newProvider("client_secret_basic");
    const group = newGroupName("fumo");
    await defineGroup(group, { devices: [d.devId] });
    await grant(p, [{ group, subtrees: ["./FUMO"], operations: ["read", "write"] }]);
    const r = await asProvider(p, "POST", "/dmws/v1/campaigns", { target: { group }, operation: { kind: "fumo", action: "DownloadAndUpdate", pkgURL: "https://fw.example.com/x.bin" } });
    expect(r.status, r.text).toBe(403);
    expect(r.json.requestError.policyException.variables[0]).toMatch(/exec/);
    expect((await auditOf(p, "refusal")).map((e) => e.action)).toEqual(["POST /dmws/v1/campaigns"]);
    const bad = await asProvider(p, "POST", "/dmws/v1/campaigns", { target: { group }, operation: { kind: "fumo", action: "DownloadAndUpdate" } });
    expect(bad.status, bad.text).toBe(400);
  });
});
