// The DM server's own checks of its session engine with hand-written messages; the full device
// simulator (written from the spec) is in test/dm/.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { authMd5Digest, decodeMessage, encodeMessage, nonceFromNextNonce, type SyncMLMessage } from "../src/codec";
import { ADMIN, call, enc, ORIGIN } from "./helpers";

const devId = `IMEI:${Date.now()}`;
const hdr = (msgId: string, extra: Partial<SyncMLMessage["header"]> = {}): SyncMLMessage["header"] => ({
  verDTD: "1.2", verProto: "DM/1.2", sessionId: "1A", msgId, target: { locURI: `${ORIGIN}/dm` }, source: { locURI: devId }, meta: { maxMsgSize: 8192 }, ...extra,
});

async function post(url: string, m: SyncMLMessage, encoding: "xml" | "wbxml" = "wbxml") {
  const res = await SELF.fetch(url, { method: "POST", headers: { "Content-Type": `application/vnd.syncml.dm+${encoding}` }, body: encodeMessage(m, encoding) });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get("content-type")).toBe(`application/vnd.syncml.dm+${encoding}`);
  return decodeMessage(new Uint8Array(await res.arrayBuffer()), { encoding });
}

describe("SyncML DM 1.2 session engine", () => {
  it("challenges, authenticates with auth-md5, runs a queued Get and ends the session", async () => {
    expect((await call("PUT", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN, body: { serverId: "oma-edge", authType: "syncml:auth-md5", clientUsername: devId, clientPassword: "device-secret", serverPassword: "server-secret" } })).status).toBe(201);
    const job = await call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands: [{ kind: "Get", target: "./DevInfo/Mod" }] } });
    expect(job.status, job.text).toBe(201);
    const pkg1 = (msgId: string, cred?: string): SyncMLMessage => ({
      header: hdr(msgId, cred ? { cred: { meta: { type: "syncml:auth-md5", format: "b64" }, data: cred } } : {}),
      body: [
        { kind: "Alert", cmdId: "1", data: "1201", items: [] },
        { kind: "Replace", cmdId: "2", items: [{ source: { locURI: "./DevInfo/DevId" }, data: devId }, { source: { locURI: "./DevInfo/Man" }, data: "Acme" }] },
      ],
      final: true,
    });
    const challenge = await post(`${ORIGIN}/dm`, pkg1("1"));
    const st = challenge.body[0]!;
    expect(st).toMatchObject({ kind: "Status", cmd: "SyncHdr", data: "407" });
    const nonce = (st as { chal?: { meta: { nextNonce?: string } } }).chal!.meta.nextNonce!;
    const pkg2 = await post(`${ORIGIN}/dm`, pkg1("2", authMd5Digest(devId, "device-secret", nonceFromNextNonce(nonce))));
    expect(pkg2.body[0]).toMatchObject({ kind: "Status", cmd: "SyncHdr", data: "212" });
    // the RespURI carries a 256-bit secret of this session (issue 10 item 1: a continuation is accepted nowhere else)
    expect(pkg2.header.respURI).toMatch(new RegExp(`^${ORIGIN}/dm/s/${enc(devId)}/[A-Za-z0-9_-]{43}$`));
    expect(pkg2.header.cred?.data).toBe(authMd5Digest("oma-edge", "server-secret", new Uint8Array()));
    const get = pkg2.body.find((c) => c.kind === "Get")!;
    expect(get).toMatchObject({ kind: "Get", items: [{ target: { locURI: "./DevInfo/Mod" } }] });
    const pkg4 = await post(pkg2.header.respURI!, {
      header: hdr("3"),
      body: [
        { kind: "Status", cmdId: "1", msgRef: "2", cmdRef: "0", cmd: "SyncHdr", data: "212" },
        { kind: "Status", cmdId: "2", msgRef: "2", cmdRef: get.cmdId, cmd: "Get", data: "200" },
        { kind: "Results", cmdId: "3", msgRef: "2", cmdRef: get.cmdId, items: [{ source: { locURI: "./DevInfo/Mod" }, meta: { format: "chr" }, data: "Model-9" }] },
      ],
      final: true,
    });
    expect(pkg4.body.filter((c) => c.kind !== "Status")).toEqual([]);
    expect(pkg4.final).toBe(true);
    const done = await call("GET", new URL(job.json.job.resourceURL).pathname, { headers: ADMIN });
    expect(done.json.job).toMatchObject({ state: "done", commands: [{ kind: "Get", status: "200", results: [{ source: "./DevInfo/Mod", data: "Model-9" }] }] });
    const tree = await call("GET", `/dm/v1/devices/${enc(devId)}/tree`, { headers: ADMIN });
    expect(tree.json.tree["./DevInfo/Mod"].value).toBe("Model-9");
    expect(tree.json.tree["./DevInfo/Man"].value).toBe("Acme");
  });

  it("malformed SyncML and unknown devices get a clear error", async () => {
    const bad = await SELF.fetch(`${ORIGIN}/dm`, { method: "POST", headers: { "Content-Type": "application/vnd.syncml.dm+xml" }, body: "<SyncML><SyncHdr>" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).requestError.serviceException.variables.join(" ")).toMatch(/byte/);
    const unknown = await SELF.fetch(`${ORIGIN}/dm`, { method: "POST", headers: { "Content-Type": "application/vnd.syncml.dm+xml" }, body: encodeMessage({ header: { ...hdr("1"), source: { locURI: "IMEI:000" } }, body: [], final: true }, "xml") });
    expect(unknown.status).toBe(404);
    expect((await SELF.fetch(`${ORIGIN}/dm`, { method: "POST", headers: { "Content-Type": "text/xml" }, body: "<x/>" })).status).toBe(415);
  });
});

describe("northbound access: the operator's API", () => {
  it("/dm/v1 takes the admin token only: a service provider's dm:manage token is 403 pointing to /dmws/v1, other tokens 403, no token 401", async () => {
    const { registerClient } = await import("./helpers");
    const sp = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "FOTA provider", scopes: ["dm:manage"], grant_types: ["client_credentials"] } });
    const otherApp = await registerClient(["twinning:primary"]);
    const token = async (id: string, secret: string) =>
      (await SELF.fetch(`${ORIGIN}/oauth/token`, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa(`${id}:${secret}`)}` }, body: "grant_type=client_credentials" }).then((r) => r.json())) as { access_token: string };
    const spToken = (await token(sp.json.client_id, sp.json.client_secret)).access_token;
    const dev = `IMEI:sp-${Date.now()}`;
    await call("PUT", `/admin/v1/devices/${enc(dev)}`, { headers: ADMIN, body: { serverId: "oma-edge", authType: "syncml:auth-basic", clientUsername: dev, clientPassword: "device-secret", serverPassword: "server-secret" } });
    const path = `/dm/v1/devices/${enc(dev)}/jobs`;
    const body = { commands: [{ kind: "Exec", target: "./FUMO/Pkg1/Update", correlator: "c1" }] };
    const refused = await call("POST", path, { token: spToken, body });
    expect(refused.status).toBe(403);
    expect(refused.json.requestError.policyException).toMatchObject({ messageId: "POL0001", variables: [expect.stringMatching(/operator.*\/dmws\/v1/)] });
    for (const p of [`/dm/v1/devices/${enc(dev)}/tree`, `/dm/v1/devices/${enc(dev)}/notifications`]) expect((await call("GET", p, { token: spToken })).status).toBe(403);
    const other = (await token(otherApp.client_id, otherApp.client_secret)).access_token;
    expect((await call("POST", path, { token: other, body })).status).toBe(403);
    expect((await call("POST", path, { body })).status).toBe(401);
    expect((await call("POST", path, { token: "not-a-token", body })).status).toBe(401);
    // The operator queues the same job with its admin token.
    const queued = await call("POST", path, { headers: ADMIN, body });
    expect(queued.status, queued.text).toBe(201);
    expect(queued.json.job.state).toBe("queued");
  });
});
