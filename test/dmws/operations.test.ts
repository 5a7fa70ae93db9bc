// High-level operations (issue 16): FUMO, SCOMO, DiagMon and service provisioning, each a job per
// device with progress and a final result per device, run against the DM 1.2 simulator.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, call, enc, ORIGIN } from "../helpers";
import { device, expectClean } from "../dm/harness";
import type { DmClient } from "../dm/simulator";
import { signNotification } from "../../src/notify/queue";
import { asProvider, auditOf, defineGroup, grant, inventory, newGroupName, newProvider, type Provider } from "./support";

const FUMO_DU = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";
const SCOMO_DONE = "urn:oma:at:scomo:1.0:OperationComplete";

async function providerFor(devices: string[], subtrees: string[], operations: ("read" | "write" | "exec")[]) {
  const p = await newProvider();
  const group = newGroupName();
  await defineGroup(group, { devices });
  await grant(p, [{ group, subtrees, operations }]);
  return { p, group };
}

async function run(p: Provider, body: unknown) {
  const res = await asProvider(p, "POST", "/dmws/v1/operations", body);
  expect(res.status, res.text).toBe(201);
  return res.json.operation as { operationId: string; resourceURL: string };
}

async function results(p: Provider, operationId: string) {
  const res = await asProvider(p, "GET", `/dmws/v1/operations/${operationId}/results`);
  expect(res.status, res.text).toBe(200);
  return res.json.results as any[];
}

/** Runs the device's alarm (charging records, job states) until it has nothing left; the provider's object then has what the device wrote. */
async function deliverCharges(devId: string) {
  const stub = env.DEVICES.getByName(devId);
  for (let i = 0; i < 3; i++) await runDurableObjectAlarm(stub);
}

async function charges(p: Provider, operationId?: string) {
  const res = await asProvider(p, "GET", `/dmws/v1/charging-records${operationId ? `?operationId=${operationId}` : ""}`);
  expect(res.status, res.text).toBe(200);
  return res.json.records as any[];
}

function fumoDevice(outcome: (client: () => DmClient) => { status: string; alert?: any }) {
  let ref: DmClient;
  return device("syncml:auth-md5", {
    tree: { "./FUMO/DownloadAndUpdate/PkgURL": "", "./FUMO/State": "10", "./FUMO/PkgName": "", "./FUMO/PkgVersion": "" },
    exec: { "./FUMO/DownloadAndUpdate": () => outcome(() => ref) },
  }).then((d) => ((ref = d.client), d));
}

describe("FUMO (OMA-TS-DM_FUMO-V1_0) through the provider API", () => {
  it("a DownloadAndUpdate whose result (alert 1226, code 200) arrives in a later session: running, then succeeded and charged once", async () => {
    const { devId, client } = await fumoDevice((c) => {
      c().tree.set("./FUMO/State", { value: "30" });
      return { status: "202", alert: { type: FUMO_DU, data: "200", when: "next-session" } };
    });
    const { p } = await providerFor([devId], ["./FUMO"], ["read", "write", "exec"]);
    const op = await run(p, { operation: { kind: "fumo", action: "DownloadAndUpdate", pkgURL: "https://fw.example.com/2.0.bin", pkgVersion: "2.0" }, devices: [devId] });
    expect((await results(p, op.operationId))[0]).toMatchObject({ devId, state: "pending" });

    expectClean(await client.startSession());
    expect(client.tree.value("./FUMO/DownloadAndUpdate/PkgURL")).toBe("https://fw.example.com/2.0.bin");
    expect(client.tree.value("./FUMO/PkgVersion")).toBe("2.0");
    const during = (await results(p, op.operationId))[0];
    expect(during).toMatchObject({ state: "running", fumoState: { value: "30", name: "Download Progressing" } });
    await deliverCharges(devId);
    expect(await charges(p, op.operationId)).toEqual([]);

    // The counts come from the provider's object, as the device reported each state (running, then succeeded).
    await deliverCharges(devId);
    expect((await asProvider(p, "GET", `/dmws/v1/operations/${op.operationId}`)).json.operation).toMatchObject({ counts: { running: 1, succeeded: 0 }, finished: false });
    expectClean(await client.startSession());
    expect((await results(p, op.operationId))[0]).toMatchObject({ devId, state: "succeeded", resultCode: "200", resultName: "Successful" });
    await deliverCharges(devId);
    const view = await asProvider(p, "GET", `/dmws/v1/operations/${op.operationId}`);
    expect(view.json.operation).toMatchObject({ counts: { succeeded: 1, running: 0, pending: 0 }, finished: true });
    const kept = await runInDurableObject(env.DMWS_PROVIDERS.getByName(p.clientId), (_o, state) =>
      state.storage.sql.exec<{ state: string; n: number }>("SELECT state, n FROM op_count WHERE operation_id = ? AND n > 0", op.operationId).toArray());
    expect(kept).toEqual([{ state: "succeeded", n: 1 }]);
    // A job recorded before states were reported ("legacy") sends its operation's counts back to the devices: still right.
    await runInDurableObject(env.DMWS_PROVIDERS.getByName(p.clientId), (_o, state) => {
      state.storage.sql.exec("UPDATE op_job SET state = NULL WHERE operation_id = ?", op.operationId);
    });
    expect((await asProvider(p, "GET", `/dmws/v1/operations/${op.operationId}`)).json.operation).toMatchObject({ counts: { succeeded: 1, running: 0 }, finished: true });
    const recs = await charges(p, op.operationId);
    expect(recs).toEqual([expect.objectContaining({ provider: p.clientId, devId, operation: "fumo.downloadandupdate", outcome: "success", resultCode: "200" })]);
  });

  it("a failure code (410) is a named failure; no result before resultTimeoutSeconds is a timeout (not charged)", async () => {
    const failing = await fumoDevice(() => ({ status: "202", alert: { type: FUMO_DU, data: "410", when: "same-session" } }));
    const silent = await fumoDevice(() => ({ status: "202" }));
    const { p } = await providerFor([failing.devId, silent.devId], ["./FUMO"], ["read", "write", "exec"]);
    const op = await run(p, { operation: { kind: "fumo", action: "DownloadAndUpdate", pkgURL: "https://fw.example.com/2.0.bin", resultTimeoutSeconds: 1 }, devices: [failing.devId, silent.devId] });
    expectClean(await failing.client.startSession());
    expectClean(await silent.client.startSession());
    await new Promise((r) => setTimeout(r, 1100));
    const byDev = Object.fromEntries((await results(p, op.operationId)).map((r) => [r.devId, r]));
    expect(byDev[failing.devId]).toMatchObject({ state: "failed", resultCode: "410", resultName: "Firmware update failed" });
    expect(byDev[silent.devId]).toMatchObject({ state: "timeout" });
    await deliverCharges(failing.devId);
    await deliverCharges(silent.devId);
    // The counts agree: the silent device, running past its result deadline, is a timeout.
    expect((await asProvider(p, "GET", `/dmws/v1/operations/${op.operationId}`)).json.operation).toMatchObject({ counts: { failed: 1, timeout: 1, running: 0, pending: 0 }, finished: true });
    expect((await charges(p, op.operationId)).map((r) => [r.devId, r.outcome])).toEqual([[failing.devId, "failure"]]);
  });

  it("an operation outside the grant queues nothing: 403 naming the operation, recorded in the audit trail", async () => {
    const { devId, client } = await fumoDevice(() => ({ status: "202" }));
    const { p } = await providerFor([devId], ["./FUMO"], ["read", "write"]);
    const res = await asProvider(p, "POST", "/dmws/v1/operations", { operation: { kind: "fumo", action: "DownloadAndUpdate", pkgURL: "https://fw.example.com/x.bin" }, devices: [devId] });
    expect(res.status).toBe(403);
    expect(res.json.requestError.policyException.variables[0]).toBe(`operation exec on ./FUMO not granted to provider ${p.clientId}`);
    const s = await client.startSession();
    expectClean(s);
    expect(s.executed).toEqual([]);
    expect((await auditOf(p, "refusal")).map((e) => e.action)).toEqual(["POST /dmws/v1/operations fumo"]);
    expect((await asProvider(p, "GET", "/dmws/v1/operations")).json.operations).toEqual([]);
  });
});

describe("SCOMO (urn:oma:mo:oma-scomo:1.0)", () => {
  it("install: PkgURL under ./SCOMO/Download/<pkgId>, Exec DownloadInstall, result from OperationComplete (1200); inventory reads the deployed components", async () => {
    let ref: DmClient;
    const { devId, client } = await device("syncml:auth-basic", {
      tree: { "./SCOMO/Download/navapp/Operations/DownloadInstall": "", "./SCOMO/Inventory/Delivered": { format: "node" } },
      exec: {
        "./SCOMO/Download/navapp/Operations/DownloadInstall": () => {
          ref.tree.set("./SCOMO/Inventory/Deployed/navapp/State", { value: "20" });
          return { status: "202", alert: { type: SCOMO_DONE, data: "1200", when: "same-session" } };
        },
      },
    });
    ref = client;
    const { p } = await providerFor([devId], ["./SCOMO"], ["read", "write", "exec"]);
    const op = await run(p, { operation: { kind: "scomo", action: "install", pkgId: "navapp", pkgURL: "https://apps.example.com/nav.pkg", version: "3.1" }, devices: [devId] });
    expectClean(await client.startSession());
    expect(client.tree.value("./SCOMO/Download/navapp/PkgURL")).toBe("https://apps.example.com/nav.pkg");
    expect((await results(p, op.operationId))[0]).toMatchObject({ state: "succeeded", resultCode: "1200", resultName: "Successful" });

    const inv = await run(p, { operation: { kind: "scomo", action: "inventory" }, devices: [devId] });
    expectClean(await client.startSession());
    const r = (await results(p, inv.operationId))[0];
    expect(r).toMatchObject({ state: "succeeded" });
    expect(r.values["./SCOMO/Inventory/Deployed"]).toBe("navapp");
    await deliverCharges(devId);
    expect((await charges(p)).map((c) => c.operation).sort()).toEqual(["scomo.install", "scomo.inventory"]);
  });
});

describe("DiagMon", () => {
  it("values collected on demand are kept per device and exported as NDJSON and CSV (streamed)", async () => {
    const a = await device("syncml:auth-basic", { tree: { "./Vendor/Diag/Signal": "-71" } });
    const b = await device("syncml:auth-basic", { tree: { "./Vendor/Diag/Signal": "-90, weak" } });
    const { p } = await providerFor([a.devId, b.devId], ["./Vendor/Diag", "./DevDetail"], ["read"]);
    const op = await run(p, { operation: { kind: "diagmon", values: ["./Vendor/Diag/Signal", "./DevDetail/FwV"] }, devices: [a.devId, b.devId] });
    expectClean(await a.client.startSession());
    expectClean(await b.client.startSession());

    const nd = await asProvider(p, "GET", `/dmws/v1/operations/${op.operationId}/results?format=ndjson`);
    expect(nd.status).toBe(200);
    expect(nd.headers.get("content-type")).toBe("application/x-ndjson");
    const rows = nd.text.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows).toHaveLength(4);
    expect(rows).toContainEqual(expect.objectContaining({ devId: a.devId, uri: "./Vendor/Diag/Signal", value: "-71", state: "succeeded", round: 1 }));
    expect(rows).toContainEqual(expect.objectContaining({ devId: b.devId, uri: "./DevDetail/FwV", value: "1.0.0" }));

    const csv = await asProvider(p, "GET", `/dmws/v1/operations/${op.operationId}/results?format=csv`);
    expect(csv.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const lines = csv.text.trim().split("\r\n");
    expect(lines[0]).toBe("operationId,devId,round,jobId,state,uri,value,updatedAt");
    expect(lines).toHaveLength(5);
    expect(lines.some((l) => l.includes(`${b.devId},1,`) && l.includes(`./Vendor/Diag/Signal,"-90, weak"`))).toBe(true);
  });

  it("on a schedule: each round is a new collection on the same devices, kept and charged per round", async () => {
    const a = await device("syncml:auth-basic", { tree: { "./Vendor/Diag/Signal": "-70" } });
    const { p } = await providerFor([a.devId], ["./Vendor/Diag"], ["read"]);
    const op = await run(p, { operation: { kind: "diagmon", values: ["./Vendor/Diag/Signal"], schedule: { intervalSeconds: 60, count: 2 } }, devices: [a.devId] });
    expectClean(await a.client.startSession());
    a.client.tree.set("./Vendor/Diag/Signal", { value: "-75" });
    // The next round is due: the provider object's alarm (set for a minute from now) runs it, brought forward.
    const owner = env.DMWS_PROVIDERS.getByName(p.clientId);
    await runInDurableObject(owner, async (_o, state) => {
      state.storage.sql.exec("UPDATE operation SET next_round_at = 0 WHERE operation_id = ?", op.operationId);
    });
    expect(await runDurableObjectAlarm(owner)).toBe(true);
    expectClean(await a.client.startSession());
    const rs = await results(p, op.operationId);
    expect(rs.map((r) => [r.round, r.state, r.values["./Vendor/Diag/Signal"]])).toEqual([[1, "succeeded", "-70"], [2, "succeeded", "-75"]]);
    await deliverCharges(a.devId);
    expect((await asProvider(p, "GET", `/dmws/v1/operations/${op.operationId}`)).json.operation).toMatchObject({ rounds: 2, counts: { succeeded: 2 } });
    expect((await charges(p, op.operationId)).map((r) => r.operation)).toEqual(["diagmon.collect", "diagmon.collect"]);
  });

  it("a value outside the granted subtree is refused naming the subtree", async () => {
    const a = await device("syncml:auth-basic");
    const { p } = await providerFor([a.devId], ["./Vendor/Diag"], ["read"]);
    const res = await asProvider(p, "POST", "/dmws/v1/operations", { operation: { kind: "diagmon", values: ["./DevInfo/DevId"] }, devices: [a.devId] });
    expect(res.status).toBe(403);
    expect(res.json.requestError.policyException.variables[0]).toBe(`subtree ./DevInfo/DevId not granted to provider ${p.clientId}`);
  });
});

describe("Service provisioning", () => {
  const SECRET = "dev-only-dmws-provisioning-secret";
  async function signed(body: unknown, secret = SECRET) {
    const text = JSON.stringify(body);
    const t = Math.floor(Date.now() / 1000);
    return SELFpost(text, await signNotification(secret, text, t));
  }
  async function SELFpost(text: string, signature: string) {
    return call("POST", "/dmws/v1/provisioning-events", { body: text, headers: { "x-dmws-signature": signature } });
  }

  it("a signed webhook from the provisioning system pushes the configuration set to every device of the subscriber, once per event", async () => {
    const subscriber = `tel:+1555${String(Date.now() % 1e7).padStart(7, "0")}`;
    const phone = await device("syncml:auth-basic", { tree: { "./Vendor/VoiceMail/Number": "" } });
    const watch = await device("syncml:auth-basic", { tree: { "./Vendor/VoiceMail/Number": "" } });
    await inventory(phone.devId, { subscriber });
    await inventory(watch.devId, { subscriber });
    const { p } = await providerFor([phone.devId, watch.devId], ["./Vendor/VoiceMail"], ["write"]);
    const set = await asProvider(p, "PUT", "/dmws/v1/configuration-sets/voicemail", {
      commands: [{ kind: "Replace", target: "./Vendor/VoiceMail/Number", data: "+15550100" }, { kind: "Add", target: "./Vendor/VoiceMail/Enabled", data: "true", format: "bool" }],
    });
    expect(set.status, set.text).toBe(201);
    const event = { eventId: crypto.randomUUID(), event: "service.subscribed", provider: p.clientId, subscriber, configurationSet: "voicemail" };

    expect((await signed(event, "wrong-secret")).status).toBe(401);
    const first = await signed(event);
    expect(first.status, first.text).toBe(202);
    const again = await signed(event);
    expect(again.json.operation.operationId).toBe(first.json.operation.operationId);
    expect(first.json.operation).toMatchObject({ deviceCount: 2, trigger: `event:${event.eventId}`, target: { subscriber } });

    for (const d of [phone, watch]) {
      expectClean(await d.client.startSession());
      expect(d.client.tree.value("./Vendor/VoiceMail/Number")).toBe("+15550100");
      expect(d.client.tree.value("./Vendor/VoiceMail/Enabled")).toBe("true");
    }
    const rs = await results(p, first.json.operation.operationId);
    expect(rs.map((r) => r.state)).toEqual(["succeeded", "succeeded"]);
  });

  it("the same push by API call; a stale or malformed signature is 401 and starts nothing", async () => {
    const subscriber = `tel:+1556${String(Date.now() % 1e7).padStart(7, "0")}`;
    const d = await device("syncml:auth-basic", { tree: { "./Vendor/AppX/Url": "" } });
    await inventory(d.devId, { subscriber });
    const { p } = await providerFor([d.devId], ["./Vendor/AppX"], ["write"]);
    await asProvider(p, "PUT", "/dmws/v1/configuration-sets/appx", { commands: [{ kind: "Replace", target: "./Vendor/AppX/Url", data: "https://appx.example.com" }] });
    const text = JSON.stringify({ eventId: "e-stale", event: "service.subscribed", provider: p.clientId, subscriber, configurationSet: "appx" });
    const old = Math.floor(Date.now() / 1000) - 3600;
    expect((await SELFpost(text, await signNotification(SECRET, text, old))).status).toBe(401);
    expect((await SELFpost(text, "v1=abc")).status).toBe(401);
    const op = await run(p, { operation: { kind: "provisioning", configurationSet: "appx" }, subscriber });
    expectClean(await d.client.startSession());
    expect(d.client.tree.value("./Vendor/AppX/Url")).toBe("https://appx.example.com");
    expect((await results(p, op.operationId))[0].state).toBe("succeeded");
  });
});

describe("Charging records", () => {
  it("exactly one record per chargeable result, whatever is retried: a repeated alert, a dropped session, a redelivered outbox", async () => {
    const { devId, client } = await fumoDevice(() => ({ status: "202", alert: { type: FUMO_DU, data: "200", when: "next-session" } }));
    const { p } = await providerFor([devId], ["./FUMO"], ["read", "write", "exec"]);
    const op = await run(p, { operation: { kind: "fumo", action: "DownloadAndUpdate", pkgURL: "https://fw.example.com/2.0.bin" }, devices: [devId] });
    // The first session is lost after the device executed the commands: the job goes out again.
    const dropped = await client.startSession({ drop: { afterServerMessages: 1 } });
    expect(dropped.outcome).toBe("dropped");
    expectClean(await client.startSession());
    expectClean(await client.startSession());
    // The device reports the same result again (its acknowledgement was lost).
    expectClean(await client.startSession({ alerts: [{ correlator: `dmws:${op.operationId}`, source: "./FUMO", type: FUMO_DU, data: "200" }] }));
    await deliverCharges(devId);
    // A crash between the ledger's insert and the outbox's mark: the record goes out again.
    await runInDurableObject(env.DEVICES.getByName(devId), async (_obj, state) => {
      state.storage.sql.exec("UPDATE dmws_charge SET delivered_at = NULL");
      await state.storage.setAlarm(Date.now());
    });
    await deliverCharges(devId);
    const recs = await charges(p, op.operationId);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ devId, outcome: "success", operationId: op.operationId });

    const csv = await call("GET", `/admin/v1/dm-providers/${enc(p.clientId)}/charging-records?format=csv&operationId=${op.operationId}`, { headers: ADMIN });
    expect(csv.text.trim().split("\r\n")).toHaveLength(2);
    const from = new Date(Date.now() + 3600_000).toISOString();
    expect((await asProvider(p, "GET", `/dmws/v1/charging-records?from=${enc(from)}`)).json.records).toEqual([]);
    void ORIGIN;
  });
});
