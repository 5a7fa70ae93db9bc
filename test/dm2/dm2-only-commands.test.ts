// The DM 2.0 commands that have no SyncML DM 1.2 counterpart as northbound job kinds (src/dm/v2/README.md
// decision 13): HPost, Sub, Unsub and Default. A DM 2.0 device (the independent simulator) executes
// them; a DM 1.2 device's job gets 406 naming the command; a device that speaks both keeps them for
// its DM 2.0 session.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createJob, device as dm12Device, expectClean, getJob } from "../dm/harness";
import { ADMIN, call, enc } from "../helpers";
import { createAccount, registerDevice, TLS_ORIGIN } from "./helpers";
import { Operator } from "./sim/harness";
import { Dm2Device } from "./sim/simulator";
import { NODE_CHANGE_ALERT } from "./sim/commands";

const GATEWAY = "https://dm2sim.test";
const op = new Operator(GATEWAY, (url, init) => SELF.fetch(url, init));
/** A collection server of the operator's own, outside the gateway: what the device POSTs there. */
const LOGS = "https://logs.example.net/upload";

describe("HPost, Sub, Unsub and Default jobs", () => {
  it("a DM 2.0 device gets HPOST (to the server or to the job's URL), SUB, UNSUB and DEFAULT; values, statuses and change alerts land on the job", async () => {
    const posted: { url: string; body: string; type: string | null }[] = [];
    const fetcher = async (url: string, init?: RequestInit) => {
      if (!url.startsWith(LOGS)) return SELF.fetch(url, init);
      posted.push({ url, body: String(init?.body), type: new Headers(init?.headers).get("Content-Type") });
      return new Response(null, { status: 201 });
    };
    const { device, devId } = await op.device({ "./DevInfo/Mod": "SimPhone 3", "./Vendor/Log": "boot ok", "./Vendor/Mode": "normal", "./Other/X": "1" }, { fetch: fetcher });
    const job = await op.queueJob(devId, [
      { kind: "HPost", target: "./DevInfo/Mod" },
      { kind: "HPost", target: "./Vendor/Log", url: LOGS },
      { kind: "Sub", target: "./Vendor" },
      { kind: "Unsub", target: "./Other" },
      { kind: "Default", url: `${GATEWAY}/dm/v2` },
    ]);
    const s = await device.clientInitiated();
    const cmds = s.packages[0]!.commands;
    expect(cmds.map((c) => c[0])).toEqual(["HPOST", "HPOST", "SUB", "UNSUB", "DEFAULT", "CONT"]);
    expect(cmds[0]![2]).toMatch(new RegExp(`^${GATEWAY}/dm/v2/sessions/id/[0-9a-f]{32}/data/0$`));
    expect(cmds[1]).toEqual(["HPOST", "./Vendor/Log", LOGS]);
    expect(cmds[2]).toEqual(["SUB", "./Vendor"]);
    expect(cmds[4]).toEqual(["DEFAULT", `${GATEWAY}/dm/v2`]);
    // The simulator has no subscription on ./Other: UNSUB is 404 there.
    expect(s.packages[0]!.statuses.map((x) => x.sc)).toEqual([200, 200, 200, 404, 200]);
    expect(posted).toEqual([{ url: LOGS, body: "boot ok", type: "text/plain" }]);
    expect(device.serverRoot).toBe(`${GATEWAY}/dm/v2`);

    let doc = await op.job(devId, job.jobId);
    expect(doc.commands.map((c) => c.status)).toEqual(["200", "200", "200", "404", "200"]);
    expect(doc.commands[0]!.results).toEqual([expect.objectContaining({ source: "./DevInfo/Mod", data: "SimPhone 3", format: "chr" })]);
    // Sent elsewhere: the server learns only the status.
    expect(doc.commands[1]!.results).toBeUndefined();
    expect(doc.state).toBe("failed");

    // A change the device itself makes below ./Vendor is reported in its next session and lands on the Sub.
    device.localChange("./Vendor/Mode", "eco");
    device.localChange("./Other/X", "2");
    await device.clientInitiated();
    doc = await op.job(devId, job.jobId);
    expect(doc.commands[2]!.alerts).toEqual([expect.objectContaining({ type: NODE_CHANGE_ALERT, source: "./Vendor/Mode", data: "eco" })]);
    expect(doc.commands[3]!.alerts).toBeUndefined();

    // An Unsub of ./Vendor ends the subscription (what the job model then keeps: test/dm/engine/subscriptions.test.ts).
    const unsub = await op.queueJob(devId, [{ kind: "Unsub", target: "./Vendor" }]);
    await device.clientInitiated();
    expect((await op.job(devId, unsub.jobId)).state).toBe("done");
  });

  it("a DM 1.2 device's job gets 406 for each DM 2.0-only command, naming it; the rest of the job runs over SyncML", async () => {
    const old = await dm12Device("syncml:auth-md5", { tree: { "./DevInfo/Mod": "SIM-12" } });
    const job = await createJob(old.devId, [
      { kind: "Get", target: "./DevInfo/Mod" },
      { kind: "HPost", target: "./DevInfo/Mod" },
      { kind: "Sub", target: "./Vendor" },
      { kind: "Unsub", target: "./Vendor" },
      { kind: "Default", url: "https://dm.example.net/dm/v2" } as never,
    ]);
    expectClean(await old.client.startSession());
    const doc: any = await getJob(old.devId, job.jobId);
    expect(doc.state).toBe("failed");
    expect(doc.commands.map((c: any) => c.status)).toEqual(["200", "406", "406", "406", "406"]);
    for (const [i, name] of [[1, "HPOST"], [2, "SUB"], [3, "UNSUB"], [4, "DEFAULT"]] as const) {
      expect(doc.commands[i].error).toContain(`${name} is a DM 2.0 command`);
      expect(doc.commands[i].error).toContain("SyncML DM 1.2");
    }
    expect(doc.reason).toMatch(/^command 2 \(HPost \.\/DevInfo\/Mod\): HPOST is a DM 2.0 command/);
  });

  it("a device that speaks both keeps a Sub for its DM 2.0 session: the SyncML session runs the rest, the DM 2.0 session the Sub", async () => {
    const both = await dm12Device("syncml:auth-md5", { tree: { "./DevInfo/Mod": "SIM-B" } });
    const account = await createAccount();
    await registerDevice(account, both.devId, { protocol: "both" });
    const job = await createJob(both.devId, [
      { kind: "Get", target: "./DevInfo/Mod" },
      { kind: "Sub", target: "./Vendor" },
    ]);
    expectClean(await both.client.startSession());
    let doc = await getJob(both.devId, job.jobId);
    expect(doc.commands.map((c: any) => c.status)).toEqual(["200", undefined]);
    expect(doc.state).toBe("running");

    const dm2 = new Dm2Device({ gateway: TLS_ORIGIN, account: account.accountId, password: account.password, devId: both.devId, fetch: (u, i) => SELF.fetch(u, i), tree: { "./Vendor/A": "1" } });
    const s = await dm2.clientInitiated();
    expect(s.packages[0]!.commands.map((c) => c[0])).toEqual(["SUB", "CONT"]);
    doc = await getJob(both.devId, job.jobId);
    expect(doc.commands.map((c: any) => c.status)).toEqual(["200", "200"]);
    expect(doc.state).toBe("done");
  });

  it("the job request checks the new kinds: a URL must be https without user info, Default needs one, none of them nests in an Atomic or Sequence", async () => {
    const { devId } = await op.device();
    const post = (commands: unknown[]) => call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands } });
    for (const [commands, part] of [
      [[{ kind: "HPost", target: "./A", url: "http://logs.example.net/x" }], "commands.0.url"],
      [[{ kind: "HPost", target: "./A", url: "https://user:pw@logs.example.net/x" }], "commands.0.url"],
      [[{ kind: "Default" }], "commands.0.url"],
      [[{ kind: "Sub" }], "commands.0.target"],
      [[{ kind: "Sequence", commands: [{ kind: "Sub", target: "./A" }] }], "commands.0.commands.0.kind"],
    ] as const) {
      const r = await post(commands as unknown as unknown[]);
      expect(r.status, r.text).toBe(400);
      expect(r.json.requestError.serviceException.variables[0]).toBe(part);
    }
    const unknown = await post([{ kind: "Subscribe", target: "./A" }]);
    for (const kind of ["HPost", "Sub", "Unsub", "Default"]) expect(unknown.json.requestError.serviceException.variables[1]).toContain(kind);
    // Campaigns check a provider's grants per command kind; they take none of these kinds (yet).
    const campaign = await call("POST", "/dmws/v1/campaigns", { headers: ADMIN, body: { target: { devices: [devId] }, operation: { commands: [{ kind: "Default", url: "https://dm.example.net/dm/v2" }] } } });
    expect(campaign.status, campaign.text).toBe(400);
    expect(campaign.json.requestError.serviceException.variables[0]).toBe("operation.commands.0.kind");
  });
});
