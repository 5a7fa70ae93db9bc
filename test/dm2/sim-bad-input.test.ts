// Bad input on every DM 2.0 resource, sent by the simulator's HTTP client with valid credentials:
// malformed JSON, a wrong media type, an unknown session id, another account's device or session.
// Each is answered in the one OMA error envelope, and nothing changes (the job, the devices, the sessions).
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { Dm2Account } from "./sim/account";
import { Operator } from "./sim/harness";
import { MEDIA, type Dm2Device } from "./sim/simulator";

const GATEWAY = "https://dm2sim.test";
const op = new Operator(GATEWAY, (url, init) => SELF.fetch(url, init));
const UNKNOWN = "0123456789abcdef0123456789abcdef";

interface World {
  mine: { device: Dm2Device; devId: string; owner: Dm2Account };
  theirs: { device: Dm2Device; devId: string; owner: Dm2Account };
  /** A live package of the other account: its session id and data URI. */
  theirSession: string;
  theirData: string;
  jobId: string;
}
let w: World;

function expectEnvelope(a: { status: number; json?: unknown; text: string }, status: number): void {
  expect(a.status, a.text).toBe(status);
  const body = a.json as { requestError?: { serviceException?: { messageId: string }; policyException?: { messageId: string } } };
  expect(body?.requestError?.serviceException ?? body?.requestError?.policyException, a.text).toBeDefined();
}

beforeAll(async () => {
  const mine = await op.device({ "./A": "1" });
  const theirs = await op.device({ "./B": "2" });
  const job = await op.queueJob(mine.devId, [{ kind: "Get", target: "./A" }]);
  await op.queueJob(theirs.devId, [{ kind: "Get", target: "./B" }]);
  // The other account's device stops midway: its session and data URIs are live.
  const s = await theirs.device.clientInitiated({ abort: { inPackage: 0, afterCommands: 0, spelling: "none" } });
  const p = s.packages[0]!;
  w = { mine, theirs, theirSession: p.sessionId!, theirData: String(p.commands[0]![2]), jobId: job.jobId };
});

describe("bad input on each DM 2.0 resource is refused with a clear error and changes nothing", () => {
  const json = (body: string, type: string = MEDIA.initiation) => ({ headers: { "Content-Type": type, Accept: MEDIA.request }, body });

  it("POST /sessions/next, /sessions/id/{id} and /alert: malformed JSON is 400, a wrong media type 415, an Accept of no DM type 406", async () => {
    const { owner, devId } = w.mine;
    for (const path of ["/sessions/next", "/alert", `/sessions/id/${UNKNOWN}`]) {
      const h = { "OMADM-DevID": devId };
      const malformed = await owner.call("POST", path, { headers: { ...json("").headers, ...h }, body: '{"Alert":[' });
      expectEnvelope(malformed, 400);
      const wrongType = await owner.call("POST", path, { headers: { "Content-Type": "text/plain", ...h }, body: "{}" });
      expectEnvelope(wrongType, 415);
      const xml = await owner.call("POST", path, { headers: { "Content-Type": "application/vnd.syncml.dm+xml", ...h }, body: "<SyncML/>" });
      expectEnvelope(xml, 415);
      const notAccepted = await owner.call("POST", path, { headers: { "Content-Type": MEDIA.initiation, Accept: "application/xml", ...h }, body: "{}" });
      expectEnvelope(notAccepted, 406);
      const badShape = await owner.call("POST", path, { headers: { ...json("").headers, ...h }, body: '{"Alert":[{"Data":"no type"}]}' });
      expectEnvelope(badShape, 400);
    }
    // None of that opened a session or touched the job.
    expect((await op.job(devId, w.jobId)).attempts).toBe(0);
    expect((await owner.pending()).length).toBe(0);
  });

  it("POST /sessions/id/{id}: an unknown session id and another account's session are 404; a malformed id is 400 naming it", async () => {
    const { owner, devId } = w.mine;
    const h = { ...json("{}").headers, "OMADM-DevID": devId };
    expectEnvelope(await owner.call("POST", `/sessions/id/${UNKNOWN}`, { headers: h, body: "{}" }), 404);
    expectEnvelope(await owner.call("POST", `/sessions/id/${w.theirSession}`, { headers: h, body: "{}" }), 404);
    // An id that cannot be one is bad input, as /openapi.json describes the parameter: 400 SVC0002 naming sessionId and the id.
    const malformed = await owner.call("POST", `/sessions/id/not-a-session`, { headers: h, body: "{}" });
    expectEnvelope(malformed, 400);
    expect(JSON.parse(malformed.text).requestError.serviceException.variables).toEqual(["sessionId", expect.stringContaining('"not-a-session" is not a session id')]);
  });

  it("PUT /sessions/id/{id}: malformed JSON, wrong media type, a Status that is not one, an unknown id, another account's session", async () => {
    const { owner } = w.mine;
    const put = (id: string, body: string, type: string = MEDIA.response) => owner.call("PUT", `/sessions/id/${id}`, { headers: { "Content-Type": type }, body });
    expectEnvelope(await put(UNKNOWN, '{"Status":[{"sc":200}'), 400);
    expectEnvelope(await put(UNKNOWN, '{"Status":[{"sc":200}]}', "text/html"), 415);
    expectEnvelope(await put(UNKNOWN, '{"Status":[{"sc":"two hundred"}]}'), 400);
    expectEnvelope(await put(UNKNOWN, '{"Status":[{"sc":200}]}'), 404);
    expectEnvelope(await put(w.theirSession, '{"Status":[{"sc":200}]}'), 404);
    // The other account's session is still live: its own device finishes it.
    const theirs = await w.theirs.owner.call("PUT", `/sessions/id/${w.theirSession}`, { headers: { "Content-Type": MEDIA.response }, body: '{"Status":[{"sc":404}]}' });
    expect(theirs.status).toBe(200);
  });

  it("DELETE /session/id/{id} and /sessions/id/{id}: an unknown id and another account's session are 404", async () => {
    const { owner } = w.mine;
    const other = await op.device({ "./C": "3" });
    await op.queueJob(other.devId, [{ kind: "Get", target: "./C" }]);
    const s = await other.device.clientInitiated({ abort: { inPackage: 0, afterCommands: 0, spelling: "none" } });
    const live = s.packages[0]!.sessionId!;
    for (const spelling of ["session", "sessions"]) {
      expectEnvelope(await owner.call("DELETE", `/${spelling}/id/${UNKNOWN}`), 404);
      expectEnvelope(await owner.call("DELETE", `/${spelling}/id/${live}`), 404);
    }
    expect((await other.owner.pending()).map((p) => p.state)).toEqual(["active"]);
  });

  it("the data resources of an HGET/HPUT: an unknown session, another account's package, an index out of range", async () => {
    const { owner } = w.mine;
    const path = new URL(w.theirData).pathname.replace(/^\/dm\/v2/, "");
    expectEnvelope(await owner.call("GET", path), 404);
    expectEnvelope(await owner.call("PUT", path, { headers: { "Content-Type": "text/plain" }, body: "stolen" }), 404);
    expectEnvelope(await owner.call("POST", path, { headers: { "Content-Type": "text/plain" }, body: "stolen" }), 404);
    expectEnvelope(await owner.call("GET", `/sessions/id/${UNKNOWN}/data/0`), 404);
    // An index that cannot be one is bad input, as /openapi.json's pattern for it says (decision 17).
    expectEnvelope(await owner.call("GET", `/sessions/id/${UNKNOWN}/data/x`), 400);
  });

  it("devices: another account's device is 404 on GET, PUT, POST and DELETE; registering it is 409; bad forms and JSON are 400, other types 415", async () => {
    const { owner } = w.mine;
    const theirs = encodeURIComponent(w.theirs.devId);
    expectEnvelope(await owner.device(w.theirs.devId), 404);
    expectEnvelope(await owner.updateDevice(w.theirs.devId, { name: "mine now" }), 404);
    expectEnvelope(await owner.call("POST", `/devices/${theirs}`, { headers: { "Content-Type": "application/json", Accept: "application/json" }, body: '{"name":"mine now"}' }), 404);
    expectEnvelope(await owner.unregister(w.theirs.devId), 404);
    expectEnvelope(await owner.registerWithForm({ devId: w.theirs.devId }), 409);
    expectEnvelope(await owner.registerWithForm({ devId: "has space", protocol: "DM3.0" }), 400);
    expectEnvelope(await owner.call("POST", "/devices/new", { headers: { "Content-Type": "application/json", Accept: "application/json" }, body: '{"devId":' }), 400);
    expectEnvelope(await owner.call("POST", "/devices/new", { headers: { "Content-Type": "text/plain", Accept: "application/json" }, body: "devId=x" }), 415);
    expectEnvelope(await owner.call("PUT", `/devices/${encodeURIComponent(w.mine.devId)}`, { headers: { "Content-Type": "application/json", Accept: "application/json" }, body: '{"name":' }), 400);
    expectEnvelope(await owner.updateDevice(w.mine.devId, { protocol: "DM9" }), 400);
    expectEnvelope(await owner.device("IMEI:nobody-has-this"), 404);
    // Nothing moved: the other account still has its device, this one only its own.
    expect((await w.theirs.owner.devices()).map((d) => d.devId)).toEqual([w.theirs.devId]);
    expect((await owner.devices()).map((d) => [d.devId, d.name])).toEqual([[w.mine.devId, "Simulated"]]);
  });

  it("sessions/next naming another account's device in OMADM-DevID is 404, and opens nothing there", async () => {
    const { owner } = w.mine;
    const a = await owner.call("POST", "/sessions/next", { headers: { "Content-Type": MEDIA.initiation, "OMADM-DevID": w.theirs.devId }, body: "{}" });
    expectEnvelope(a, 404);
    const alert = await owner.call("POST", "/alert", { headers: { "Content-Type": MEDIA.initiation, "OMADM-DevID": w.theirs.devId }, body: '{"Alert":[{"AlertType":"x"}]}' });
    expectEnvelope(alert, 404);
  });

  it("the session lists and device list without valid credentials are 401 with the Digest and Basic challenges", async () => {
    const { Dm2Account } = await import("./sim/account");
    const stranger = new Dm2Account(GATEWAY, "nobody-here", "some password 123", "basic", (u, i) => SELF.fetch(u, i));
    for (const path of ["/sessions/pending", "/sessions/completed", "/devices", "/devices/new"]) {
      const a = await stranger.call("GET", path, { headers: { Accept: "application/json" } });
      expectEnvelope(a, 401);
      expect(a.headers.get("WWW-Authenticate")).toMatch(/Digest .*algorithm=SHA-256/);
    }
  });
});
