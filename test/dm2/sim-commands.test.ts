// Every DM 2.0 command the server sends for a northbound job, executed by the independent simulator
// against its own tree, with the statuses DM 2.0 defines (200, 202 + Alert, 404, 405) landing on the job.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Operator } from "./sim/harness";
import { fromBase64, toBase64 } from "./sim/simulator";

const GATEWAY = "https://dm2sim.test";
const op = new Operator(GATEWAY, (url, init) => SELF.fetch(url, init));

describe("DM 2.0 commands, as the simulator executes them", () => {
  it("HPUT (a Get), HGET (Add and Replace), DELETE and EXEC run in order against the device tree; CONT carries the statuses, END closes", async () => {
    let ran: string | undefined = "never";
    const { device, devId } = await op.device({
      "./DevInfo/Mod": "SimPhone 2",
      "./Vendor/Mode": "normal",
      "./Vendor/Old": "x",
      "./Vendor/Reboot": { type: "text/plain", exec: { mode: "sync", run: (data) => (ran = data) } },
    });
    const job = await op.queueJob(devId, [
      { kind: "Get", target: "./DevInfo/Mod" },
      { kind: "Add", target: "./Vendor/Added", data: "a" },
      { kind: "Replace", target: "./Vendor/Mode", data: "eco" },
      { kind: "Delete", target: "./Vendor/Old" },
      { kind: "Exec", target: "./Vendor/Reboot", data: "now" },
    ]);
    const s = await device.clientInitiated();
    const cmds = s.packages[0]!.commands;
    expect(cmds.map((c) => c[0])).toEqual(["HPUT", "HGET", "HGET", "DELETE", "EXEC", "CONT"]);
    expect(cmds[0]!.slice(0, 2)).toEqual(["HPUT", "./DevInfo/Mod"]);
    expect(cmds[1]![2]).toBe("./Vendor/Added");
    expect(cmds[4]!.slice(0, 3)).toEqual(["EXEC", "./Vendor/Reboot", "now"]);
    expect(s.packages[0]!.statuses.map((x) => x.sc)).toEqual([200, 200, 200, 200, 200]);
    expect(s.packages[1]!.commands).toEqual([["END"]]);
    expect(ran).toBe("now");
    expect(device.tree.snapshot()).toEqual({ "./DevInfo/Mod": "SimPhone 2", "./Vendor/Added": "a", "./Vendor/Mode": "eco" });
    const done = await op.job(devId, job.jobId);
    expect(done.state).toBe("done");
    expect(done.commands.map((c) => c.status)).toEqual(["200", "200", "200", "200", "200"]);
    expect(done.commands[0]!.results).toEqual([expect.objectContaining({ source: "./DevInfo/Mod", data: "SimPhone 2", format: "chr" })]);
  });

  it("binary values travel as bytes both ways: HGET of a b64 Replace stores the bytes, HPUT of bytes becomes a b64 result", async () => {
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const { device, devId } = await op.device({ "./Vendor/Blob": { value: bytes, type: "application/octet-stream" } });
    const job = await op.queueJob(devId, [
      { kind: "Get", target: "./Vendor/Blob" },
      { kind: "Replace", target: "./Vendor/Key", data: toBase64(new Uint8Array([9, 8, 7])), format: "b64", type: "application/octet-stream" },
    ]);
    const s = await device.clientInitiated();
    expect(s.packages[0]!.statuses.map((x) => x.sc)).toEqual([200, 200]);
    const key = device.tree.leaf("./Vendor/Key")!;
    expect(key.value).toEqual(new Uint8Array([9, 8, 7]));
    const result = (await op.job(devId, job.jobId)).commands[0]!.results![0]!;
    expect(result.format).toBe("b64");
    expect(fromBase64(result.data)).toEqual(bytes);
  });

  it("404 for a node the device does not have, 405 for a permanent node and for EXEC on a node that cannot run: the job shows the device's codes and the session fails with the first", async () => {
    const { device, devId, owner } = await op.device({ "./DevInfo/DevId": { value: "IMEI:1", type: "text/plain", permanent: true }, "./Vendor/Plain": "p" });
    const job = await op.queueJob(devId, [
      { kind: "Get", target: "./Nope" },
      { kind: "Delete", target: "./Nope" },
      { kind: "Replace", target: "./DevInfo/DevId", data: "forged" },
      { kind: "Delete", target: "./DevInfo/DevId" },
      { kind: "Exec", target: "./Vendor/Plain" },
    ]);
    const s = await device.clientInitiated();
    expect(s.packages[0]!.statuses.map((x) => x.sc)).toEqual([404, 404, 405, 405, 405]);
    expect(device.tree.leaf("./DevInfo/DevId")?.value).toBe("IMEI:1");
    const done = await op.job(devId, job.jobId);
    expect(done.commands.map((c) => c.status)).toEqual(["404", "404", "405", "405", "405"]);
    const last = (await owner.completed())[0]!;
    expect(last.result).toMatchObject({ outcome: "failure", commands: 5, succeeded: 0, failed: 5 });
    expect(last.result!.reason).toMatch(/404/);
  });

  it("EXEC answered 202: the result arrives later as an Alert with the EXEC's correlator (POST /alert) and lands on that job command", async () => {
    const { device, devId } = await op.device({
      "./FUMO/Update": { type: "text/plain", exec: { mode: "async", alertType: "org.openmobilealliance.dm.firmwareupdate.update", resultData: "200" } },
    });
    const job = await op.queueJob(devId, [{ kind: "Exec", target: "./FUMO/Update", correlator: "fw-42" }]);
    const s = await device.clientInitiated();
    expect(s.packages[0]!.commands[0]).toEqual(["EXEC", "./FUMO/Update", "", "fw-42"]);
    expect(s.packages[0]!.statuses).toEqual([{ sc: 202 }]);
    expect((await op.job(devId, job.jobId)).commands[0]!.status).toBe("202");
    const report = await device.reportFinishedExecs();
    expect(report.packages.map((p) => p.commands)).toEqual([[["END"]]]);
    const cmd = (await op.job(devId, job.jobId)).commands[0]!;
    expect(cmd.alerts).toEqual([
      expect.objectContaining({ type: "org.openmobilealliance.dm.firmwareupdate.update", source: "./FUMO/Update", data: "200" }),
    ]);
  });

  it("a package spans several jobs in queue order; the statuses of each land on its own job", async () => {
    const { device, devId } = await op.device({ "./A": "1", "./B": "2" });
    const j1 = await op.queueJob(devId, [{ kind: "Get", target: "./A" }]);
    const j2 = await op.queueJob(devId, [{ kind: "Replace", target: "./B", data: "3" }]);
    const s = await device.clientInitiated();
    const all = s.packages.flatMap((p) => p.commands.map((c) => c[0]));
    expect(all.filter((c) => c !== "CONT" && c !== "END")).toEqual(["HPUT", "HGET"]);
    expect((await op.job(devId, j1.jobId)).commands[0]!.results?.[0]?.data).toBe("1");
    expect((await op.job(devId, j2.jobId)).state).toBe("done");
    expect(device.tree.leaf("./B")?.value).toBe("3");
  });
  it("GET (a Get of node?list=Struct) answers the ClientURIs at and below the node; they land on the job as a text/uri-list result", async () => {
    const { device, devId } = await op.device({ "./Vendor/Net/APN": "internet", "./Vendor/Net/Proxy": "none", "./Vendor/Other": "x" });
    const job = await op.queueJob(devId, [{ kind: "Get", target: "./Vendor/Net?list=Struct" }, { kind: "Get", target: "./Missing?list=Struct" }]);
    const s = await device.clientInitiated();
    expect(s.packages[0]!.commands.slice(0, 2)).toEqual([["GET", "./Vendor/Net"], ["GET", "./Missing"]]);
    expect(s.packages[0]!.statuses).toEqual([{ sc: 200, URI: ["./Vendor/Net", "./Vendor/Net/APN", "./Vendor/Net/Proxy"] }, { sc: 404 }]);
    const done = await op.job(devId, job.jobId);
    expect(done.commands.map((c) => c.status)).toEqual(["200", "404"]);
    expect(done.commands[0]!.results).toEqual([{ source: "./Vendor/Net", data: "./Vendor/Net\r\n./Vendor/Net/APN\r\n./Vendor/Net/Proxy", format: "chr", type: "text/uri-list" }]);
  });

  it("SHOW (a Display alert 1100) opens the server's page with the alert's text in the browser component; the other UI alerts are 406 with the reason", async () => {
    const { device, devId } = await op.device({});
    const job = await op.queueJob(devId, [
      { kind: "Alert", code: "1100", items: ["Maintenance tonight at 02:00 <b>not bold</b>"] },
      { kind: "Alert", code: "1101", items: ["Reboot now?"] },
    ]);
    const s = await device.clientInitiated();
    const show = s.packages[0]!.commands[0]!;
    expect(show[0]).toBe("SHOW");
    expect(s.packages[0]!.commands.map((c) => c[0])).toEqual(["SHOW", "CONT"]);
    expect(s.packages[0]!.statuses).toEqual([{ sc: 200 }]);
    expect(device.shownPages).toHaveLength(1);
    expect(device.shownPages[0]).toMatchObject({ url: show[1], status: 200, contentType: expect.stringMatching(/^text\/html/) });
    expect(device.shownPages[0]!.html).toContain("Maintenance tonight at 02:00 &lt;b&gt;not bold&lt;/b&gt;");
    const done = await op.job(devId, job.jobId);
    expect(done.commands[0]!.status).toBe("200");
    expect(done.commands[1]).toMatchObject({ status: "406", error: expect.stringMatching(/1101-1104/) });
  });
});
