// The independent DM 2.0 device simulator (test/dm2/sim) against the real Worker in workerd: the seed's
// four flows (x.2.1-x.2.4), a session aborted midway and resumed, Basic and Digest.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MEDIA } from "./sim/simulator";
import { Operator } from "./sim/harness";

// https: Basic is offered over TLS only, and the ServerURIs the device follows then say https.
const GATEWAY = "https://dm2sim.test";
const op = new Operator(GATEWAY, (url, init) => SELF.fetch(url, init));

const TREE = { "./DevInfo/Mod": "SimPhone 2", "./DevInfo/Man": "oma-edge", "./Vendor/Mode": "normal" };

describe("DM 2.0 flows driven by the independent device simulator", () => {
  it("x.2.2 client-initiated: package 1 at /sessions/next gets the job as commands; the device's statuses and values land on the job", async () => {
    const { device, devId, owner } = await op.device(TREE);
    const job = await op.queueJob(devId, [
      { kind: "Get", target: "./DevInfo/Mod" },
      { kind: "Replace", target: "./Vendor/Mode", data: "eco" },
      { kind: "Add", target: "./Vendor/New", data: "fresh" },
    ]);
    const s = await device.clientInitiated();
    expect(s.error).toBeUndefined();
    expect(s.ended).toBe(true);
    expect(s.packages[0]!.contentType).toMatch(/^application\/vnd\.oma\.dm\.request\+json/);
    expect(s.packages[0]!.commands.map((c) => c[0])).toEqual(["HPUT", "HGET", "HGET", "CONT"]);
    expect(s.packages[0]!.statuses).toEqual([{ sc: 200 }, { sc: 200 }, { sc: 200 }]);
    // Every package has a newly assigned session id: header, Location and the CONT ServerURI agree.
    const p = s.packages[0]!;
    expect(p.location).toBe(`${GATEWAY}/dm/v2/sessions/id/${p.sessionId}`);
    expect(p.commands.at(-1)).toEqual(["CONT", p.location]);
    expect(device.tree.snapshot()).toMatchObject({ "./Vendor/Mode": "eco", "./Vendor/New": "fresh" });
    const done = await op.job(devId, job.jobId);
    expect(done.state).toBe("done");
    expect(done.commands.map((c) => c.status)).toEqual(["200", "200", "200"]);
    expect(done.commands[0]!.results?.[0]).toMatchObject({ source: "./DevInfo/Mod", data: "SimPhone 2" });
    const completed = await owner.completed();
    expect(completed[0]).toMatchObject({ devId, state: "completed", initiator: "client", result: { outcome: "OK", commands: 3, succeeded: 3, failed: 0 } });
  });

  it("x.2.2 client-initiated through POST /alert: a device event is answered with commands when jobs wait, else END", async () => {
    const { device, devId } = await op.device(TREE);
    const idle = await device.alert([{ AlertType: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" }]);
    expect(idle.packages.map((p) => p.commands)).toEqual([[["END"]]]);
    const job = await op.queueJob(devId, [{ kind: "Delete", target: "./Vendor/Mode" }]);
    const busy = await device.alert([{ AlertType: "urn:example:at:battery-low", SourceURI: "./DevInfo", DataType: "text/plain", Data: "12" }]);
    expect(busy.packages[0]!.commands).toEqual([["DELETE", "./Vendor/Mode"], ["CONT", busy.packages[0]!.location]]);
    expect(busy.ended).toBe(true);
    expect(device.tree.leaf("./Vendor/Mode")).toBeUndefined();
    expect((await op.job(devId, job.jobId)).state).toBe("done");
  });

  it("x.2.1 server-initiated: package 0 (DM 2.0, digest keyed with the account's Digest HA1) makes the device start the session it names", async () => {
    const { device, devId, owner } = await op.device(TREE);
    const job = await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Man" }]);
    const n = await op.notify(devId);
    const pending = await owner.pending();
    expect(pending).toEqual([expect.objectContaining({ devId, state: "pending", initiator: "server", packages: 0 })]);
    expect(pending[0]!.notification?.package0).toBe(n.package0);
    const s = await device.serverInitiated(n.package0); // throws when the digest does not verify
    expect(s.notification).toMatchObject({ version: 20, initiator: "server", serverId: "oma-edge" });
    // The 16-bit session number (hex; the device pads it to four digits, the server may not).
    expect(parseInt(s.notification.sessionId, 16)).toBe(parseInt(n.sessionId, 16));
    expect(s.ended).toBe(true);
    expect(s.packages[0]!.commands.map((c) => c[0])).toEqual(["HPUT", "CONT"]);
    expect((await op.job(devId, job.jobId)).commands[0]!.results?.[0]?.data).toBe("oma-edge");
    expect(await owner.pending()).toEqual([]);
    expect((await owner.completed())[0]).toMatchObject({ initiator: "server", result: { outcome: "OK" } });
  });

  it("x.2.1: a package 0 made with another account's key fails the device's digest check", async () => {
    const a = await op.device(TREE);
    const b = await op.device(TREE);
    await op.queueJob(a.devId, [{ kind: "Get", target: "./DevInfo/Man" }]);
    const n = await op.notify(a.devId);
    await expect(b.device.serverInitiated(n.package0)).rejects.toThrow(/digest does not match/);
  });

  it("x.2.1 decision 14: every session gives the device a new package-0 nonce, so a replayed package 0 fails its check and the next one verifies", async () => {
    const { device, devId } = await op.device(TREE);
    await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Man" }]);
    const first = await op.notify(devId);
    const s = await device.serverInitiated(first.package0);
    expect(s.ended).toBe(true);
    // Each package of the session carried the nonce (32 hex digits); the device keeps it.
    expect(device.package0Nonce).toMatch(/^[0-9a-f]{32}$/);
    const given = device.package0Nonce;
    // Captured and replayed: made with the nonce before the session, refused by the device.
    await expect(device.serverInitiated(first.package0)).rejects.toThrow(/digest does not match/);
    await op.queueJob(devId, [{ kind: "Delete", target: "./Vendor/Mode" }]);
    const second = await op.notify(devId);
    const again = await device.serverInitiated(second.package0);
    expect(again.packages[0]!.commands.map((c) => c[0])).toEqual(["DELETE", "CONT"]);
    // That session renewed it once more: the second package 0 cannot be replayed either.
    expect(device.package0Nonce).not.toBe(given);
    await expect(device.serverInitiated(second.package0)).rejects.toThrow(/digest does not match/);
  });

  it("x.2.3 web-browser-component-initiated: Accept application/vnd.omadm-cmd+json gets JSON commands in that media type", async () => {
    const { device, devId, owner } = await op.device(TREE);
    await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const s = await device.browserComponent();
    expect(s.error).toBeUndefined();
    expect(s.packages.map((p) => p.contentType?.split(";")[0])).toEqual([MEDIA.seed, MEDIA.seed]);
    expect(s.ended).toBe(true);
    expect((await owner.completed())[0]).toMatchObject({ initiator: "browser-component", result: { outcome: "OK" } });
  });

  it("x.2.4 web-browser-initiated: without that Accept header the browser gets HTML and the device a notification, which it then answers", async () => {
    const { device, devId, owner } = await op.device(TREE);
    const job = await op.queueJob(devId, [{ kind: "Replace", target: "./Vendor/Mode", data: "quiet" }]);
    const { page } = await device.browserInitiated();
    expect(page.status).toBe(200);
    expect(page.contentType).toMatch(/^text\/html/);
    expect(page.html).toMatch(/<html/i);
    const pending = await device.pendingNotification();
    expect(pending?.initiator).toBe("browser");
    expect((await op.outbox(devId)).map((n) => n.package0)).toContain(pending!.package0);
    const s = await device.serverInitiated(pending!.package0);
    expect(s.ended).toBe(true);
    expect(device.tree.leaf("./Vendor/Mode")?.value).toBe("quiet");
    expect((await op.job(devId, job.jobId)).state).toBe("done");
    expect((await owner.completed())[0]).toMatchObject({ initiator: "browser", result: { outcome: "OK" } });
  });

  for (const spelling of ["session", "sessions"] as const) {
    it(`a session aborted midway (DELETE /dm/v2/${spelling}/id/{id}) is resumed by the next one: every command without a status comes again, and the job finishes once`, async () => {
      const { device, devId, owner } = await op.device(TREE);
      const job = await op.queueJob(devId, [
        { kind: "Get", target: "./DevInfo/Mod" },
        { kind: "Replace", target: "./Vendor/Mode", data: "eco" },
        { kind: "Delete", target: "./DevInfo/Man" },
      ]);
      const aborted = await device.clientInitiated({ abort: { inPackage: 0, afterCommands: 1, spelling } });
      expect(aborted.aborted).toBe(true);
      const abortedId = aborted.packages[0]!.sessionId!;
      const mid = await op.job(devId, job.jobId);
      expect(mid.state).not.toBe("done");
      expect(mid.commands.every((c) => c.status === undefined)).toBe(true);
      const failed = (await owner.completed()).find((s) => s.sessionId === abortedId || s.state === "aborted");
      expect(failed).toMatchObject({ state: "aborted", result: { outcome: "failure" } });
      expect(failed!.result!.reason).toMatch(/abort/i);
      // The aborted package's result URI is spent: a late answer to it changes nothing.
      const late = await owner.call("PUT", `/sessions/id/${abortedId}`, { headers: { "Content-Type": MEDIA.response }, body: JSON.stringify({ Status: [{ sc: 200 }] }) });
      expect(late.status).toBe(404);
      const resumed = await device.clientInitiated();
      expect(resumed.ended).toBe(true);
      expect(resumed.packages[0]!.commands.map((c) => c[0])).toEqual(["HPUT", "HGET", "DELETE", "CONT"]);
      const done = await op.job(devId, job.jobId);
      expect(done.state).toBe("done");
      expect(done.attempts).toBe(2);
      expect(done.commands.map((c) => c.status)).toEqual(["200", "200", "200"]);
      expect(device.tree.snapshot()).toEqual({ "./DevInfo/Mod": "SimPhone 2", "./Vendor/Mode": "eco" });
    });
  }

  it("a device that starts a new session while one is open ends the old one; its commands go to the new one", async () => {
    const { device, devId, owner } = await op.device(TREE);
    const job = await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    // The device goes silent before answering (a crash): no DELETE, no statuses.
    const first = await device.clientInitiated({ abort: { inPackage: 0, afterCommands: 0, spelling: "none" } });
    const silentId = first.packages[0]!.sessionId;
    expect((await owner.pending()).map((p) => p.state)).toEqual(["active"]);
    const s = await device.clientInitiated();
    expect(s.ended).toBe(true);
    expect(s.packages[0]!.commands.map((c) => c[0])).toEqual(["HPUT", "CONT"]);
    expect((await op.job(devId, job.jobId)).state).toBe("done");
    const completed = await owner.completed();
    expect(completed).toHaveLength(2);
    const old = completed.find((c) => c.state !== "completed");
    expect(old?.result).toMatchObject({ outcome: "failure", reason: expect.stringMatching(/new session/) });
    expect(silentId).toBeTruthy();
  });

  it("HTTP Basic over TLS and Digest (SHA-256) log the same device in; Digest reuses its nonce with growing nc", async () => {
    const { device, devId, accountId, password } = await op.device(TREE);
    await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const digest = await device.clientInitiated();
    expect(digest.ended).toBe(true);
    // One challenge for the whole session: a 401 first, then every request authenticated.
    expect(device.http.statuses.filter((s) => s === 401)).toHaveLength(1);
    const { Dm2Device } = await import("./sim/simulator");
    const basic = new Dm2Device({ gateway: GATEWAY, account: accountId, password, devId, auth: "basic", fetch: (u, i) => SELF.fetch(u, i), tree: TREE });
    await op.queueJob(devId, [{ kind: "Get", target: "./DevInfo/Man" }]);
    const s = await basic.clientInitiated();
    expect(s.ended).toBe(true);
    expect(basic.http.statuses).not.toContain(401);
    const wrong = new Dm2Device({ gateway: GATEWAY, account: accountId, password: "not the password!", devId, auth: "digest", fetch: (u, i) => SELF.fetch(u, i) });
    const refused = await wrong.clientInitiated();
    expect(refused.error?.status).toBe(401);
  });
});
