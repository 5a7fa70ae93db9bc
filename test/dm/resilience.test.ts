// Sessions that do not end well, and input the device endpoint must refuse: a dropped connection
// (resumed by the next session), an aborted session (Alert 1223), malformed XML/WBXML, unknown
// devices, wrong content types. Nothing may change in any of these.
import { describe, expect, it } from "vitest";
import { encodeMessage } from "../../src/codec";
import { ADMIN, call, enc } from "../helpers";
import { createJob, device, expectClean, getJob, newDevId, postDm, SERVER_URL, story, tree } from "./harness";
import { DmClient } from "./simulator";

describe("A session that dies midway (DM_Protocol §8: no timeout recovery specified; the job is resumable)", () => {
  it("the device drops the connection after executing package 2: the job is not done; the next session sends the commands without a status again", async () => {
    const { devId, client } = await device("syncml:auth-basic", { tree: { "./Vendor/A": "0" } });
    const job = await createJob(devId, [{ kind: "Replace", target: "./Vendor/A", data: "1" }, { kind: "Get", target: "./DevInfo/Mod" }]);
    const dropped = await client.startSession({ drop: { afterServerMessages: 1 } });
    expect(dropped.outcome, story(dropped)).toBe("dropped");
    const mid = await getJob(devId, job.jobId);
    expect(["queued", "running"]).toContain(mid.state);
    expect(mid.commands.every((c: any) => c.status === undefined), JSON.stringify(mid)).toBe(true);
    const resumed = await client.startSession();
    expectClean(resumed);
    const resent = resumed.exchanges.flatMap((e) => e.response?.body ?? []).filter((c) => c.kind === "Replace" || c.kind === "Get");
    expect(resent.map((c) => c.kind), story(resumed)).toEqual(["Replace", "Get"]);
    const done = await getJob(devId, job.jobId);
    expect(done.state).toBe("done");
    expect(done.commands.map((c: any) => c.status)).toEqual(["200", "200"]);
    expect(done.commands[1].results[0].data).toBe("SIM-1000");
  });

  it("a drop after the device answered part of a multi-message package: only the unanswered commands come again", async () => {
    const initial = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`./Vendor/P${i}`, "0"]));
    const { devId, client } = await device("syncml:auth-basic", { maxMsgSize: 2048, tree: initial });
    const job = await createJob(devId, Array.from({ length: 30 }, (_, i) => ({ kind: "Replace", target: `./Vendor/P${i}`, data: `v${i}-${"q".repeat(40)}` })));
    const dropped = await client.startSession({ drop: { afterServerMessages: 2, execute: false } });
    expect(dropped.outcome, story(dropped)).toBe("dropped");
    const answered = dropped.exchanges[1]!.request.body.filter((c) => c.kind === "Status" && c.cmd === "Replace").length;
    expect(answered, story(dropped)).toBeGreaterThan(0);
    const mid = await getJob(devId, job.jobId);
    expect(mid.commands.filter((c: any) => c.status === "200").length).toBe(answered);
    const resumed = await client.startSession();
    expectClean(resumed);
    const resent = resumed.exchanges.flatMap((e) => e.response?.body ?? []).filter((c) => c.kind === "Replace");
    expect(resent.length, story(resumed)).toBe(30 - answered);
    expect((await getJob(devId, job.jobId)).commands.every((c: any) => c.status === "200")).toBe(true);
  });

  it("the device aborts with Alert 1223; a new session completes the job", async () => {
    const { devId, client } = await device("syncml:auth-basic", { tree: { "./Vendor/A": "0" } });
    const job = await createJob(devId, [{ kind: "Replace", target: "./Vendor/A", data: "1" }, { kind: "Get", target: "./Vendor/A" }]);
    const aborted = await client.startSession({ abort: { afterServerMessages: 1 } });
    expect(aborted.outcome, story(aborted)).toBe("aborted");
    expect(aborted.exchanges.at(-1)!.request.body.some((c) => c.kind === "Alert" && c.data === "1223")).toBe(true);
    expect(aborted.exchanges.at(-1)!.httpStatus).toBeLessThan(500);
    const next = await client.startSession();
    expectClean(next);
    const done = await getJob(devId, job.jobId);
    expect(done.state).toBe("done");
    expect(done.commands.map((c: any) => c.status)).toEqual(["200", "200"]);
    expect(done.commands[1].results[0].data).toBe("1");
  });
});

describe("Refused input on POST /dm: a clear error and no change", () => {
  async function snapshot(devId: string, jobId: string) {
    return { tree: await tree(devId), job: await getJob(devId, jobId) };
  }

  it("malformed XML and WBXML get HTTP 400 naming the problem", async () => {
    const { devId, client } = await device("syncml:auth-basic");
    await createJob(devId, [{ kind: "Get", target: "./DevInfo/Lang" }]);
    expectClean(await client.startSession());
    const job = await createJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const before = await snapshot(devId, job.jobId);
    const good = new TextDecoder().decode(encodeMessage({
      header: { verDTD: "1.2", verProto: "DM/1.2", sessionId: "77", msgId: "1", target: { locURI: SERVER_URL }, source: { locURI: devId }, cred: { meta: { type: "syncml:auth-basic", format: "b64" }, data: btoa(`${client.opts.username}:${client.opts.password}`) } },
      body: [{ kind: "Alert", cmdId: "1", data: "1201", items: [] }], final: true,
    }, "xml"));
    const bad: [string, BodyInit][] = [
      ["application/vnd.syncml.dm+xml", good.slice(0, good.length - 40)], // truncated
      ["application/vnd.syncml.dm+xml", good.replace("</SyncHdr>", "</SyncHeader>")], // mismatched tags
      ["application/vnd.syncml.dm+xml", "<html><body>not SyncML</body></html>"],
      ["application/vnd.syncml.dm+xml", ""],
      ["application/vnd.syncml.dm+wbxml", new Uint8Array([0x03, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x6c, 0xff, 0xff])],
      ["application/vnd.syncml.dm+wbxml", new Uint8Array([0x03, 0xa4, 0x01, 0x6a, 0x00, 0x6d, 0x6c, 0x71, 0x03])], // ends inside an inline string
      ["application/vnd.syncml.dm+wbxml", new TextEncoder().encode(good)], // XML sent as WBXML
    ];
    for (const [ct, body] of bad) {
      const res = await postDm(body, ct);
      expect(res.status, `${ct}: ${res.text}`).toBe(400);
      expect(res.text, ct).toMatch(/xml|wbxml|syncml|malformed|parse|decode|message|expected/i);
    }
    expect(await snapshot(devId, job.jobId)).toEqual(before);
  });

  it("an unknown device gets 401 or 404 naming the device, and nothing is created", async () => {
    const devId = newDevId();
    const client = new DmClient({
      devId, serverUrl: SERVER_URL, encoding: "xml", authType: "syncml:auth-basic", username: "nobody", password: "pw", serverId: "oma-edge",
      serverPassword: "x", fetch: (url, init) => import("cloudflare:test").then(({ SELF }) => SELF.fetch(url, init)),
    });
    const s = await client.startSession();
    expect(s.outcome, story(s)).toBe("http-error");
    expect([401, 404]).toContain(s.exchanges[0]!.httpStatus);
    expect(s.exchanges[0]!.responseText).toMatch(new RegExp(`${devId.replace(/[:]/g, ".")}|unknown device|not registered|device`, "i"));
    expect((await call("GET", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN })).status).toBe(404);
    expect((await call("GET", `/dm/v1/devices/${enc(devId)}/tree`, { headers: ADMIN })).status).toBe(404);
  });

  it("a content type that is not SyncML DM gets 415 (or 400) naming the content type", async () => {
    const res = await postDm("<SyncML/>", "text/plain");
    expect([400, 415]).toContain(res.status);
    expect(res.text).toMatch(/content.?type|syncml/i);
  });

  it("WBXML under an XML content type (and the reverse) is refused, not guessed", async () => {
    const { devId } = await device("syncml:auth-basic");
    const msg = {
      header: { verDTD: "1.2", verProto: "DM/1.2", sessionId: "5", msgId: "1", target: { locURI: SERVER_URL }, source: { locURI: devId } },
      body: [{ kind: "Alert" as const, cmdId: "1", data: "1201", items: [] }], final: true,
    };
    const res = await postDm(encodeMessage(msg, "wbxml"), "application/vnd.syncml.dm+xml");
    expect(res.status, res.text).toBe(400);
  });
});
