// DM sessions against the gateway (OMA-TS-DM_Protocol-V1_2 §8: setup phase, management phase),
// client-initiated (Alert 1201) and notification-initiated (package 0, Alert 1200), XML and WBXML.
import { describe, expect, it } from "vitest";
import { createJob, device, expectClean, getJob, notifications, notify, SERVER_ID, SERVER_URL, story, tree } from "./harness";
import type { AuthType } from "./simulator";

describe("Client-initiated session (DM_Protocol §8.3, Alert 1201)", () => {
  const cases: { encoding: "xml" | "wbxml"; contentType?: string; auth: AuthType }[] = [
    { encoding: "xml", auth: "syncml:auth-basic" },
    { encoding: "wbxml", auth: "syncml:auth-md5" },
    { encoding: "xml", contentType: "application/vnd.syncml+xml", auth: "syncml:auth-basic" },
    { encoding: "wbxml", contentType: "application/vnd.syncml+wbxml", auth: "syncml:auth-MAC" },
  ];
  it.each(cases)("$encoding ($contentType) with $auth: package 1 DevInfo reaches the tree, a queued Get is answered with Results", async ({ encoding, contentType, auth }) => {
    const { devId, client } = await device(auth, { encoding, contentType });
    const job = await createJob(devId, [{ kind: "Get", target: "./DevDetail/FwV" }]);
    const s = await client.startSession();
    expectClean(s);
    // answered in the client's encoding and content type, SessionID echoed, later messages to RespURI
    for (const e of s.exchanges) expect(e.responseContentType?.split(";")[0]).toBe(client.contentType);
    expect(s.exchanges.every((e) => e.response?.header.sessionId === s.sessionId)).toBe(true);
    const first = s.exchanges[0]!.response!;
    expect(first.header.respURI, story(s)).toBeTruthy();
    expect(first.header.source.locURI).toBeTruthy();
    expect(s.exchanges[1]!.url).toBe(new URL(first.header.respURI!, SERVER_URL).toString());
    // the server's verdict on our credentials: 212 (after a 407 challenge when md5/MAC had no nonce yet)
    expect(s.hdrStatuses.slice(0, auth === "syncml:auth-basic" ? 1 : 2)).toEqual(auth === "syncml:auth-basic" ? ["212"] : ["407", "212"]);
    const st = s.serverStatuses.filter((x) => x.answers === "Alert" || x.answers === "Replace").map((x) => x.data);
    expect(st.slice(-2)).toEqual(["200", "200"]);
    // mutual authentication: the server's first message carries credentials that verify; later ones
    // verify too, or carry none once the device has answered 212 (MAC: an x-syncml-hmac on every message)
    expect(s.exchanges[0]!.serverAuth, story(s)).toBe("ok");
    expect(s.exchanges.filter((e) => e.serverAuth === "failed")).toEqual([]);
    if (auth === "syncml:auth-MAC") expect(s.exchanges.every((e) => e.serverAuth === "ok"), story(s)).toBe(true);
    const t = await tree(devId);
    expect(t["./DevInfo/DevId"]?.value).toBe(devId);
    expect(t["./DevInfo/Mod"]?.value).toBe("SIM-1000");
    expect(t["./DevInfo/Man"]?.value).toBe("Simulated Devices Inc.");
    expect(t["./DevInfo/DmV"]?.value).toBe("1.2");
    expect(t["./DevInfo/Lang"]?.value).toBe("en-US");
    expect(t["./DevDetail/FwV"]?.value).toBe("1.0.0");
    const done = await getJob(devId, job.jobId);
    expect(done.state).toBe("done");
    expect(done.commands[0]).toMatchObject({ kind: "Get", target: "./DevDetail/FwV", status: "200", results: [{ source: "./DevDetail/FwV", data: "1.0.0" }] });
  });

  it("ends when the server has nothing to send: a second session with no job is package 1, package 2 of statuses only", async () => {
    const { client } = await device("syncml:auth-basic");
    expectClean(await client.startSession());
    const s = await client.startSession();
    expectClean(s);
    expect(s.exchanges).toHaveLength(1);
    expect(s.exchanges[0]!.response!.final).toBe(true);
    expect(s.exchanges[0]!.response!.body.every((c) => c.kind === "Status"), story(s)).toBe(true);
    expect(s.hdrStatuses).toEqual(["212"]);
  });
});

describe("Notification-initiated session (DM_Notification §6, package 0, Alert 1200)", () => {
  it.each(["xml", "wbxml"] as const)("%s: the device verifies package 0, connects with Alert 1200 and its SessionID, and the job runs; the notification is consumed", async (encoding) => {
    const { devId, client } = await device("syncml:auth-md5", { encoding, tree: { "./Vendor/Setting": { value: "1", format: "int" } } });
    const job = await createJob(devId, [{ kind: "Replace", target: "./Vendor/Setting", data: "7", format: "int" }]);
    const n = await notify(devId, { uiMode: "background", initiator: "server" });
    expect(n).toMatchObject({ contentType: "application/vnd.syncml.notification", wspContentType: 68 });
    expect(n.sessionId).toMatch(/^[0-9a-fA-F]{1,4}$/);
    expect((await notifications(devId)).map((x) => x.id)).toEqual([n.id]);
    const s = await client.startSession({ package0: n.package0, expectPackage0: { uiMode: "background", sessionId: n.sessionId } });
    expectClean(s);
    expect(s.initiator).toBe("1200");
    expect(parseInt(s.sessionId, 16)).toBe(parseInt(n.sessionId, 16));
    expect(s.exchanges[0]!.request.body[0]).toMatchObject({ kind: "Alert", data: "1200" });
    expect((await getJob(devId, job.jobId)).commands[0]).toMatchObject({ kind: "Replace", target: "./Vendor/Setting", status: "200" });
    expect(client.tree.get("./Vendor/Setting")).toEqual({ value: "7", format: "int" });
    expect(await notifications(devId)).toEqual([]);
  });

  it("package 0 carries version 1.2, the ui-mode asked for, a server initiator, the server id and a digest over the nonce the device gave", async () => {
    const { devId, client } = await device("syncml:auth-basic");
    // a fresh device has given the server no nonce: the digest uses the empty nonce
    for (const uiMode of ["not-specified", "background", "informative", "user-interaction"] as const) {
      const n = await notify(devId, { uiMode });
      const check = client.checkPackage0(n.package0, { uiMode, sessionId: n.sessionId });
      expect(check.problems).toEqual([]);
      expect(check.fields).toMatchObject({ version: 12, uiMode, initiator: "server", serverId: SERVER_ID });
      expect(check.fields!.sessionId).toBe(parseInt(n.sessionId, 16));
    }
    // after a session in which the device gave the server a nonce (Chal in its Status for the server's
    // SyncHdr, so the session needs a second round trip: a job), package 0 uses that nonce
    await createJob(devId, [{ kind: "Get", target: "./DevInfo/Lang" }]);
    expectClean(await client.startSession());
    const given = client.serverNonce;
    expect(given.length).toBeGreaterThan(0);
    const n = await notify(devId, { uiMode: "informative" });
    expect(client.checkPackage0(n.package0).problems).toEqual([]);
    client.serverNonce = new Uint8Array(0);
    expect(client.checkPackage0(n.package0).problems[0]).toMatch(/digest/);
    client.serverNonce = given;
    // distinct notifications get distinct session ids
    const ids = new Set([n.sessionId, (await notify(devId)).sessionId, (await notify(devId)).sessionId]);
    expect(ids.size).toBe(3);
  });

  it("a tampered package 0 is refused by the device: it does not connect, the job stays queued", async () => {
    const { devId, client } = await device("syncml:auth-basic");
    const job = await createJob(devId, [{ kind: "Get", target: "./DevInfo/Mod" }]);
    const n = await notify(devId, { uiMode: "user-interaction" });
    const bytes = Uint8Array.from(atob(n.package0), (c) => c.charCodeAt(0));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1; // one bit of the server identifier
    const s = await client.startSession({ package0: bytes });
    expect(s.outcome).toBe("package0-rejected");
    expect(s.exchanges).toEqual([]);
    expect((await getJob(devId, job.jobId)).state).toBe("queued");
    // the genuine one works
    expectClean(await client.startSession({ package0: n.package0 }));
    expect((await getJob(devId, job.jobId)).state).toBe("done");
  });
});
