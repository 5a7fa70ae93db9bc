// The DM 2.0 sessions (x.1.1, x.1.3) and the four flows of the seed (x.2.1-x.2.4), driven through
// the Worker as a device would, with the jobs queued through the northbound /dm/v1 API.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, call, enc } from "../helpers";
import { TestDevice } from "./device";
import { verifyPackage0 } from "../../src/codec";
import { createAccount, dm2, INITIATION, newDevId, registerDevice, REQUEST, RESPONSE, SEED, sha256, TLS_ORIGIN, type Account } from "./helpers";

async function setup(tree: Record<string, string> = { "./DevInfo/Mod": "SmartWatch 3", "./Vendor/Old": "x" }) {
  const account = await createAccount();
  const devId = newDevId();
  await registerDevice(account, devId);
  return { account, devId, device: new TestDevice(account, devId, tree) };
}

async function queueJob(devId: string, commands: unknown[]) {
  const res = await call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands } });
  expect(res.status, res.text).toBe(201);
  return res.json.job.jobId as string;
}

async function job(devId: string, jobId: string) {
  const res = await call("GET", `/dm/v1/devices/${enc(devId)}/jobs/${jobId}`, { headers: ADMIN });
  expect(res.status, res.text).toBe(200);
  return res.json.job;
}

const JOB = [
  { kind: "Get", target: "./DevInfo/Mod" },
  { kind: "Replace", target: "./Vendor/Setting", data: "42" },
  { kind: "Delete", target: "./Vendor/Old" },
  { kind: "Exec", target: "./Vendor/Reboot" },
];

const completed = async (a: Account) => (await dm2(a, "GET", "/dm/v2/sessions/completed")).json.sessionList;
const pending = async (a: Account) => (await dm2(a, "GET", "/dm/v2/sessions/pending")).json.sessionList;

describe("DM 2.0 sessions: a northbound job reaches a DM 2.0 device as JSON commands", () => {
  it("client-initiated (x.2.2): the job's commands go out as HPUT, HGET, DELETE, EXEC with CONT; the statuses and the Get's value land on the job", async () => {
    const { account, devId, device } = await setup();
    const jobId = await queueJob(devId, JOB);
    const cmds = await device.start();
    const last = device.exchanges[0]!;
    expect(last.type).toBe(REQUEST);
    expect(cmds.map((c) => c[0])).toEqual(["HPUT", "HGET", "DELETE", "EXEC", "CONT"]);
    const cont = cmds[4]![1] as string;
    expect(cont).toMatch(new RegExp(`^${TLS_ORIGIN}/dm/v2/sessions/id/[0-9a-f]{32}$`));
    expect((await pending(account)).map((s: any) => s.state)).toEqual(["active"]);
    const { statuses } = await device.execute(cmds);
    const end = await device.report(cont, statuses);
    expect(end).toEqual([["END"]]);
    expect(device.tree.get("./Vendor/Setting")).toBe("42");
    expect(device.tree.has("./Vendor/Old")).toBe(false);
    const j = await job(devId, jobId);
    expect(j.state).toBe("done");
    expect(j.commands.map((c: any) => c.status)).toEqual(["200", "200", "200", "200"]);
    expect(j.commands[0].results).toEqual([{ source: "./DevInfo/Mod", data: "SmartWatch 3", format: "chr", type: "text/plain" }]);
    const [s] = await completed(account);
    expect(s).toMatchObject({ devId, state: "completed", initiator: "client", packages: 2, result: { outcome: "OK", commands: 4, succeeded: 4, failed: 0 } });
    expect(await pending(account)).toEqual([]);
  });

  it("POST /alert with nothing queued is answered END, and the session is listed completed OK", async () => {
    const { account, device } = await setup();
    expect(await device.start("/dm/v2/alert", { AlertType: "urn:oma:at:dm:2.0:BootstrapComplete" })).toEqual([["END"]]);
    expect((await completed(account))[0]).toMatchObject({ state: "completed", result: { outcome: "OK", commands: 0 } });
  });

  it("a failed command is the session's failure with the reason; the job fails naming it", async () => {
    const { account, devId, device } = await setup({});
    const jobId = await queueJob(devId, [{ kind: "Get", target: "./Nope" }]);
    await device.session();
    expect((await job(devId, jobId)).commands[0].status).toBe("404");
    expect((await job(devId, jobId)).state).toBe("failed");
    expect((await completed(account))[0].result).toMatchObject({ outcome: "failure", reason: expect.stringContaining("HPUT ./Nope: status 404"), failed: 1 });
  });

  it("each package has a newly assigned session id: answering the same id twice (a replay) is 404 and changes nothing", async () => {
    const { devId, device } = await setup({});
    const jobId = await queueJob(devId, [{ kind: "Get", target: "./Missing" }]);
    const cmds = await device.start();
    const cont = cmds.at(-1)![1] as string;
    const { statuses } = await device.execute(cmds);
    expect(statuses).toEqual([{ sc: 404 }]);
    expect(await device.report(cont, statuses)).toEqual([["END"]]);
    const before = await job(devId, jobId);
    // the same answer again, now claiming success: refused, and the job keeps the device's real verdict
    const replay = await SELF.fetch(cont, { method: "PUT", headers: { Authorization: `Basic ${btoa(`${device.account.accountId}:${device.account.password}`)}`, "Content-Type": RESPONSE }, body: JSON.stringify({ Status: [{ sc: 200 }] }) });
    expect(replay.status).toBe(404);
    expect(await job(devId, jobId)).toEqual(before);
  });

  it("a second package gets a new id and the first one's id is spent", async () => {
    const { devId, device } = await setup();
    await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const first = await device.start();
    const cont1 = first.at(-1)![1] as string;
    await queueJob(devId, [{ kind: "Replace", target: "./A", data: "1" }]);
    const second = await device.report(cont1, (await device.execute(first)).statuses);
    expect(second.map((c) => c[0])).toEqual(["HGET", "CONT"]);
    const cont2 = second.at(-1)![1] as string;
    expect(cont2).not.toBe(cont1);
    expect(new URL(second[0]![1] as string).pathname).toBe(`${new URL(cont2).pathname}/data/0`);
    expect(await device.report(cont2, (await device.execute(second)).statuses)).toEqual([["END"]]);
    expect(device.tree.get("./A")).toBe("1");
  });

  it("EXEC answered 202 (asynchronous) and the result later as an Alert with its Correlator lands on that job command", async () => {
    const { devId, device } = await setup();
    device.execStatus.set("./FUMO/1/Update", 202);
    const jobId = await queueJob(devId, [{ kind: "Exec", target: "./FUMO/1/Update", correlator: "fw-7" }]);
    const cmds = await device.start();
    expect(cmds[0]).toEqual(["EXEC", "./FUMO/1/Update", "", "fw-7"]);
    const { statuses, cont } = await device.execute(cmds);
    await device.report(cont!, statuses);
    expect((await job(devId, jobId)).commands[0].status).toBe("202");
    device.alertsToSend.push({ AlertType: "urn:oma:at:fumo:1.0:OperationComplete", SourceURI: "./FUMO/1/Update", DataType: "int", Data: "200", Correlator: "fw-7" });
    expect(await device.start("/dm/v2/alert", { AlertType: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" })).toEqual([["END"]]);
    const alerts = (await job(devId, jobId)).commands[0].alerts;
    expect(alerts).toEqual([{ type: "urn:oma:at:fumo:1.0:OperationComplete", source: "./FUMO/1/Update", format: "int", data: "200", receivedAt: expect.any(String) }]);
  });

  it("Copy, Atomic and UI alerts have no DM 2.0 command: answered 406 with the reason, never sent; a Sequence goes out as its children", async () => {
    const { devId, device } = await setup({});
    const jobId = await queueJob(devId, [
      { kind: "Copy", target: "./B", source: "./A" },
      { kind: "Sequence", commands: [{ kind: "Add", target: "./S/1", data: "a" }, { kind: "Get", target: "./S/1" }] },
    ]);
    const cmds = await device.start();
    expect(cmds.map((c) => c[0])).toEqual(["HGET", "HPUT", "CONT"]);
    const { statuses, cont } = await device.execute(cmds);
    await device.report(cont!, statuses);
    const j = await job(devId, jobId);
    expect(j.commands[0]).toMatchObject({ status: "406", error: expect.stringContaining("Copy") });
    expect(j.commands[1]).toMatchObject({ status: "200", children: [{ status: "200" }, { status: "200", results: [{ source: "./S/1", data: "a" }] }] });
  });
});

describe("DM 2.0 sessions: the four flows of the seed", () => {
  it("server-initiated (x.2.1): a notification makes a pending session with package 0 (version 2.0); the device starts it at POST /sessions/id/{id}", async () => {
    const { account, devId, device } = await setup();
    const jobId = await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const res = await call("POST", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN, body: { uiMode: "background" } });
    expect(res.status, res.text).toBe(201);
    const [p] = await pending(account);
    expect(p).toMatchObject({ devId, state: "pending", initiator: "server", notification: { package0: expect.any(String) } });
    const cmds = await device.start(`/dm/v2/sessions/id/${p.sessionId}`, { AlertType: "urn:oma:at:dm:2.0:ServerInitiatedMgmt" });
    const { statuses, cont } = await device.execute(cmds);
    await device.report(cont!, statuses);
    expect((await job(devId, jobId)).state).toBe("done");
    expect((await completed(account))[0]).toMatchObject({ initiator: "server", result: { outcome: "OK" } });
  });

  it("decision 14: package 0's digest uses the device's nonce, which each session renews and every package of it carries in OMADM-NextNonce", async () => {
    const { account, devId } = await setup();
    const ha1 = await sha256(`${account.accountId}:oma-edge DM:${account.password}`);
    const pkg0 = async () => Uint8Array.from(atob((await call("POST", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN, body: {} })).json.notification.package0), (ch) => ch.charCodeAt(0));
    // Before the device's first session it has been given no nonce: the empty one.
    const before = await pkg0();
    expect(verifyPackage0(before, { password: ha1, nonce: "" })).toBe(true);
    await queueJob(devId, [{ kind: "Delete", target: "./Vendor/Old" }]);
    const start = await dm2(account, "POST", "/dm/v2/sessions/next", { body: {}, headers: { "OMADM-DevID": devId } });
    const nonce = start.headers.get("OMADM-NextNonce")!;
    expect(nonce).toMatch(/^[0-9a-f]{32}$/);
    const end = await dm2(account, "PUT", `/dm/v2/sessions/id/${start.headers.get("OMADM-SessionID")}`, { body: { Status: [{ sc: 200 }] }, type: RESPONSE });
    expect(end.json).toEqual({ CMD: [["END"]] });
    expect(end.headers.get("OMADM-NextNonce")).toBe(nonce);
    const after = await pkg0();
    expect(verifyPackage0(after, { password: ha1, nonce })).toBe(true);
    expect(verifyPackage0(before, { password: ha1, nonce })).toBe(false);
    const next = await dm2(account, "POST", "/dm/v2/sessions/next", { body: {}, headers: { "OMADM-DevID": devId } });
    const renewed = next.headers.get("OMADM-NextNonce")!;
    expect(renewed).toMatch(/^[0-9a-f]{32}$/);
    expect(renewed).not.toBe(nonce);
    expect(verifyPackage0(after, { password: ha1, nonce: renewed })).toBe(false);
  });

  it("server-initiated: the northbound outbox shows the DM 2.0 package 0, and its 16-bit session number names the session too", async () => {
    const { account, devId, device } = await setup();
    await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const n = (await call("POST", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN, body: {} })).json.notification;
    expect(n).toMatchObject({ sessionId: expect.stringMatching(/^[0-9A-F]{1,4}$/), contentType: "application/vnd.syncml.notification", wspContentType: 0x44 });
    const pkg0 = Uint8Array.from(atob(n.package0), (ch) => ch.charCodeAt(0));
    // version (10 bits after the 128-bit digest) is 20: DM 2.0; the session number sits in bits 40-55 after the digest
    expect(((pkg0[16]! << 2) | (pkg0[17]! >> 6))).toBe(20);
    expect(((pkg0[21]! << 8) | pkg0[22]!).toString(16).toUpperCase()).toBe(n.sessionId);
    const outbox = (await call("GET", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN })).json.notificationList;
    expect(outbox.map((x: any) => x.package0)).toEqual([n.package0]);
    const cmds = await device.start(`/dm/v2/sessions/id/${n.sessionId}`, { AlertType: "urn:oma:at:dm:2.0:ServerInitiatedMgmt" });
    expect(cmds[0]![0]).toBe("HPUT");
    expect((await call("GET", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN })).json.notificationList).toEqual([]);
    expect((await pending(account))[0].state).toBe("active");
  });

  it("web-browser-component-initiated (x.2.3): Accept application/vnd.omadm-cmd+json gets JSON commands in that type", async () => {
    const { account, devId } = await setup();
    await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const res = await dm2(account, "POST", "/dm/v2/sessions/next", { accept: SEED, headers: { "OMADM-DevID": devId } });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get("content-type")).toBe(SEED);
    expect(res.json.CMD[0][0]).toBe("HPUT");
    expect(res.headers.get("omadm-sessionid")).toMatch(/^[0-9a-f]{32}$/);
    expect((await pending(account))[0].initiator).toBe("browser-component");
  });

  it("web-browser-initiated (x.2.4): without that Accept the browser gets an HTML page, and the device is sent a notification", async () => {
    const { account, devId } = await setup();
    const res = await dm2(account, "POST", "/dm/v2/sessions/next", { accept: "text/html,application/xhtml+xml,*/*;q=0.8", headers: { "OMADM-DevID": devId } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.text).toContain(devId);
    const [p] = await pending(account);
    expect(p).toMatchObject({ devId, state: "pending", initiator: "browser", notification: { package0: expect.any(String) } });
    expect(res.text).toContain(p.sessionId);
  });
});

describe("DM 2.0 sessions: abort, resume and bad input", () => {
  it("a session aborted midway (DELETE /session/id/{id}) puts its unanswered commands back; the next session resumes and the job completes", async () => {
    const { account, devId, device } = await setup();
    const jobId = await queueJob(devId, JOB);
    const cmds = await device.start();
    const cont = cmds.at(-1)![1] as string;
    const id = cont.split("/").at(-1)!;
    const del = await dm2(account, "DELETE", `/dm/v2/session/id/${id}`);
    expect(del.status).toBe(204);
    expect((await completed(account))[0]).toMatchObject({ state: "aborted", result: { outcome: "failure", reason: "aborted by the device" } });
    const after = await job(devId, jobId);
    expect(after.commands.every((c: any) => c.status === undefined)).toBe(true);
    expect((await dm2(account, "PUT", `/dm/v2/sessions/id/${id}`, { body: { Status: [] }, type: RESPONSE })).status).toBe(404);
    await device.session();
    expect((await job(devId, jobId)).state).toBe("done");
  });

  it("a device that dies midway and starts again: the old session ends aborted and the new one resends what had no status", async () => {
    const { account, devId, device } = await setup();
    const jobId = await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    await device.start();
    await device.session();
    const j = await job(devId, jobId);
    expect(j.state).toBe("done");
    expect(j.attempts).toBe(2);
    expect((await completed(account)).map((s: any) => s.state)).toEqual(["completed", "aborted"]);
  });

  it("malformed JSON, a wrong media type, an unacceptable Accept, a wrong status count and an unknown session id get clear errors", async () => {
    const { account, devId, device } = await setup();
    await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const h = { "OMADM-DevID": devId };
    const bad = await dm2(account, "POST", "/dm/v2/sessions/next", { body: '{"Alert": [', headers: h });
    expect(bad.status).toBe(400);
    expect(bad.json.requestError.serviceException.variables).toEqual(["body", expect.stringContaining("malformed JSON")]);
    const xml = await dm2(account, "POST", "/dm/v2/sessions/next", { body: "<Alert/>", type: "application/xml", headers: h });
    expect(xml.status).toBe(415);
    expect(xml.json.requestError.serviceException.variables[0]).toBe("Content-Type");
    const accept = await dm2(account, "POST", "/dm/v2/sessions/next", { body: {}, accept: "application/xml", headers: h });
    expect(accept.status).toBe(406);
    const wrongShape = await dm2(account, "POST", "/dm/v2/sessions/next", { body: { Alert: [{ AlertType: 7 }] }, headers: h });
    expect(wrongShape.json.requestError.serviceException.variables[0]).toBe("body.Alert[0].AlertType");
    const cmds = await device.start();
    const cont = cmds.at(-1)![1] as string;
    const path = new URL(cont).pathname;
    const tooFew = await dm2(account, "PUT", path, { body: { Status: [] }, type: RESPONSE });
    expect(tooFew.status).toBe(400);
    expect(tooFew.json.requestError.serviceException.variables[0]).toBe("body.Status");
    expect((await dm2(account, "PUT", "/dm/v2/sessions/id/0123456789abcdef0123456789abcdef", { body: { Status: [] }, type: RESPONSE })).status).toBe(404);
    // A malformed id (neither 32 hex digits nor a session number) is 400 naming it, on every session resource.
    for (const [method, path] of [["PUT", "/dm/v2/sessions/id/not-a-session"], ["POST", "/dm/v2/sessions/id/not-a-session"], ["DELETE", "/dm/v2/session/id/not-a-session"], ["GET", "/dm/v2/sessions/id/not-a-session/data/0"]] as const) {
      const bad = await dm2(account, method, path, method === "DELETE" || method === "GET" ? {} : { body: { Status: [] }, type: RESPONSE });
      expect(bad.status, `${method} ${path}`).toBe(400);
      expect(bad.json.requestError.serviceException.variables).toEqual(["sessionId", expect.stringContaining('"not-a-session" is not a session id')]);
    }
    const badIndex = await dm2(account, "GET", `${path}/data/x1`);
    expect(badIndex.status).toBe(400);
    expect(badIndex.json.requestError.serviceException.variables[0]).toBe("index");
    // the package is still open after the refused answers
    const { statuses } = await device.execute(cmds);
    expect(await device.report(cont, statuses)).toEqual([["END"]]);
  });

  it("another account's device and session are 404, exactly as unknown ones", async () => {
    const { account, devId, device } = await setup();
    const other = await createAccount();
    await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const cmds = await device.start();
    const path = new URL(cmds.at(-1)![1] as string).pathname;
    expect((await dm2(other, "PUT", path, { body: { Status: [{ sc: 200 }] }, type: RESPONSE })).status).toBe(404);
    expect((await dm2(other, "DELETE", path)).status).toBe(404);
    expect((await dm2(other, "GET", `${path}/data/0`)).status).toBe(404);
    expect((await dm2(other, "GET", `/dm/v2/devices/${enc(devId)}`)).status).toBe(404);
    expect((await dm2(other, "POST", "/dm/v2/sessions/next", { body: {}, headers: { "OMADM-DevID": devId } })).status).toBe(404);
    expect((await dm2(other, "DELETE", `/dm/v2/devices/${enc(devId)}`)).status).toBe(404);
    expect((await dm2(account, "GET", `/dm/v2/devices/${enc(devId)}`)).status).toBe(200);
  });

  it("the package's data resources: an HPUT index takes an upload, other indexes are 404; the initiation type is accepted for package 1", async () => {
    const { account, devId, device } = await setup();
    await queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Delete", target: "./Vendor/Old" }]);
    const cmds = await device.start();
    const path = new URL(cmds.at(-1)![1] as string).pathname;
    expect((await dm2(account, "PUT", `${path}/data/1`, { body: "x", type: "text/plain" })).status).toBe(404);
    expect((await dm2(account, "GET", `${path}/data/0`)).status).toBe(404);
    expect((await dm2(account, "PUT", `${path}/data/0`, { body: "SmartWatch 3", type: "text/plain" })).status).toBe(204);
    expect(device.exchanges[0]!.type).toBe(REQUEST);
    expect(INITIATION).toBe("application/vnd.oma.dm.initiation+json");
  });
});
