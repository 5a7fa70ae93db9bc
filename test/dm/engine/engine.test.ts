// The SyncML DM session engine and the job model as pure modules, on Node (no workerd): one reply
// per client message, built from the state handed in.
import { describe, expect, it } from "vitest";
import { parseBasicCredential, type Command } from "../../../src/codec";
import { JobStore } from "../../../src/dm/job-store";
import { answerAll, clientMsg, commandsOf, fixture, MemRows, pkg1, statusesOf } from "./fixture";

const replace = (i: number, size = 40) => ({ kind: "Replace" as const, target: `./Vendor/P${i}`, data: "x".repeat(size) });

describe("Authentication of a new session (issue 10 items 1, 5)", () => {
  it("DM-10.1: a package 1 without credentials gets 407 with a Chal, and no session is kept", () => {
    const f = fixture("syncml:auth-md5");
    f.jobs.queue([{ kind: "Get", target: "./DevInfo/Mod" }]);
    const { out, msg } = f.send(clientMsg(f, 1, pkg1()));
    expect(out.session).toBeUndefined();
    expect(statusesOf(msg)[0]).toMatchObject({ cmd: "SyncHdr", data: "407", chal: { meta: { type: "syncml:auth-md5" } } });
    expect(commandsOf(msg)).toEqual([]);
    expect(msg.header.respURI).toBe("http://gw.test/dm");
  });

  it("DM-10.5: every command of a refused message gets its Status (401), not only the header", () => {
    const f = fixture("syncml:auth-basic");
    const { msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true, password: "wrong-password" }));
    expect(statusesOf(msg).map((s) => [s.cmd, s.cmdRef, s.data])).toEqual([["SyncHdr", "0", "401"], ["Alert", "1", "401"], ["Replace", "2", "401"]]);
    expect(f.failures).toBe(1);
    expect(f.tree.size).toBe(0);
  });

  it("DM-10.9: a locked-out device is refused without a Chal and without its guess being judged", () => {
    const f = fixture("syncml:auth-basic");
    const { out, msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true }), { locked: true });
    expect(out.session).toBeUndefined();
    expect(statusesOf(msg)[0]).toMatchObject({ data: "401" });
    expect(statusesOf(msg)[0]!.chal).toBeUndefined();
  });
});

describe("The server's package: as many jobs as fit (issue 10 item 8)", () => {
  it("DM-10.8: three queued jobs go out in one message, in queue order, each job's commands together", () => {
    const f = fixture();
    const ids = [0, 1, 2].map((j) => f.jobs.queue([replace(j * 2), replace(j * 2 + 1)]).jobId);
    const { msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true }));
    expect(commandsOf(msg).map((c) => (c.kind === "Replace" ? c.items[0]!.target!.locURI : c.kind))).toEqual([0, 1, 2, 3, 4, 5].map((i) => `./Vendor/P${i}`));
    expect(msg.final).toBe(true);
    const { msg: end } = f.send(clientMsg(f, 2, answerAll(msg)));
    expect(commandsOf(end)).toEqual([]);
    expect(ids.map((id) => f.jobs.get(id).state)).toEqual(["done", "done", "done"]);
  });

  it("DM-10.8: a job that does not fit beside the others starts the next package; every message stays under MaxMsgSize", () => {
    const f = fixture();
    for (let j = 0; j < 6; j++) f.jobs.queue(Array.from({ length: 4 }, (_, i) => replace(j * 4 + i, 300)));
    const max = 4096;
    let { out, msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true, maxMsgSize: max }));
    const perMessage: number[] = [];
    for (let n = 2; commandsOf(msg).length && n < 20; n++) {
      expect(out.body.length).toBeLessThanOrEqual(max);
      // whole jobs only: a multiple of 4 commands per message
      perMessage.push(commandsOf(msg).length);
      ({ out, msg } = f.send(clientMsg(f, n, answerAll(msg), { maxMsgSize: max })));
    }
    expect(perMessage.every((k) => k % 4 === 0)).toBe(true);
    expect(perMessage.reduce((a, b) => a + b, 0)).toBe(24);
    expect(perMessage.length).toBeLessThan(6);
    expect(f.rows.jobs.every((j) => j.state === "done")).toBe(true);
  });
});

describe("A command that never gets a Status (issue 10 item 7)", () => {
  it("DM-10.7: an Atomic the device does not answer stops holding the queue; after maxAttempts sessions the job fails with its reason", () => {
    const f = fixture();
    const atomic = f.jobs.queue([{ kind: "Atomic", commands: [replace(1), replace(2)] }]).jobId;
    const later = f.jobs.queue([{ kind: "Get", target: "./DevInfo/Mod" }]).jobId;
    for (let session = 1; session <= 3; session++) {
      let { msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true, sessionId: "1" }), { newSession: true });
      expect(commandsOf(msg).map((c) => c.kind)).toEqual(session === 1 ? ["Atomic", "Get"] : ["Atomic"]);
      ({ msg } = f.send(clientMsg(f, 2, answerAll(msg, "200", (c) => c.kind === "Atomic"))));
      expect(commandsOf(msg)).toEqual([]);
      expect(f.session!.ended).toBe(true);
    }
    expect(f.jobs.get(later).state).toBe("done");
    const failed = f.jobs.get(atomic);
    expect(failed.state).toBe("failed");
    expect(failed.reason).toMatch(/never answered command 1 \(Atomic\) in 3 sessions/);
  });

  it("DM-10.7: a cancelled job is handed out no more; a deadline that passes fails the job", () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const rows = new MemRows();
    const jobs = new JobStore(rows, { maxAttempts: 3, ttlMs: 60_000 }, () => now);
    const a = jobs.queue([{ kind: "Get", target: "./A" }]).jobId;
    const b = jobs.queue([{ kind: "Get", target: "./B" }]).jobId;
    expect(jobs.cancel(a).state).toBe("cancelled");
    expect(jobs.take("s1", 5).map((x) => x.jobId)).toEqual([b]);
    now += 61_000;
    jobs.release("s1");
    jobs.expire();
    expect(jobs.get(b)).toMatchObject({ state: "failed", reason: expect.stringMatching(/deadline/) });
    expect(jobs.take("s2", 5)).toEqual([]);
  });
});

describe("Large objects a device does not take (issue 10 item 6)", () => {
  it("DM-10.6: a first chunk answered 200 instead of 213 ends the command as failed, saying why; the rest is not sent", () => {
    const f = fixture();
    const job = f.jobs.queue([{ kind: "Add", target: "./Vendor/Blob", data: "b".repeat(40_000) }]).jobId;
    const { msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true, maxMsgSize: 16_000 }));
    const first = commandsOf(msg)[0]!;
    expect(first.kind === "Add" && first.items[0]!.moreData).toBe(true);
    const { msg: next } = f.send(clientMsg(f, 2, answerAll(msg, "200")));
    expect(commandsOf(next)).toEqual([]);
    const done = f.jobs.get(job);
    expect(done.state).toBe("failed");
    expect(done.commands[0]).toMatchObject({ status: "200", error: expect.stringMatching(/chunk 1 .*213 expected/) });
  });

  it("DM-10.6: a device with DevDetail/LrgObj false and no MaxObjSize gets a value over its MaxMsgSize refused with a reason", () => {
    const f = fixture();
    f.tree.set("./DevDetail/LrgObj", { value: "false", format: "bool" });
    const big = f.jobs.queue([{ kind: "Replace", target: "./Vendor/Blob", data: "b".repeat(40_000) }]).jobId;
    const small = f.jobs.queue([replace(1)]).jobId;
    const { msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true }));
    expect(commandsOf(msg).map((c) => c.kind === "Replace" && c.items[0]!.target!.locURI)).toEqual(["./Vendor/P1"]);
    expect(f.jobs.get(big)).toMatchObject({ state: "failed", commands: [{ error: expect.stringMatching(/supports no large objects/) }] });
    f.send(clientMsg(f, 2, answerAll(msg)));
    expect(f.jobs.get(small).state).toBe("done");
  });
});

describe("Server credentials as the device challenges (issue 10 items 3, 4)", () => {
  it("DM-10.3/4: a 401 with a basic Chal: the refused commands go again with auth-basic credentials, nothing new, and are not recorded as 401", () => {
    const f = fixture();
    const j1 = f.jobs.queue([replace(1), replace(2)]).jobId;
    const j2 = f.jobs.queue([replace(3)]).jobId;
    const { msg } = f.send(clientMsg(f, 1, pkg1(), { cred: true, maxMsgSize: 700 }));
    expect(msg.header.cred?.meta?.type).toBe("syncml:auth-md5");
    const sent = commandsOf(msg).map((c) => c.kind === "Replace" && c.items[0]!.target!.locURI);
    const refusal: Command[] = [
      { kind: "Status", cmdId: "1", msgRef: msg.header.msgId, cmdRef: "0", cmd: "SyncHdr", data: "401", chal: { meta: { type: "syncml:auth-basic", format: "b64" } } },
      ...commandsOf(msg).map((c, i): Command => ({ kind: "Status", cmdId: String(i + 2), msgRef: msg.header.msgId, cmdRef: c.cmdId, cmd: c.kind, data: "401" })),
    ];
    const { msg: again } = f.send(clientMsg(f, 2, refusal, { maxMsgSize: 700 }));
    expect(again.header.cred?.meta?.type).toBe("syncml:auth-basic");
    expect(parseBasicCredential(again.header.cred!.data)).toEqual({ username: "oma-edge", password: "server-secret-1" });
    expect(commandsOf(again).map((c) => c.kind === "Replace" && c.items[0]!.target!.locURI)).toEqual(sent);
    expect(f.jobs.get(j1).commands.every((c) => c.status === undefined)).toBe(true);
    const ok = answerAll(again);
    (ok[0] as { data: string }).data = "212";
    let { msg: next } = f.send(clientMsg(f, 3, ok, { maxMsgSize: 700 }));
    expect(next.header.cred, "accepted: no credentials any more").toBeUndefined();
    for (let n = 4; commandsOf(next).length && n < 10; n++) ({ msg: next } = f.send(clientMsg(f, n, answerAll(next), { maxMsgSize: 700 })));
    expect([f.jobs.get(j1).state, f.jobs.get(j2).state]).toEqual(["done", "done"]);
    expect(f.rows.jobs.flatMap((j) => j.commands.map((c) => c.status))).toEqual(["200", "200", "200"]);
  });
});

describe("Item data (issue 10 item 2)", () => {
  it("DM-10.2: WBXML opaque bytes of a chr value are its UTF-8 text; b64 values stay binary (base64)", () => {
    const f = fixture();
    const te = new TextEncoder();
    f.send(clientMsg(f, 1, [
      { kind: "Alert", cmdId: "1", data: "1201", items: [] },
      {
        kind: "Replace", cmdId: "2", items: [
          { source: { locURI: "./DevInfo/DevId" }, data: te.encode("DMCtest") },
          { source: { locURI: "./DevInfo/Lang" }, meta: { format: "chr" }, data: te.encode("en-US") },
          { source: { locURI: "./Vendor/Key" }, meta: { format: "b64" }, data: new Uint8Array([0, 255, 16]) },
        ],
      },
    ], { cred: true }));
    expect(f.tree.get("./DevInfo/DevId")).toEqual({ value: "DMCtest" });
    expect(f.tree.get("./DevInfo/Lang")).toEqual({ value: "en-US", format: "chr" });
    expect(f.tree.get("./Vendor/Key")).toEqual({ value: "AP8Q", format: "b64" });
  });
});
