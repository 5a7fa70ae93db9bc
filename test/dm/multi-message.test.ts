// Packages over several messages and large objects (SyncML RepPro 1.2 §7 large objects, DM_Protocol
// §8.8 MaxMsgSize/MaxObjSize, Alert 1222 "next message"), in both directions.
import { describe, expect, it } from "vitest";
import { createJob, device, expectClean, getJob, story, tree } from "./harness";

const SMALL = 2048;

describe("MaxMsgSize 2 KB: packages split over several messages (DM_Protocol §8.8)", () => {
  it("device to server: package 1 with a large DevInfo and package 3 with many Results, no Final until the last message", async () => {
    const ext = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`./DevInfo/Ext/Param${i}`, `value-${i}-${"x".repeat(50)}`]));
    const vendor = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`./Vendor/Log/Entry${i}`, `entry-${i}-${"y".repeat(80)}`]));
    const { devId, client } = await device("syncml:auth-basic", { maxMsgSize: SMALL, tree: { ...ext, ...vendor } });
    const job = await createJob(devId, Array.from({ length: 30 }, (_, i) => ({ kind: "Get", target: `./Vendor/Log/Entry${i}` })));
    const s = await client.startSession();
    expectClean(s);
    expect(s.exchanges.every((e) => e.requestBytes <= SMALL && e.responseBytes <= SMALL), story(s)).toBe(true);
    // package 1 took several messages; the server asked for each next one with Alert 1222
    const pkg1 = s.exchanges.filter((e) => e.request.body.some((c) => c.kind === "Replace"));
    expect(pkg1.length, story(s)).toBeGreaterThan(2);
    expect(pkg1.slice(0, -1).every((e) => !e.request.final && e.response!.body.some((c) => c.kind === "Alert" && c.data === "1222")), story(s)).toBe(true);
    const t = await tree(devId);
    for (const [k, v] of Object.entries(ext)) expect(t[k]?.value, k).toBe(v);
    // package 3 (30 Results) took several messages too
    const withResults = s.exchanges.filter((e) => e.request.body.some((c) => c.kind === "Results"));
    expect(withResults.length).toBeGreaterThan(1);
    const done = await getJob(devId, job.jobId);
    expect(done.state).toBe("done");
    done.commands.forEach((c: any, i: number) => expect(c.results?.[0]?.data, `Entry${i}`).toBe(vendor[`./Vendor/Log/Entry${i}`]));
  });

  it("server to device: a job of 40 Replaces under the device's 2 KB MaxMsgSize comes in several messages; the device asks with Alert 1222", async () => {
    const initial = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`./Vendor/P${i}`, "0"]));
    const { devId, client } = await device("syncml:auth-md5", { maxMsgSize: SMALL, tree: initial, encoding: "wbxml" });
    const job = await createJob(devId, Array.from({ length: 40 }, (_, i) => ({ kind: "Replace", target: `./Vendor/P${i}`, data: `v${i}-${"z".repeat(60)}` })));
    const s = await client.startSession();
    expectClean(s);
    expect(s.exchanges.every((e) => e.responseBytes <= SMALL), story(s)).toBe(true);
    const carrying = s.exchanges.filter((e) => e.response?.body.some((c) => c.kind === "Replace"));
    expect(carrying.length, story(s)).toBeGreaterThan(1);
    // every message of the server's package but the last goes without Final; the device answers each with Alert 1222
    expect(carrying.slice(0, -1).every((e) => !e.response!.final)).toBe(true);
    const answers = s.exchanges.filter((e) => e.request.body.some((c) => c.kind === "Alert" && c.data === "1222"));
    expect(answers.length).toBeGreaterThanOrEqual(carrying.length - 1);
    for (let i = 0; i < 40; i++) expect(client.tree.value(`./Vendor/P${i}`)).toBe(`v${i}-${"z".repeat(60)}`);
    const done = await getJob(devId, job.jobId);
    expect(done.commands.every((c: any) => c.status === "200")).toBe(true);
  });
});

describe("Large objects, 1 MB in chunks (SyncML RepPro 1.2 §7, DM_Protocol §8.8 MaxObjSize)", () => {
  const MB = 1 << 20;
  const big = (seed: string) => {
    let out = "";
    while (out.length < MB) out += `${seed}:${out.length.toString(36)};`;
    return out.slice(0, MB);
  };

  it("server to device: a 1 MB Replace from a job arrives in chunks (MoreData, Size on the first), 213 each, 200 at the end", async () => {
    const value = big("down");
    const { devId, client } = await device("syncml:auth-basic", { maxMsgSize: 64 * 1024, maxObjSize: 4 * MB, tree: { "./Vendor/Blob": "" } });
    const job = await createJob(devId, [{ kind: "Replace", target: "./Vendor/Blob", data: value, format: "chr" }]);
    const s = await client.startSession({ maxMessages: 200 });
    expectClean(s);
    expect(s.exchanges.every((e) => e.responseBytes <= 64 * 1024)).toBe(true);
    const chunks = s.exchanges.flatMap((e) => e.response?.body ?? []).filter((c) => c.kind === "Replace");
    expect(chunks.length, story(s)).toBeGreaterThan(16);
    expect(chunks[0]!.kind === "Replace" && chunks[0]!.items[0]!.meta?.size).toBe(MB);
    expect(chunks.slice(0, -1).every((c) => c.kind === "Replace" && c.items[0]!.moreData)).toBe(true);
    expect(s.executed.map((e) => e.status)).toEqual([...Array(chunks.length - 1).fill("213"), "200"]);
    expect(client.tree.value("./Vendor/Blob") === value).toBe(true);
    expect((await getJob(devId, job.jobId)).commands[0].status).toBe("200");
  });

  it("device to server: Results of a 1 MB node sent in chunks; the server answers 213 per chunk and stores the whole value", async () => {
    const value = big("up");
    const { devId, client } = await device("syncml:auth-md5", { maxMsgSize: 64 * 1024, maxObjSize: 4 * MB, tree: { "./Vendor/Log": value } });
    const job = await createJob(devId, [{ kind: "Get", target: "./Vendor/Log" }]);
    const s = await client.startSession({ maxMessages: 200 });
    expectClean(s);
    const parts = s.exchanges.flatMap((e) => e.request.body).filter((c) => c.kind === "Results");
    expect(parts.length, story(s)).toBeGreaterThan(16);
    const chunkStatuses = s.serverStatuses.filter((x) => x.answers === "Results").map((x) => x.data);
    expect(chunkStatuses.slice(0, -1).every((x) => x === "213"), story(s)).toBe(true);
    expect(["200", undefined]).toContain(chunkStatuses.at(-1) === "213" ? "x" : chunkStatuses.at(-1));
    const done = await getJob(devId, job.jobId);
    expect(done.commands[0].status).toBe("200");
    expect(done.commands[0].results[0].data.length).toBe(MB);
    expect(done.commands[0].results[0].data === value).toBe(true);
    expect((await tree(devId))["./Vendor/Log"]?.value === value).toBe(true);
  });
});
