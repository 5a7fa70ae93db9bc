// Authentication against the gateway (OMA-TS-DM_Security-V1_2 §5): each auth type with a wrong
// password first, then the right one; the 407/401 challenge; the nonce chain across sessions; mutual
// authentication of the server with the nonce the device gave it.
import { describe, expect, it } from "vitest";
import { createJob, device, expectClean, getJob, story, tree } from "./harness";
import type { AuthType } from "./simulator";

const AUTH: AuthType[] = ["syncml:auth-basic", "syncml:auth-md5", "syncml:auth-MAC"];

describe("Client authentication (DM_Security §5.3, §5.4)", () => {
  it.each(AUTH)("%s: a wrong password gets 401 with a Chal and nothing is done; the right one gets 212 and the job runs", async (authType) => {
    const { devId, client, creds } = await device(authType, { password: "wrong-password" });
    const job = await createJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const bad = await client.startSession();
    expect(bad.outcome, story(bad)).toBe("auth-failed");
    // a client without a nonce first sends no credentials (md5, MAC): 407; then wrong ones: 401
    expect(bad.hdrStatuses, story(bad)).toEqual(authType === "syncml:auth-basic" ? ["401", "401", "401"] : ["407", "401", "401"]);
    for (const e of bad.exchanges) {
      const hdr = e.response!.body.find((c) => c.kind === "Status" && c.cmd === "SyncHdr");
      expect(hdr?.kind === "Status" && hdr.chal?.meta, story(bad)).toMatchObject({ type: authType, format: "b64" });
      if (authType !== "syncml:auth-basic") expect(hdr?.kind === "Status" && hdr.chal?.meta.nextNonce).toMatch(/^[A-Za-z0-9+/]+=*$/);
      // no management command reaches an unauthenticated device
      expect(e.response!.body.filter((c) => c.kind !== "Status"), story(bad)).toEqual([]);
    }
    // nothing from the unauthenticated package 1 reached the tree; the job is untouched
    expect((await tree(devId))["./DevInfo/Mod"]).toBeUndefined();
    expect((await getJob(devId, job.jobId)).state).toBe("queued");

    client.opts.password = creds.clientPassword;
    const good = await client.startSession();
    expectClean(good);
    expect(good.hdrStatuses[0], story(good)).toBe("212"); // the nonce from the last 401's Chal is used at once
    expect((await getJob(devId, job.jobId)).commands[0]).toMatchObject({ status: "200", results: [{ data: "SIM-1000" }] });
    expect((await tree(devId))["./DevInfo/Mod"]?.value).toBe("SIM-1000");
  });

  it.each(["syncml:auth-md5", "syncml:auth-MAC"] as AuthType[])("%s: 212 comes with a Chal whose NextNonce the next session uses without a new challenge", async (authType) => {
    const { client } = await device(authType);
    const first = await client.startSession();
    expectClean(first);
    expect(first.hdrStatuses.slice(0, 2)).toEqual(["407", "212"]);
    const chal = first.serverStatuses.find((x) => x.cmd === "SyncHdr" && x.data === "212")?.chal;
    expect(chal, story(first)).toMatchObject({ type: authType, format: "b64" });
    expect(chal?.nextNonce).toBeTruthy();
    const second = await client.startSession();
    expectClean(second);
    expect(second.hdrStatuses[0], story(second)).toBe("212");
    if (authType === "syncml:auth-md5") expect(second.exchanges[0]!.request.header.cred?.meta?.type).toBe("syncml:auth-md5");
    else expect(second.exchanges[0]!.requestHeaders["x-syncml-hmac"]).toMatch(/^algorithm=MD5, username="/);
  });

  it("md5: a credential replayed with an old nonce is refused (401)", async () => {
    const { client } = await device("syncml:auth-md5");
    expectClean(await client.startSession());
    const stale = client.clientNonce!;
    expectClean(await client.startSession()); // the server moved to a new nonce
    client.clientNonce = stale;
    const s = await client.startSession();
    expect(s.hdrStatuses[0], story(s)).toBe("401");
    expect(s.outcome).toBe("completed"); // the 401's Chal gives the new nonce and the retry succeeds
    expect(s.hdrStatuses[1]).toBe("212");
  });
});

describe("Server authentication, mutual (DM_Security §5.3: the server's Cred; §5.4: x-syncml-hmac)", () => {
  it.each(AUTH)("%s: the server proves itself with the nonce the device last gave it, within and across sessions", async (authType) => {
    const { devId, client } = await device(authType);
    await createJob(devId, [{ kind: "Get", target: "./DevInfo/Lang" }]);
    const s1 = await client.startSession();
    expectClean(s1);
    // the device gives its nonce in its first Status for the server's SyncHdr (with 212) ...
    const i = s1.exchanges.findIndex((e) => e.request.body.some((c) => c.kind === "Status" && c.cmd === "SyncHdr" && c.chal));
    expect(i, story(s1)).toBeGreaterThan(0);
    // ... and every server message after that which carries credentials verifies with it
    for (const e of s1.exchanges.slice(i)) if (e.serverAuth === "ok") expect(e.serverNonceUsed, story(s1)).toBe("current");
    if (authType === "syncml:auth-MAC") expect(s1.exchanges.slice(i).every((e) => e.serverAuth === "ok")).toBe(true);
    // next session: the server's first message uses that nonce
    const s2 = await client.startSession();
    expectClean(s2);
    expect(s2.exchanges[0]).toMatchObject({ serverAuth: "ok", serverNonceUsed: "current" });
  });

  it("a device that cannot verify the server (wrong server password) answers 401 and executes nothing", async () => {
    const { devId, client } = await device("syncml:auth-basic", { serverPassword: "not-the-servers", tree: { "./Vendor/X": "keep" } });
    const job = await createJob(devId, [{ kind: "Delete", target: "./Vendor/X" }]);
    const s = await client.startSession();
    expect(s.outcome, story(s)).toBe("server-auth-failed");
    expect(s.exchanges[1]!.request.body[0]).toMatchObject({ kind: "Status", cmd: "SyncHdr", data: "401" });
    expect(client.tree.value("./Vendor/X")).toBe("keep");
    expect((await getJob(devId, job.jobId)).commands[0].status).not.toBe("200");
  });
});
