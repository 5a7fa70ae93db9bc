// What a session with a real C DM client exposed (issue 10), each fault as the behaviour that now
// holds, against the Worker with the simulator taught that client's habits.
import { env, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage, secretDigest, type Command, type SyncMLMessage } from "../../src/codec";
import { ADMIN, call, enc, ORIGIN } from "../helpers";
import { SCHEMA } from "../../src/dm/device-tables";
import { exhaust, inFreshWindow } from "../http/rate-limit-probe";
import { createJob, device, expectClean, getJob, newDevId, SERVER_URL, story, tree } from "./harness";

/** A raw client message: XML, no credentials unless given. */
function raw(devId: string, sessionId: string, msgId: string, body: Command[], cred?: SyncMLMessage["header"]["cred"]): Uint8Array {
  return encodeMessage({
    header: { verDTD: "1.2", verProto: "DM/1.2", sessionId, msgId, target: { locURI: SERVER_URL }, source: { locURI: devId }, ...(cred ? { cred } : {}) },
    body, final: true,
  }, "xml");
}
async function post(url: string, body: Uint8Array) {
  const res = await fetchDm(url, body);
  const text = res.status === 200 ? "" : await res.text();
  return { status: res.status, text, msg: res.status === 200 ? decodeMessage(new Uint8Array(await res.arrayBuffer()), { encoding: "xml" }) : undefined };
}
const fetchDm = (url: string, body: Uint8Array) => import("cloudflare:test").then(({ SELF }) => SELF.fetch(url, { method: "POST", headers: { "Content-Type": "application/vnd.syncml.dm+xml" }, body }));
const alert1201: Command = { kind: "Alert", cmdId: "1", data: "1201", items: [] };

describe("Issue 10 item 1: sessions cannot be taken over", () => {
  it("DM-10.1a: after an unclean end, a package 1 reusing the SessionID without credentials gets 407 and nothing of the session", async () => {
    const { devId, client } = await device("syncml:auth-basic", { fixedSessionId: "1", tree: { "./Vendor/Wifi/Key": "old" } });
    const job = await createJob(devId, [{ kind: "Replace", target: "./Vendor/Wifi/Key", data: "s3cret-wifi-key" }]);
    const dropped = await client.startSession({ drop: { afterServerMessages: 1, execute: false } });
    expect(dropped.outcome, story(dropped)).toBe("dropped");
    const res = await post(SERVER_URL, raw(devId, "1", "1", [alert1201]));
    expect(res.status).toBe(200);
    const st = res.msg!.body.filter((c) => c.kind === "Status");
    expect(st.map((s) => s.kind === "Status" && [s.cmd, s.data])).toEqual([["SyncHdr", "407"], ["Alert", "407"]]);
    expect(res.msg!.body.filter((c) => c.kind !== "Status"), "no management command for an unauthenticated package 1").toEqual([]);
    expect(res.msg!.header.respURI).toBe(SERVER_URL);
    // the device itself, same SessionID, authenticates and finishes the job
    const s = await client.startSession();
    expectClean(s);
    expect(s.sessionId).toBe("1");
    expect((await getJob(devId, job.jobId)).state).toBe("done");
    expect(client.tree.value("./Vendor/Wifi/Key")).toBe("s3cret-wifi-key");
  });

  it("DM-10.1b: mid-session, a message without the RespURI's secret gets nothing: no commands, no forged results", async () => {
    const { devId, client } = await device("syncml:auth-basic", { tree: { "./Vendor/Wifi/Key": "old" } });
    const job = await createJob(devId, [{ kind: "Replace", target: "./Vendor/Wifi/Key", data: "s3cret-wifi-key" }, { kind: "Get", target: "./Vendor/Wifi/Key" }]);
    const live = await client.startSession({ drop: { afterServerMessages: 1, execute: false } });
    const pkg2 = live.exchanges[0]!.response!;
    const respUri = pkg2.header.respURI!;
    expect(respUri).toMatch(new RegExp(`^${ORIGIN}/dm/s/${enc(devId)}/[A-Za-z0-9_-]{43}$`));
    const sid = live.sessionId;
    const forged: Command[] = [
      { kind: "Status", cmdId: "1", msgRef: "1", cmdRef: "0", cmd: "SyncHdr", data: "200" },
      ...pkg2.body.filter((c) => c.kind !== "Status").map((c, i): Command => ({ kind: "Status", cmdId: String(i + 2), msgRef: "1", cmdRef: c.cmdId, cmd: c.kind, data: "200" })),
    ];
    for (const url of [`${ORIGIN}/dm/s/${enc(devId)}`, `${ORIGIN}/dm/s/${enc(devId)}/${"A".repeat(43)}`, respUri.slice(0, -1) + (respUri.endsWith("A") ? "B" : "A")]) {
      const res = await post(url, raw(devId, sid, "2", forged));
      expect(res.status, `${url}: ${res.text}`).toBe(404);
    }
    // the right RespURI with another SessionID is refused too
    expect((await post(respUri, raw(devId, `${sid}0`, "2", forged))).status).toBe(404);
    // a new package 1 with the live SessionID and forged statuses: refused, nothing recorded
    const res = await post(SERVER_URL, raw(devId, sid, "1", [alert1201, ...forged.slice(1)]));
    expect(res.msg!.body.every((c) => c.kind === "Status" && c.data === "407")).toBe(true);
    const mid = await getJob(devId, job.jobId);
    expect(mid.commands.map((c: any) => c.status)).toEqual([undefined, undefined]);
    expect(client.tree.value("./Vendor/Wifi/Key")).toBe("old");
    const s = await client.startSession();
    expectClean(s);
    expect((await getJob(devId, job.jobId)).commands[1].results[0].data).toBe("s3cret-wifi-key");
  });
});

describe("Issue 10 item 2: WBXML opaque data keeps its format", () => {
  it("DM-10.2: a client that sends every Data as opaque: DevInfo and Results read as text, the same as after an XML session", async () => {
    const { devId, client } = await device("syncml:auth-md5", { encoding: "wbxml", opaqueData: true, tree: { "./Vendor/Name": "DMCtest" } });
    const job = await createJob(devId, [{ kind: "Get", target: "./Vendor/Name" }]);
    expectClean(await client.startSession());
    const t = await tree(devId);
    expect(t["./DevInfo/DevId"]).toMatchObject({ value: devId });
    expect(t["./DevInfo/Mod"]?.value).toBe("SIM-1000");
    expect(t["./DevInfo/Mod"]?.format).not.toBe("b64");
    expect((await getJob(devId, job.jobId)).commands[0].results[0]).toMatchObject({ data: "DMCtest", format: "chr" });
  });
});

describe("Issue 10 items 3, 4: server credentials as the device challenges", () => {
  it("DM-10.3/4: a device that wants auth-basic answers 401 with a basic Chal and 401 to every command; the server re-sends them with basic credentials and the job runs", async () => {
    const { devId, client } = await device("syncml:auth-basic", { serverAuthType: "syncml:auth-basic", refusedCommandStatus: "401", tree: { "./Vendor/A": "0" } });
    const job = await createJob(devId, [{ kind: "Replace", target: "./Vendor/A", data: "1" }, { kind: "Get", target: "./Vendor/A" }]);
    const next = await createJob(devId, [{ kind: "Get", target: "./DevInfo/Lang" }]);
    const s = await client.startSession();
    expect(s.exchanges[1]!.request.body.find((c) => c.kind === "Status" && c.cmd === "SyncHdr")).toMatchObject({ data: "401", chal: { meta: { type: "syncml:auth-basic" } } });
    expect(s.exchanges[1]!.response!.header.cred?.meta?.type, story(s)).toBe("syncml:auth-basic");
    // the refused commands again (both jobs fitted in the first message), nothing new beside them
    const kinds = (m: SyncMLMessage) => m.body.filter((c) => c.kind !== "Status").map((c) => c.kind === "Get" || c.kind === "Replace" ? `${c.kind} ${c.items[0]!.target!.locURI}` : c.kind);
    expect(kinds(s.exchanges[1]!.response!), story(s)).toEqual(kinds(s.exchanges[0]!.response!));
    expect(kinds(s.exchanges[0]!.response!)).toEqual(["Replace ./Vendor/A", "Get ./Vendor/A", "Get ./DevInfo/Lang"]);
    expect(s.outcome, story(s)).toBe("completed");
    const done = await getJob(devId, job.jobId);
    expect(done.state, JSON.stringify(done)).toBe("done");
    expect(done.commands.map((c: any) => c.status)).toEqual(["200", "200"]);
    expect((await getJob(devId, next.jobId)).state).toBe("done");
    // the next session uses what the device asked for at once
    const s2 = await client.startSession();
    expect(s2.exchanges[0]!.response!.header.cred?.meta?.type).toBe("syncml:auth-basic");
    expect(s2.outcome).toBe("completed");
  });
});

describe("Issue 10 items 5, 9: refused messages, online guessing, stored secrets", () => {
  it("DM-10.5: a refused package 1 gets a Status for each of its commands, not only for the header", async () => {
    const { client } = await device("syncml:auth-basic", { password: "wrong-password", maxAuthAttempts: 1 });
    const s = await client.startSession();
    expect(s.serverStatuses.map((x) => [x.answers, x.data]), story(s)).toEqual([["SyncHdr", "401"], ["Alert", "401"], ["Replace", "401"]]);
  });

  it("DM-10.9: wrong passwords are counted per device across sessions: the 5th locks the device out (no Chal, the right password refused too), with an operator alert", async () => {
    const { devId, client, creds } = await device("syncml:auth-basic", { password: "wrong-password", maxAuthAttempts: 1 });
    const verdicts: string[] = [];
    for (let i = 0; i < 12; i++) {
      const s = await client.startSession();
      const hdr = s.exchanges[0]!.response!.body.find((c) => c.kind === "Status" && c.cmd === "SyncHdr");
      verdicts.push(`${hdr?.kind === "Status" && hdr.data}${hdr?.kind === "Status" && hdr.chal ? "+chal" : ""}`);
    }
    expect(verdicts).toEqual([...Array(4).fill("401+chal"), ...Array(8).fill("401")]);
    client.opts.password = creds.clientPassword;
    const locked = await client.startSession();
    expect(locked.outcome, story(locked)).toBe("auth-failed");
    const view = await call("GET", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN });
    expect(view.json.device.authLockedUntil).toBeGreaterThan(Date.now());
    const events = await runInDurableObject(env.DEVICES.getByName(devId), (_i, state) => state.storage.sql.exec("SELECT kind, detail FROM security_event").toArray());
    expect(events).toEqual([{ kind: "auth-lockout", detail: expect.stringMatching(/5 wrong DM credentials/) }]);
    // re-provisioning (the operator's decision) lifts the lock-out
    await call("PUT", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN, body: { serverId: "oma-edge", ...creds } });
    expectClean(await client.startSession());
  });

  it("DM-10.9: the client's password is kept only as B64(MD5(name:secret)) and the server's sealed (AES-GCM), never in plain text", async () => {
    const { devId, creds, client } = await device("syncml:auth-md5");
    expectClean(await client.startSession());
    const rows = await runInDurableObject(env.DEVICES.getByName(devId), (_i, state) => state.storage.sql.exec("SELECT * FROM account").toArray());
    const dump = JSON.stringify(rows);
    expect(dump).not.toContain(creds.clientPassword);
    expect(dump).not.toContain(creds.serverPassword);
    expect(rows[0]).toMatchObject({ client_digest: secretDigest(creds.clientUsername, creds.clientPassword), server_secret: expect.stringMatching(/^v1\./) });
    // the RespURI's secret is kept only as its hash
    await createJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const live = await client.startSession({ drop: { afterServerMessages: 1, execute: false } });
    const secret = live.exchanges[0]!.response!.header.respURI!.split("/").at(-1)!;
    const session = await runInDurableObject(env.DEVICES.getByName(devId), (_i, state) => JSON.stringify(state.storage.sql.exec("SELECT doc FROM session").toArray()));
    expect(session).toMatch(/secretHash/);
    expect(session).not.toContain(secret);
  });

  it("DM-10.9: an account stored in plain text by the previous schema is converted on load (digest, sealed secret) and keeps working", async () => {
    const devId = newDevId();
    const stub = env.DEVICES.getByName(devId);
    const jobId = crypto.randomUUID();
    await runInDurableObject(stub, async (instance, state) => {
      const sql = state.storage.sql;
      // the schema as it stood at version 2 (steps are history: they never change)
      sql.exec("CREATE TABLE _schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL); INSERT INTO _schema VALUES (1, 2)");
      for (const step of SCHEMA.slice(0, 2)) sql.exec(step);
      sql.exec("INSERT INTO account VALUES (1, ?, 'oma-edge', 'syncml:auth-basic', 'legacy-user', 'legacy-client-pw', 'legacy-server-pw', NULL, 'bm9uY2U=', '', ?)", devId, Date.now());
      sql.exec("INSERT INTO job VALUES (?, 1, 'queued', ?)", jobId, JSON.stringify({ jobId, state: "queued", createdAt: new Date().toISOString(), updatedAt: new Date().toISOString(), commands: [{ kind: "Get", target: "./DevInfo/Mod" }] }));
      await (instance as unknown as { migrateStorage(): Promise<void> }).migrateStorage();
      const cols = sql.exec<{ name: string }>("PRAGMA table_info(account)").toArray().map((c) => c.name);
      expect(cols).not.toContain("client_password");
      expect(cols).not.toContain("server_password");
      expect(sql.exec("SELECT client_digest FROM account").one()).toEqual({ client_digest: secretDigest("legacy-user", "legacy-client-pw") });
    });
    const { DmClient } = await import("./simulator");
    const client = new DmClient({
      devId, serverUrl: SERVER_URL, encoding: "xml", authType: "syncml:auth-basic", username: "legacy-user", password: "legacy-client-pw",
      serverId: "oma-edge", serverPassword: "legacy-server-pw", fetch: (u, i) => import("cloudflare:test").then(({ SELF }) => SELF.fetch(u, i)),
    });
    expectClean(await client.startSession());
    const job = await getJob(devId, jobId);
    expect(job).toMatchObject({ state: "done", attempts: 1, maxAttempts: 3, deadline: expect.any(String) });
  });
});

describe("Issue 10 item 6: large objects a device does not take", () => {
  it("DM-10.6: a 40,000-byte Add to a client that answers 200 instead of 213 fails with the reason; nothing more of it is sent", async () => {
    const { devId, client } = await device("syncml:auth-basic", { largeObjects: false });
    const job = await createJob(devId, [{ kind: "Add", target: "./Vendor/Blob", data: "L".repeat(40_000) }]);
    const s = await client.startSession();
    expectClean(s);
    const adds = s.exchanges.flatMap((e) => e.response?.body ?? []).filter((c) => c.kind === "Add");
    expect(adds).toHaveLength(1);
    const done = await getJob(devId, job.jobId);
    expect(done.state).toBe("failed");
    expect(done.commands[0]).toMatchObject({ status: "200", error: expect.stringMatching(/213 expected/) });
    // once the server knows DevDetail/LrgObj is false, such a value is refused before it is sent
    await createJob(devId, [{ kind: "Get", target: "./DevDetail/LrgObj" }]);
    expectClean(await client.startSession());
    const big = await createJob(devId, [{ kind: "Replace", target: "./Vendor/Blob", data: "M".repeat(40_000) }]);
    const s3 = await client.startSession();
    expectClean(s3);
    expect(s3.exchanges.flatMap((e) => e.response?.body ?? []).filter((c) => c.kind === "Replace")).toEqual([]);
    expect(await getJob(devId, big.jobId)).toMatchObject({ state: "failed", commands: [{ error: expect.stringMatching(/LrgObj false/) }] });
  });
});

describe("Issue 10 item 7: a command that never gets a Status", () => {
  it("DM-10.7: a client that sends no Status for an Atomic: later jobs still run; after 3 sessions the Atomic's job fails with its reason", async () => {
    const { devId, client } = await device("syncml:auth-basic", { atomicStatus: false, tree: { "./Vendor/A": "0", "./Vendor/B": "0" } });
    const atomic = await createJob(devId, [{ kind: "Atomic", commands: [{ kind: "Replace", target: "./Vendor/A", data: "1" }, { kind: "Replace", target: "./Vendor/B", data: "1" }] }]);
    const later = await createJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const first = await client.startSession();
    expect(first.outcome, story(first)).toBe("completed");
    expect((await getJob(devId, later.jobId)).state).toBe("done");
    expect((await getJob(devId, atomic.jobId)).state).not.toBe("failed");
    await client.startSession();
    await client.startSession();
    const failed = await getJob(devId, atomic.jobId);
    expect(failed.state).toBe("failed");
    expect((failed as any).reason).toMatch(/never answered command 1 \(Atomic\) in 3 sessions/);
    const s4 = await client.startSession();
    expect(s4.exchanges).toHaveLength(1);
  });

  it("DM-10.7: DELETE cancels a job: it is sent no more and reads cancelled", async () => {
    const { devId, client } = await device("syncml:auth-basic");
    const job = await createJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const del = await call("DELETE", `/dm/v1/devices/${enc(devId)}/jobs/${job.jobId}`, { headers: ADMIN });
    expect(del.status, del.text).toBe(200);
    expect(del.json.job).toMatchObject({ state: "cancelled", reason: expect.any(String) });
    const s = await client.startSession();
    expect(s.exchanges).toHaveLength(1);
    expect((await getJob(devId, job.jobId)).state).toBe("cancelled");
    expect((await call("DELETE", `/dm/v1/devices/${enc(devId)}/jobs/${crypto.randomUUID()}`, { headers: ADMIN })).status).toBe(404);
  });
});

describe("Issue 10 item 8: several jobs per package", () => {
  it("DM-10.8: three queued jobs take one package, not three: two round trips in all", async () => {
    const { devId, client } = await device("syncml:auth-basic", { tree: { "./Vendor/A": "0" } });
    const jobs = [
      await createJob(devId, [{ kind: "Replace", target: "./Vendor/A", data: "1" }]),
      await createJob(devId, [{ kind: "Get", target: "./Vendor/A" }]),
      await createJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Get", target: "./DevInfo/Lang" }]),
    ];
    const s = await client.startSession();
    expectClean(s);
    expect(s.exchanges, story(s)).toHaveLength(2);
    expect(s.exchanges[0]!.response!.body.filter((c) => c.kind !== "Status").map((c) => c.kind)).toEqual(["Replace", "Get", "Get", "Get"]);
    for (const j of jobs) expect((await getJob(devId, j.jobId)).state).toBe("done");
    expect((await getJob(devId, jobs[1]!.jobId)).commands[0].results[0].data).toBe("1");
  });
});

describe("Issue 10 item 10: the password policy is a setting", () => {
  it("DM-10.10: a 6-character password is refused by default, naming DM_MIN_PASSWORD_LENGTH", async () => {
    const res = await call("PUT", `/admin/v1/devices/${enc(newDevId())}`, {
      headers: ADMIN, body: { serverId: "oma-edge", authType: "syncml:auth-md5", clientUsername: "DMCtest", clientPassword: "dmtest", serverPassword: "server-secret" },
    });
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables).toEqual(["clientPassword", "at least 8 characters (DM_MIN_PASSWORD_LENGTH)"]);
  });
});

describe("Issue 12: requests naming unknown devices leave no object behind", () => {
  it("DM-12: 10 random DevIds on /dm and on the northbound API are refused before anything is stored in their objects", async () => {
    const ids = Array.from({ length: 10 }, () => `IMEI:9${crypto.getRandomValues(new Uint32Array(1))[0]}`);
    for (const devId of ids) {
      expect((await post(SERVER_URL, raw(devId, "1", "1", [alert1201]))).status).toBe(404);
      expect((await call("GET", `/dm/v1/devices/${enc(devId)}/tree`, { headers: ADMIN })).status).toBe(404);
      expect((await call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands: [{ kind: "Get", target: "./A" }] } })).status).toBe(404);
      expect((await call("POST", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN, body: {} })).status).toBe(404);
      expect((await call("GET", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN })).status).toBe(404);
      expect((await call("DELETE", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN })).status).toBe(404);
    }
    // Each object was reached, and holds nothing: no table, no alarm (an object without storage is not kept).
    const known = new Set((await listDurableObjectIds(env.DEVICES)).map((id) => id.toString()));
    for (const devId of ids) {
      const stub = env.DEVICES.getByName(devId);
      expect(known.has(env.DEVICES.idFromName(devId).toString())).toBe(true);
      const held = await runInDurableObject(stub, async (_i, state) => ({
        tables: state.storage.sql.exec("SELECT name FROM sqlite_master").toArray().length,
        alarm: await state.storage.getAlarm(),
      }));
      expect(held, devId).toEqual({ tables: 0, alarm: null });
    }
  });
});

describe("Issue 12: /dm is rate limited per device", () => {
  it("DM-12: each message counts against its device id; past the limit the device gets 429 with Retry-After in the OMA envelope, another device does not", async () => {
    const devId = `IMEI:8${crypto.getRandomValues(new Uint32Array(1))[0]}`;
    const body = raw(devId, "1", "1", [alert1201]);
    await inFreshWindow(10);
    expect((await post(SERVER_URL, body)).status).toBe(404);
    expect(await exhaust(env.DM_DEVICE_RATE_LIMIT, devId)).toBe(199);
    const limited = await fetchDm(SERVER_URL, body);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("10");
    expect(((await limited.json()) as any).requestError.policyException.variables[0]).toMatch(/DM messages for this device/);
    const { client } = await device("syncml:auth-basic");
    expectClean(await client.startSession());
  });
});
