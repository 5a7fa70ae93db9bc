// The independent DM 2.0 device simulator against `wrangler dev` (what `npm start` runs), from Node over
// real HTTP: the four flows, a session aborted midway and resumed, and the operator's
// `npm run dm2:simulate -- <gateway-url>` script that the README shows.
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Operator } from "../dm2/sim/harness";
import { MEDIA } from "../dm2/sim/simulator";
import { PROJECT_ROOT, startDevServer, type DevServer } from "./dev-server";

let server: DevServer;
let dir: string;
let op: Operator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "dm2-sim-"));
  server = await startDevServer({ persistTo: dir, readyTimeoutMs: 240_000 });
  op = new Operator(server.url, (url, init) => fetch(url, init));
}, 250_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the DM 2.0 simulator against wrangler dev", () => {
  it("runs all four flows, Digest and Basic, and a session aborted midway and resumed, over real HTTP", async () => {
    const { device, devId, owner } = await op.device({ "./DevInfo/Mod": "e2e phone", "./Vendor/Mode": "normal" });

    const job1 = await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Replace", target: "./Vendor/Mode", data: "eco" }]);
    const client = await device.clientInitiated();
    expect(client.ended).toBe(true);
    expect(client.packages[0]!.commands.at(-1)![1]).toMatch(new RegExp(`^${server.url}/dm/v2/sessions/id/[0-9a-f]{32}$`));
    expect((await op.job(devId, job1.jobId)).commands.map((c) => c.status)).toEqual(["200", "200"]);

    await op.queueJob(devId, [{ kind: "Delete", target: "./Vendor/Mode" }]);
    const n = await op.notify(devId);
    const serverInit = await device.serverInitiated(n.package0);
    expect(serverInit.ended).toBe(true);
    expect(device.tree.leaf("./Vendor/Mode")).toBeUndefined();

    await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const component = await device.browserComponent();
    expect(component.packages.map((p) => p.contentType?.split(";")[0])).toEqual([MEDIA.seed, MEDIA.seed]);

    await op.queueJob(devId, [{ kind: "Add", target: "./Vendor/Mode", data: "restored" }]);
    const { page } = await device.browserInitiated();
    expect(page.contentType).toMatch(/^text\/html/);
    const pending = await device.pendingNotification();
    expect(pending?.initiator).toBe("browser");
    expect((await device.serverInitiated(pending!.package0)).ended).toBe(true);
    expect(device.tree.leaf("./Vendor/Mode")?.value).toBe("restored");

    const job5 = await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Delete", target: "./Vendor/Mode" }]);
    device.http.scheme = "basic"; // loopback: Basic is allowed while developing
    const aborted = await device.clientInitiated({ abort: { inPackage: 0, afterCommands: 1 } });
    expect(aborted.aborted).toBe(true);
    const resumed = await device.clientInitiated();
    expect(resumed.packages[0]!.commands.map((c) => c[0])).toEqual(["HPUT", "DELETE", "CONT"]);
    expect((await op.job(devId, job5.jobId)).state).toBe("done");

    const completed = await owner.completed();
    expect(completed.map((s) => s.initiator)).toEqual(expect.arrayContaining(["client", "server", "browser-component", "browser"]));
    expect(completed.filter((s) => s.state === "aborted")).toHaveLength(1);
  });

  it("npm run dm2:simulate -- <gateway-url> runs every flow against the running gateway and exits 0", async () => {
    const run = await new Promise<{ code: number | null; out: string }>((resolveRun) => {
      const child = spawn(process.execPath, ["scripts/dm2-simulate.mjs", server.url, "--account", "e2e-sim", "--dev", "IMEI:990000862471877"], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
      child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
      child.on("close", (code) => resolveRun({ code, out }));
    });
    expect(run.code, run.out).toBe(0);
    for (const flow of ["client-initiated (x.2.2)", "server-initiated (x.2.1)", "web-browser-component-initiated (x.2.3)", "web-browser-initiated (x.2.4)", "aborted midway", "resumed"]) expect(run.out).toContain(`## ${flow}`);
    expect(run.out.match(/session ended \(END\)/g)?.length).toBeGreaterThanOrEqual(5);
    expect(run.out).toContain("session aborted by the device (DELETE)");
  });
});
