// Every management command from a northbound job, executed by the device and reported on the job
// (OMA-TS-DM_Protocol-V1_2 §6.6 commands, §10 status codes, §8.7 generic alerts, §6.6.2/§8.6 UI alerts).
import { describe, expect, it } from "vitest";
import { createJob, device, expectClean, getJob, jobCommand, story, tree } from "./harness";

const vendorTree = {
  "./Vendor/Setting": { value: "1", format: "int" },
  "./Vendor/Old": "remove me",
  "./Vendor/Name": "device-name",
  "./FUMO/Pkg1/PkgName": "fw-2.0",
  "./FUMO/Pkg1/State": { value: "10", format: "int" },
  "./FUMO/Pkg1/Update": { format: "node" },
};

describe("Management commands (DM_Protocol §6.6)", () => {
  it("Get, Replace, Add, Delete, Copy: executed in order, each with its own status (200, 404, 405, 418) and Results", async () => {
    const { devId, client } = await device("syncml:auth-basic", { tree: vendorTree });
    const job = await createJob(devId, [
      { kind: "Get", target: "./DevInfo/Mod" },
      { kind: "Get", target: "./Vendor" },
      { kind: "Get", target: "./Vendor/Missing" },
      { kind: "Replace", target: "./Vendor/Setting", data: "2", format: "int" },
      { kind: "Replace", target: "./DevInfo/Mod", data: "hacked" },
      { kind: "Replace", target: "./Vendor/Absent", data: "x" },
      { kind: "Add", target: "./Vendor/New/Leaf", data: "n", format: "chr" },
      { kind: "Add", target: "./Vendor/Setting", data: "3", format: "int" },
      { kind: "Copy", target: "./Vendor/Copy", source: "./Vendor/Setting" },
      { kind: "Delete", target: "./Vendor/Old" },
      { kind: "Delete", target: "./Vendor/Absent" },
      { kind: "Delete", target: "./DevInfo/DevId" },
      { kind: "Get", target: "./Vendor/Copy" },
    ]);
    const s = await client.startSession();
    expectClean(s);
    const done = await getJob(devId, job.jobId);
    // finished; whether a job with refused commands is "done" or "failed" is the server's call
    expect(["done", "failed"], JSON.stringify(done)).toContain(done.state);
    expect(done.commands.map((c: any) => [c.kind, c.target, c.status]), story(s)).toEqual([
      ["Get", "./DevInfo/Mod", "200"],
      ["Get", "./Vendor", "200"],
      ["Get", "./Vendor/Missing", "404"],
      ["Replace", "./Vendor/Setting", "200"],
      ["Replace", "./DevInfo/Mod", "405"],
      ["Replace", "./Vendor/Absent", "404"],
      ["Add", "./Vendor/New/Leaf", "200"],
      ["Add", "./Vendor/Setting", "418"],
      ["Copy", "./Vendor/Copy", "200"],
      ["Delete", "./Vendor/Old", "200"],
      ["Delete", "./Vendor/Absent", "404"],
      ["Delete", "./DevInfo/DevId", "405"],
      ["Get", "./Vendor/Copy", "200"],
    ]);
    expect(done.commands[0].results).toEqual([{ source: "./DevInfo/Mod", format: "chr", type: "text/plain", data: "SIM-1000" }]);
    expect(done.commands[1].results[0]).toMatchObject({ source: "./Vendor", format: "node" });
    expect(done.commands[1].results[0].data.split("/").sort()).toEqual(["Name", "Old", "Setting"]);
    expect(done.commands[2].results ?? []).toEqual([]);
    expect(done.commands[12].results[0]).toMatchObject({ source: "./Vendor/Copy", format: "int", data: "2" });
    // the server sent what the job asked: the Replace with its Meta Format, the Copy with Target and Source
    const sent = s.exchanges.flatMap((e) => e.response?.body ?? []);
    const replace = sent.find((c) => c.kind === "Replace" && c.items[0]?.target?.locURI === "./Vendor/Setting");
    expect(replace?.kind === "Replace" && (replace.items[0]!.meta?.format ?? replace.meta?.format)).toBe("int");
    const copy = sent.find((c) => c.kind === "Copy");
    expect(copy?.kind === "Copy" && copy.items[0]).toMatchObject({ target: { locURI: "./Vendor/Copy" }, source: { locURI: "./Vendor/Setting" } });
    // the device's tree
    expect(client.tree.get("./Vendor/Setting")).toEqual({ value: "2", format: "int" });
    expect(client.tree.value("./Vendor/New/Leaf")).toBe("n");
    expect(client.tree.value("./Vendor/Copy")).toBe("2");
    expect(client.tree.get("./Vendor/Old")).toBeUndefined();
    expect(client.tree.value("./DevInfo/Mod")).toBe("SIM-1000");
    // the server's copy of the tree: DevInfo and every Results
    const t = await tree(devId);
    expect(t["./DevInfo/Mod"]?.value).toBe("SIM-1000");
    expect(t["./Vendor/Copy"]).toMatchObject({ value: "2", format: "int" });
  });

  it("Exec answered 202, then the outcome as a generic alert 1226 with the Exec's correlator in the next session", async () => {
    const FUMO = "org.openmobilealliance.dm.firmwareupdate.downloadandupdate";
    const { devId, client } = await device("syncml:auth-md5", {
      tree: vendorTree,
      exec: { "./FUMO/Pkg1/Update": (data) => ({ status: data === "pkg-url" ? "202" : "500", alert: { type: FUMO, data: "200", mark: "critical" } }) },
    });
    const job = await createJob(devId, [{ kind: "Exec", target: "./FUMO/Pkg1/Update", data: "pkg-url", correlator: "fw-42" }]);
    const s1 = await client.startSession();
    expectClean(s1);
    const exec = s1.exchanges.flatMap((e) => e.response?.body ?? []).find((c) => c.kind === "Exec");
    expect(exec, story(s1)).toMatchObject({ correlator: "fw-42", items: [{ target: { locURI: "./FUMO/Pkg1/Update" }, data: "pkg-url" }] });
    expect((await getJob(devId, job.jobId)).commands[0]).toMatchObject({ kind: "Exec", status: "202" });
    expect(client.pendingAlerts).toHaveLength(1);
    // after the "update", the device reports in a client-initiated session (package 1 carries the 1226)
    const s2 = await client.startSession();
    expectClean(s2);
    const generic = s2.serverStatuses.find((x) => x.answers === "Alert" && x.cmd === "Alert" && s2.exchanges[0]!.request.body.some((c) => c.cmdId === x.cmdRef && c.kind === "Alert" && c.data === "1226"));
    expect(generic?.data, story(s2)).toBe("200");
    expect(client.pendingAlerts).toEqual([]);
    const cmd = (await getJob(devId, job.jobId)).commands[0];
    expect(cmd.alerts).toEqual([expect.objectContaining({ type: FUMO, source: "./FUMO/Pkg1", data: "200" })]);
  });

  it("a generic alert in the same session (Exec 200 then 1226) also reaches the job", async () => {
    const { devId, client } = await device("syncml:auth-basic", {
      tree: vendorTree,
      exec: { "./FUMO/Pkg1/Update": () => ({ status: "200", alert: { type: "org.openmobilealliance.dm.firmwareupdate.update", data: "200", when: "same-session" } }) },
    });
    const job = await createJob(devId, [{ kind: "Exec", target: "./FUMO/Pkg1/Update", correlator: "c-7" }]);
    const s = await client.startSession();
    expectClean(s);
    const cmd = (await getJob(devId, job.jobId)).commands[0];
    expect(cmd, story(s)).toMatchObject({ status: "200", alerts: [{ type: "org.openmobilealliance.dm.firmwareupdate.update", source: "./FUMO/Pkg1", data: "200" }] });
  });

  it("Exec on a node the device does not have: 404", async () => {
    const { devId, client } = await device("syncml:auth-basic");
    const job = await createJob(devId, [{ kind: "Exec", target: "./FUMO/Nope/Update" }]);
    expectClean(await client.startSession());
    expect((await getJob(devId, job.jobId)).commands[0].status).toBe("404");
  });
});

describe("Atomic and Sequence (DM_Protocol §6.6.5, §6.6.11)", () => {
  it("an Atomic whose last command fails is rolled back on the device: 507, the others 216, nothing applied", async () => {
    const { devId, client } = await device("syncml:auth-basic", { tree: vendorTree });
    const job = await createJob(devId, [
      { kind: "Atomic", commands: [
        { kind: "Replace", target: "./Vendor/Setting", data: "99", format: "int" },
        { kind: "Add", target: "./Vendor/AtomicNew", data: "v" },
        { kind: "Delete", target: "./Vendor/Absent" },
      ] },
    ]);
    const s = await client.startSession();
    expectClean(s);
    const atomic = s.exchanges.flatMap((e) => e.response?.body ?? []).find((c) => c.kind === "Atomic");
    expect(atomic?.kind === "Atomic" && atomic.commands.map((c) => c.kind), story(s)).toEqual(["Replace", "Add", "Delete"]);
    const done = await getJob(devId, job.jobId);
    expect(done.commands[0]).toMatchObject({ kind: "Atomic", status: "507" });
    expect(done.commands[0].children.map((c: any) => [c.kind, c.target, c.status])).toEqual([
      ["Replace", "./Vendor/Setting", "216"],
      ["Add", "./Vendor/AtomicNew", "216"],
      ["Delete", "./Vendor/Absent", "404"],
    ]);
    expect(client.tree.get("./Vendor/Setting")).toEqual({ value: "1", format: "int" });
    expect(client.tree.get("./Vendor/AtomicNew")).toBeUndefined();
  });

  it("an Atomic that succeeds applies everything (200 each) and its Get has Results", async () => {
    const { devId, client } = await device("syncml:auth-basic", { tree: vendorTree });
    const job = await createJob(devId, [
      { kind: "Atomic", commands: [
        { kind: "Replace", target: "./Vendor/Setting", data: "5", format: "int" },
        { kind: "Get", target: "./Vendor/Setting" },
      ] },
    ]);
    expectClean(await client.startSession());
    const a = (await getJob(devId, job.jobId)).commands[0];
    expect(a.status).toBe("200");
    expect(a.children.map((c: any) => c.status)).toEqual(["200", "200"]);
    expect(a.children[1].results[0]).toMatchObject({ source: "./Vendor/Setting", data: "5" });
  });

  it("a Sequence runs in order: Add, then Copy of what was added, then Get of the copy", async () => {
    const { devId, client } = await device("syncml:auth-basic");
    const job = await createJob(devId, [
      { kind: "Sequence", commands: [
        { kind: "Add", target: "./Vendor/Seq/A", data: "first" },
        { kind: "Copy", target: "./Vendor/Seq/B", source: "./Vendor/Seq/A" },
        { kind: "Get", target: "./Vendor/Seq/B" },
      ] },
    ]);
    const s = await client.startSession();
    expectClean(s);
    const q = (await getJob(devId, job.jobId)).commands[0];
    expect(q.status, story(s)).toBe("200");
    expect(q.children.map((c: any) => c.status)).toEqual(["200", "200", "200"]);
    expect(jobCommand({ commands: q.children }, "Get").results[0]).toMatchObject({ source: "./Vendor/Seq/B", data: "first" });
  });
});

describe("User interaction alerts (DM_Protocol §6.6.2, §8.6)", () => {
  it("1100 display, 1101 confirm (declined: 304), 1102 text input, 1103 single choice: options and texts reach the device", async () => {
    const { devId, client } = await device("syncml:auth-basic", { ui: { confirm: false, input: "Alice", choose: [2] } });
    const job = await createJob(devId, [
      { kind: "Alert", code: "1100", items: ["Maintenance tonight"] },
      { kind: "Alert", code: "1101", items: ["Install update?"], options: "MINDT=10" },
      { kind: "Alert", code: "1102", items: ["Your name?"], options: "MAXLEN=20" },
      { kind: "Alert", code: "1103", items: ["Pick a colour", "red", "green", "blue"] },
    ]);
    const s = await client.startSession();
    expectClean(s);
    expect(s.ui.map((u) => [u.code, u.text, u.answer]), story(s)).toEqual([
      ["1100", "Maintenance tonight", "displayed"],
      ["1101", "Install update?", "no"],
      ["1102", "Your name?", "Alice"],
      ["1103", "Pick a colour", "2"],
    ]);
    expect(s.ui[1]!.options).toBe("MINDT=10");
    expect(s.ui[2]!.options).toBe("MAXLEN=20");
    expect(s.ui[3]!.choices).toEqual(["red", "green", "blue"]);
    const done = await getJob(devId, job.jobId);
    expect(done.commands.map((c: any) => c.status)).toEqual(["200", "304", "200", "200"]);
    expect(JSON.stringify(done.commands[2])).toContain("Alice");
    expect(JSON.stringify(done.commands[3])).toContain("2");
  });

  it("1101 confirmed: 200", async () => {
    const { devId, client } = await device("syncml:auth-basic", { ui: { confirm: true } });
    const job = await createJob(devId, [{ kind: "Alert", code: "1101", items: ["Reboot now?"] }]);
    expectClean(await client.startSession());
    expect((await getJob(devId, job.jobId)).commands[0].status).toBe("200");
  });
});
