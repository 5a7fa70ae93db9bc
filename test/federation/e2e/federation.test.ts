// Inter-MNO twinning between two real gateways (issue 14): MNO 001-01 ("A") and MNO 001-02 ("B"),
// each its own `wrangler dev` with its own state, registered as each other's peers through the
// admin API only. A third operator ("C", fake-operator.ts) is an independent client of the contract.
import { randomUUID } from "node:crypto";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startFakeOperator, type FakeOperator } from "./fake-operator";
import { ADMIN, appClient, basic, call, claimsOf, device, disposeOperators, enc, eventually, freePortClosed, heard, listen, newAddress, PRIMARY_SERVICES, registerPeer, startOperator, startReceiver, subscribe, type Device, type Operator } from "./operators";

let A: Operator;
let B: Operator;
let C: FakeOperator;

beforeAll(async () => {
  [A, B, C] = await Promise.all([startOperator({ mcc: "001", mnc: "01" }), startOperator({ mcc: "001", mnc: "02" }), startFakeOperator()]);
});

// A failing test leaves both gateways' output (across restarts) for whoever reads the report.
afterEach(async (ctx) => {
  if (ctx.task.result?.state !== "fail") return;
  const dir = process.env.FEDERATION_LOG_DIR ?? (await mkdtemp(join(tmpdir(), "oma-edge-federation-logs-")));
  await mkdir(dir, { recursive: true });
  await Promise.all([writeFile(join(dir, "A.log"), A.output()), writeFile(join(dir, "B.log"), B.output())]);
  console.error(`both gateways' output: ${dir}/A.log, ${dir}/B.log`);
});

afterAll(async () => {
  await Promise.all([disposeOperators(), C?.close()]);
});

describe("peer registry (HLF-IC-001)", () => {
  it("each operator registers the other through the admin API, from the peer's own metadata", async () => {
    const atA = await registerPeer(A, B);
    expect(atA.status, atA.text).toBe(201);
    expect(atA.json.peer).toMatchObject({ mno: { mcc: "001", mnc: "02" }, issuer: B.url, tokenEndpoint: `${B.url}/oauth/token`, jwksUri: `${B.url}/oauth/jwks` });
    const atB = await registerPeer(B, A);
    expect(atB.status, atB.text).toBe(201);
    expect(atB.json.peer.tokenEndpoint).toBe(`${A.url}/oauth/token`);

    expect((await registerPeer(A, B)).status).toBe(200);
    const list = await call(A.url, "GET", "/admin/v1/peers", { headers: ADMIN });
    expect(list.json.peers.map((p: any) => p.issuer)).toEqual([B.url]);
    const one = await call(B.url, "GET", `/admin/v1/peers/${A.key}`, { headers: ADMIN });
    expect(one.status).toBe(200);
    expect(one.json.peer.issuer).toBe(A.url);
    expect((await call(A.url, "GET", "/admin/v1/peers", {})).status).toBe(401);
  });

  it("a peer whose metadata cannot be read, or whose URL is not allowed, is refused and nothing is kept", async () => {
    const closed = await freePortClosed();
    const cases: [string, string, RegExp][] = [
      ["001-09", `http://127.0.0.1:${closed}`, /authorization server metadata .* unreachable|no answer/],
      ["001-09", "https://10.1.2.3", /private|reserved/],
      ["001-09", "http://peer.example.com", /https required/],
      ["001-09", "https://localhost.internal", /internal host/],
      ["001-09", `${B.url}/?x=1`, /query or fragment/],
      ["001-09", `${B.url}/oauth`, /metadata/],
    ];
    for (const [mno, issuer, why] of cases) {
      const res = await call(A.url, "PUT", `/admin/v1/peers/${mno}`, { headers: ADMIN, body: { issuer } });
      expect(res.status, `${issuer}: ${res.text}`).toBe(400);
      expect(res.json.requestError.serviceException.variables[0]).toBe("issuer");
      expect(res.json.requestError.serviceException.variables[1]).toMatch(why);
    }
    const own = await call(A.url, "PUT", `/admin/v1/peers/${A.key}`, { headers: ADMIN, body: { issuer: B.url } });
    expect(own.status).toBe(400);
    expect(own.json.requestError.serviceException.variables[0]).toBe("mno");
    const taken = await call(A.url, "PUT", "/admin/v1/peers/001-09", { headers: ADMIN, body: { issuer: B.url } });
    expect(taken.status).toBe(400);
    expect(taken.json.requestError.serviceException.variables[1]).toMatch(/already registered for MNO 001-02/);
    expect((await call(A.url, "GET", "/admin/v1/peers/001-09", { headers: ADMIN })).status).toBe(404);
    expect((await call(A.url, "PUT", "/admin/v1/peers/1-2", { headers: ADMIN, body: { issuer: B.url } })).status).toBe(400);
  });
});

describe("trust between the gateways", () => {
  it("each gateway obtains a twinning:federation token at the other (private_key_jwt with its own signing key) and calls its API", async () => {
    const fromA = await call(A.url, "GET", `/admin/v1/peers/${B.key}/operator`, { headers: ADMIN });
    expect(fromA.status, fromA.text).toBe(200);
    expect(fromA.json.operator).toEqual({ mnos: [B.mno], primaryServices: PRIMARY_SERVICES(B.port) });
    const fromB = await call(B.url, "GET", `/admin/v1/peers/${A.key}/operator`, { headers: ADMIN });
    expect(fromB.status, fromB.text).toBe(200);
    expect(fromB.json.operator.mnos).toEqual([A.mno]);
  });

  it("an issuer that is not a registered peer gets 401 at the token endpoint; tokens of other kinds get nothing from the federation API", async () => {
    const refused = await C.token(A.url);
    expect(refused.status).toBe(401);
    expect(refused.json.error).toBe("invalid_client");
    expect((await call(A.url, "GET", "/federation/v1/operator")).status).toBe(401);
    expect((await call(A.url, "GET", "/federation/v1/operator", { token: "not-a-token" })).status).toBe(401);
  });

  it("a removed peer's token stops working; registering it again needs a new token", async () => {
    const reg = await call(A.url, "PUT", "/admin/v1/peers/001-03", { headers: ADMIN, body: { issuer: C.issuer } });
    expect(reg.status, reg.text).toBe(201);
    const tok = await C.token(A.url);
    expect(tok.status, tok.text).toBe(200);
    expect(tok.json.scope).toBe("twinning:federation");
    const token = tok.json.access_token;
    expect((await call(A.url, "GET", "/federation/v1/operator", { token })).status).toBe(200);
    expect((await call(A.url, "DELETE", "/admin/v1/peers/001-03", { headers: ADMIN })).status).toBe(204);
    expect((await call(A.url, "GET", "/federation/v1/operator", { token })).status).toBe(401);
    expect((await C.token(A.url)).status).toBe(401);
  });
});

describe("operator-to-operator requests", () => {
  it("Idempotency-Key: a retry gets the first answer and no second effect; the key is required and bound to its request", async () => {
    expect([200, 201]).toContain((await call(A.url, "PUT", "/admin/v1/peers/001-03", { headers: ADMIN, body: { issuer: C.issuer } })).status);
    const token = (await C.token(A.url)).json.access_token;
    const body = { secondary: newAddress(), primaryMno: A.mno };
    const first = await call(A.url, "POST", "/federation/v1/activationCodes", { token, body, headers: { "Idempotency-Key": "k-1" } });
    expect(first.status, first.text).toBe(201);
    expect(first.json.activationCode.mno).toEqual(A.mno);
    const again = await call(A.url, "POST", "/federation/v1/activationCodes", { token, body, headers: { "Idempotency-Key": '"k-1"' } });
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.json).toEqual(first.json);
    const other = await call(A.url, "POST", "/federation/v1/activationCodes", { token, body: { ...body, secondary: newAddress() }, headers: { "Idempotency-Key": "k-1" } });
    expect(other.status).toBe(422);
    const missing = await call(A.url, "POST", "/federation/v1/activationCodes", { token, body });
    expect(missing.status).toBe(400);
    expect(missing.json.requestError.serviceException.variables[0]).toBe("Idempotency-Key");
    const foreign = await call(A.url, "POST", "/federation/v1/activationCodes", { token, body: { ...body, primaryMno: B.mno }, headers: { "Idempotency-Key": "k-2" } });
    expect(foreign.status).toBe(400);
    expect(foreign.json.requestError.serviceException.messageId).toBe("SVC0003");
  });
});

/** A data-channel offer as Chromium writes it (the shape test/webrtc/fixtures.ts uses). */
const DATA_OFFER = [
  "v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "a=extmap-allow-mixed", "a=msid-semantic: WMS",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=ice-ufrag:EsAw", "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y", "a=ice-options:trickle",
  "a=fingerprint:sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4B:A2:2E:E0:6D:6A:5A:1F:2C:9E:3D:11",
  "a=setup:actpass", "a=mid:0", "a=sctp-port:5000", "a=max-message-size:262144", "",
].join("\r\n");
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
const DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code";
const status = (res: { status: number; text: string }, expected: number) => expect(res.status, res.text).toBe(expected);

/** A's primary twins B's secondary with a code generated by A (HLF-IC-002/003/004): the device asks B, B asks A. */
async function twinAcross(p: Device, s: Device, name: string) {
  const code = await call(B.url, "POST", `/twinning/v1/${enc(s.address)}/activationCodes`, { token: s.token, body: { primaryMno: A.mno } });
  status(code, 201);
  const twin = await call(A.url, "POST", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token, body: { activationCode: code.json.activationCode.code, name } });
  status(twin, 201);
  return { code: code.json.activationCode, twin: twin.json.twin };
}

const relationshipAt = async (s: Device) => call(s.op.url, "GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
const twinAt = async (p: Device, s: Device) => call(p.op.url, "GET", `/twinning/v1/${enc(p.address)}/twins/${enc(s.address)}`, { token: p.token });

describe("inter-MNO twinning between A (001-01) and B (001-02)", () => {
  it("HLF-IC-002..007, SD-009: a code generated by A for B's secondary; toggles from each side reach both devices' callbacks and WebSockets; A's delegated token; deactivation from B", async () => {
    const [p, s, callee] = await Promise.all([device(A), device(B), device(A)]);
    const [lp, ls] = await Promise.all([listen(p), listen(s)]);
    try {
      // HLF-TE-006, SD-003: B asks A, A generates and keeps the code; the device hears A's identity.
      const { code, twin } = await twinAcross(p, s, "watch");
      expect(code.mno).toEqual(A.mno);
      expect(twin).toMatchObject({ secondary: s.address, name: "watch", status: "On", secondaryMno: B.mno });
      // HLF-IC-006: B's relationship resource names the primary's services, from A's PRIMARY_SERVICES.
      const rel = await eventually("the relationship active at B", async () => {
        const r = await relationshipAt(s);
        return r.status === 200 ? r : undefined;
      });
      expect(rel.json.relationship).toMatchObject({ primary: p.address, name: "watch", status: "On", primaryMno: A.mno, primaryServices: PRIMARY_SERVICES(A.port) });
      await heard(lp, "Activated at A's primary", (n) => n.event === "Activated" && n.secondary === s.address);
      await heard(ls, "Activated at B's secondary", (n) => n.event === "Activated" && n.primary === p.address);

      // HLF-TE-008/009 across operators: B's secondary can be nobody's primary, A's primary nobody's secondary.
      const asPrimary = await call(B.url, "POST", `/twinning/v1/${enc(s.address)}/twins`, { token: s.token, body: { activationCode: "123456" } });
      status(asPrimary, 403);
      expect(asPrimary.json.requestError.policyException.messageId).toBe("POL1037");
      const asSecondary = await call(A.url, "POST", `/twinning/v1/${enc(p.address)}/activationCodes`, { token: p.token, body: { primaryMno: B.mno } });
      status(asSecondary, 403);
      expect(asSecondary.json.requestError.policyException.messageId).toBe("POL1037");

      // HLF-IC-005/007: the primary toggles at A; it takes effect at B and both devices hear it.
      status(await call(A.url, "PUT", `/twinning/v1/${enc(p.address)}/twins/watch/status`, { token: p.token, body: { status: "Off" } }), 200);
      await heard(ls, "Off at B's secondary", (n) => n.event === "StatusChanged" && n.status === "Off" && n.actor === "primary");
      await heard(lp, "Off at A's primary", (n) => n.event === "StatusChanged" && n.status === "Off" && n.actor === "primary");
      expect((await relationshipAt(s)).json.relationship.status).toBe("Off");

      // The secondary toggles at B: A decides, both networks apply it, both devices hear it.
      const on = await call(B.url, "PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: "On" } });
      status(on, 200);
      expect(on.json.relationship).toMatchObject({ status: "On", statusChangedBy: "secondary" });
      expect((await twinAt(p, s)).json.twin).toMatchObject({ status: "On", statusChangedBy: "secondary" });
      await heard(lp, "On at A's primary", (n) => n.event === "StatusChanged" && n.status === "On" && n.actor === "secondary");
      await heard(ls, "On at B's secondary", (n) => n.event === "StatusChanged" && n.status === "On" && n.actor === "secondary");

      // Concurrent toggles from both sides converge to one status (A's versions decide).
      for (const [fromA, fromB] of [["Off", "On"], ["On", "Off"]] as const) {
        await Promise.all([
          call(A.url, "PUT", `/twinning/v1/${enc(p.address)}/twins/watch/status`, { token: p.token, body: { status: fromA } }),
          call(B.url, "PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: fromB } }),
        ]);
        await eventually("both networks agree", async () => {
          const [atA, atB] = [(await twinAt(p, s)).json.twin.status, (await relationshipAt(s)).json.relationship.status];
          return atA === atB ? atA : undefined;
        });
      }
      status(await call(A.url, "PUT", `/twinning/v1/${enc(p.address)}/twins/watch/status`, { token: p.token, body: { status: "On" } }), 200);
      await eventually("On at B", async () => ((await relationshipAt(s)).json.relationship.status === "On" ? true : undefined));

      // HLF-IC-006, SD-009: the secondary's relationship token (RFC 8628) exchanged at B for a token issued by A.
      const app = await appClient(B);
      const bound = await call(B.url, "POST", "/oauth/token", { headers: { Authorization: basic(app) }, form: { grant_type: DEVICE_CODE, device_code: code.deviceCode } });
      status(bound, 200);
      const exchange = (audience?: string) =>
        call(B.url, "POST", "/oauth/token", {
          headers: { Authorization: basic(app) },
          form: { grant_type: TOKEN_EXCHANGE, subject_token: bound.json.access_token, subject_token_type: ACCESS_TOKEN, scope: "twinning:delegated", ...(audience ? { audience } : {}) },
        });
      const local = await exchange();
      status(local, 400);
      expect(local.json.error).toBe("invalid_target");
      const delegated = await exchange(A.url);
      status(delegated, 200);
      expect(delegated.json).toMatchObject({ token_type: "Bearer", scope: "twinning:delegated", issued_token_type: ACCESS_TOKEN });
      const claims = claimsOf(delegated.json.access_token);
      expect(claims).toMatchObject({ iss: A.url, sub: p.address, act: { sub: s.address }, scope: "twinning:delegated" });
      // A's API accepts it: the secondary calls as the primary through A's WebRTC signaling.
      const callAsPrimary = () =>
        call(A.url, "POST", `/webrtcsignaling/v1/${enc(p.address)}/sessions`, {
          token: delegated.json.access_token,
          body: { wrtcsSession: { tParticipantAddress: callee.address, offer: { sdp: DATA_OFFER } } },
        });
      const placed = await callAsPrimary();
      status(placed, 201);
      expect(placed.json.wrtcsSession.originatorAddress).toBe(p.address);

      // Issue 14: a peer acts only on relationships involving its own subscribers (C = 001-03 is registered at A).
      expect([200, 201]).toContain((await call(A.url, "PUT", "/admin/v1/peers/001-03", { headers: ADMIN, body: { issuer: C.issuer } })).status);
      const cToken = (await C.token(A.url)).json.access_token;
      const intruder = await call(A.url, "PUT", `/federation/v1/twins/${claims.twin_id}/status`, {
        token: cToken,
        headers: { "Idempotency-Key": randomUUID() },
        body: { primary: p.address, secondary: s.address, status: "Off" },
      });
      status(intruder, 403);
      const stolen = await call(A.url, "POST", `/federation/v1/twins/${claims.twin_id}/delegatedTokens`, {
        token: cToken,
        headers: { "Idempotency-Key": randomUUID() },
        body: { primary: p.address, secondary: s.address },
      });
      status(stolen, 403);

      // HLF-SD-007 across networks: the secondary ends it at B; it ends at A; A's delegated token dies with it.
      status(await call(B.url, "DELETE", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token }), 204);
      status(await twinAt(p, s), 404);
      expect((await call(A.url, "GET", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token })).json.twinList.twin).toEqual([]);
      status(await callAsPrimary(), 401);
      status(await relationshipAt(s), 404);
      await heard(lp, "Deactivated at A's primary", (n) => n.event === "Deactivated" && n.actor === "secondary");
      await heard(ls, "Deactivated at B's secondary", (n) => n.event === "Deactivated" && n.actor === "secondary");
    } finally {
      await Promise.all([lp.close(), ls.close()]);
    }
  });

  it("HLF-IC-004: a code generated at B is named by A's primary (activationCodeMno) and redeemed at B; deactivation from A ends it at B", async () => {
    const [p, s] = await Promise.all([device(A), device(B)]);
    const code = await call(B.url, "POST", `/twinning/v1/${enc(s.address)}/activationCodes`, { token: s.token, body: {} });
    status(code, 201);
    expect(code.json.activationCode.mno).toEqual(B.mno);
    const wrong = await call(A.url, "POST", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token, body: { activationCode: code.json.activationCode.code === "000000" ? "000001" : "000000", activationCodeMno: B.mno } });
    status(wrong, 400);
    expect(wrong.json.requestError.serviceException.variables[0]).toBe("activationCode");
    const unknown = await call(A.url, "POST", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token, body: { activationCode: code.json.activationCode.code, activationCodeMno: { mcc: "001", mnc: "77" } } });
    status(unknown, 400);
    expect(unknown.json.requestError.serviceException.variables[0]).toBe("activationCodeMno");
    const twin = await call(A.url, "POST", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token, body: { activationCode: code.json.activationCode.code, activationCodeMno: B.mno } });
    status(twin, 201);
    expect(twin.json.twin).toMatchObject({ secondary: s.address, secondaryMno: B.mno, status: "On" });
    const rel = await eventually("active at B", async () => {
      const r = await relationshipAt(s);
      return r.status === 200 ? r : undefined;
    });
    expect(rel.json.relationship).toMatchObject({ primary: p.address, primaryMno: A.mno });
    // HLF-TE-005: the code was spent at B.
    const other = await device(A);
    status(await call(A.url, "POST", `/twinning/v1/${enc(other.address)}/twins`, { token: other.token, body: { activationCode: code.json.activationCode.code, activationCodeMno: B.mno } }), 400);

    status(await call(A.url, "DELETE", `/twinning/v1/${enc(p.address)}/twins/${enc(s.address)}`, { token: p.token }), 204);
    await eventually("ended at B", async () => ((await relationshipAt(s)).status === 404 ? true : undefined));
  });
});

describe("failures", () => {
  it("a peer that hangs: the caller gives up within its bound and answers 503 SVC0001 naming the peer MNO", async () => {
    expect([200, 201]).toContain((await call(A.url, "PUT", "/admin/v1/peers/001-03", { headers: ADMIN, body: { issuer: C.issuer } })).status);
    // C's token endpoint never answers.
    const res = await call(A.url, "GET", "/admin/v1/peers/001-03/operator", { headers: ADMIN });
    expect(res.status).toBe(503);
    expect(res.json.requestError.serviceException.variables[0]).toMatch(/^peer MNO 001-03 unavailable: no answer within \d+ ms/);
    expect(res.headers.get("retry-after")).toBeTruthy();
  });

  it("the secondary's gateway killed between prepare and confirmation: after its restart the retried confirmation lands and both sides agree", async () => {
    expect([200, 201]).toContain((await call(B.url, "PUT", "/admin/v1/peers/001-03", { headers: ADMIN, body: { issuer: C.issuer } })).status);
    const token = (await C.token(B.url)).json.access_token;
    const watch = await device(B);
    const code = await call(B.url, "POST", `/twinning/v1/${enc(watch.address)}/activationCodes`, { token: watch.token, body: {} });
    const relationshipId = randomUUID();
    const primary = newAddress();
    const prepared = await call(B.url, "PUT", `/federation/v1/activations/${relationshipId}`, {
      token,
      headers: { "Idempotency-Key": `prepare:${relationshipId}` },
      body: { primary, activationCode: code.json.activationCode.code, name: "car", activatedAt: new Date().toISOString() },
    });
    expect(prepared.status, prepared.text).toBe(201);
    await B.stop();
    const confirm = () =>
      call(B.url, "POST", `/federation/v1/activations/${relationshipId}/confirmation`, { token, headers: { "Idempotency-Key": `confirm:${relationshipId}` }, body: { secondary: watch.address } });
    await expect(confirm()).rejects.toThrow();
    await B.start();
    expect((await confirm()).status).toBe(204);
    const rel = await call(B.url, "GET", `/twinning/v1/${enc(watch.address)}/relationship`, { token: watch.token });
    expect(rel.status, rel.text).toBe(200);
    expect(rel.json.relationship).toMatchObject({ primary, status: "On" });
    // Retrying once more changes nothing: the kept answer is replayed.
    expect((await confirm()).status).toBe(204);
  });

  it("a peer that is down gets 503 SVC0001 naming its MNO; once restarted both sides work again without anyone registering again", async () => {
    await B.stop();
    const down = await call(A.url, "GET", `/admin/v1/peers/${B.key}/operator`, { headers: ADMIN });
    expect(down.status).toBe(503);
    expect(down.json.requestError.serviceException.messageId).toBe("SVC0001");
    expect(down.json.requestError.serviceException.variables[0]).toMatch(/peer MNO 001-02/);
    await B.start();
    const up = await call(A.url, "GET", `/admin/v1/peers/${B.key}/operator`, { headers: ADMIN });
    expect(up.status, up.text).toBe(200);
    expect((await call(B.url, "GET", `/admin/v1/peers/${A.key}/operator`, { headers: ADMIN })).status).toBe(200);
  });

  it("a peer down mid-flow: devices get 503 SVC0001 naming it with nothing written; a toggle and a deactivation made meanwhile reach it after its restart, and both sides agree", async () => {
    const [p, s, p2, s2, p3, s3, d] = await Promise.all([device(A), device(B), device(A), device(B), device(A), device(B), device(A)]);
    await twinAcross(p, s, "kept");
    await twinAcross(p3, s3, "ended");
    const code2 = await call(B.url, "POST", `/twinning/v1/${enc(s2.address)}/activationCodes`, { token: s2.token, body: {} });
    status(code2, 201);
    for (const x of [s, s3]) await eventually("active at B", async () => ((await relationshipAt(x)).status === 200 ? true : undefined));
    await B.stop();
    try {
      const refused = await call(A.url, "POST", `/twinning/v1/${enc(p2.address)}/twins`, { token: p2.token, body: { activationCode: code2.json.activationCode.code, activationCodeMno: B.mno } });
      status(refused, 503);
      expect(refused.json.requestError.serviceException.messageId).toBe("SVC0001");
      expect(refused.json.requestError.serviceException.variables[0]).toMatch(/^peer MNO 001-02 unavailable/);
      const noCode = await call(A.url, "POST", `/twinning/v1/${enc(d.address)}/activationCodes`, { token: d.token, body: { primaryMno: B.mno } });
      status(noCode, 503);
      expect(noCode.json.requestError.serviceException.variables[0]).toMatch(/^peer MNO 001-02 unavailable/);
      expect((await call(A.url, "GET", `/twinning/v1/${enc(p2.address)}/twins`, { token: p2.token })).json.twinList.twin).toEqual([]);
      // The primary decides: these take effect at A now and are retried toward B from A's alarms.
      status(await call(A.url, "PUT", `/twinning/v1/${enc(p.address)}/twins/kept/status`, { token: p.token, body: { status: "Off" } }), 200);
      status(await call(A.url, "DELETE", `/twinning/v1/${enc(p3.address)}/twins/ended`, { token: p3.token }), 204);
    } finally {
      await B.start();
    }
    // Nobody calls again: A's alarms retry toward B (at most 30 s apart, issue 14) until B confirms.
    // The bound leaves room for a loaded machine; a message that is never retried still fails it.
    await eventually("B applied the toggle made while it was down", async () => ((await relationshipAt(s)).json?.relationship?.status === "Off" ? true : undefined), 90_000);
    await eventually("B ended the relationship ended while it was down", async () => ((await relationshipAt(s3)).status === 404 ? true : undefined), 90_000);
    expect((await twinAt(p, s)).json.twin.status).toBe("Off");
    // Nothing of the refused activation was kept: the same code works now.
    status(await relationshipAt(s2), 404);
    const retried = await call(A.url, "POST", `/twinning/v1/${enc(p2.address)}/twins`, { token: p2.token, body: { activationCode: code2.json.activationCode.code, activationCodeMno: B.mno } });
    status(retried, 201);
  }, 180_000);
});

describe("the secondary's operator, driven by an independent primary operator (C = 001-03)", () => {
  it("HLF-IC-004/005, TE-004: a code generated at B is redeemed by C's primary; B's secondary is twinned, toggled and released, notified each time", async () => {
    expect([200, 201]).toContain((await call(B.url, "PUT", "/admin/v1/peers/001-03", { headers: ADMIN, body: { issuer: C.issuer } })).status);
    const tok = await C.token(B.url);
    expect(tok.status, tok.text).toBe(200);
    const token = tok.json.access_token;
    const watch = await device(B);
    const hook = await startReceiver();
    try {
      await subscribe(watch, hook);
      const code = await call(B.url, "POST", `/twinning/v1/${enc(watch.address)}/activationCodes`, { token: watch.token, body: {} });
      expect(code.status, code.text).toBe(201);
      expect(code.json.activationCode.mno).toEqual(B.mno);
      const relationshipId = randomUUID();
      const primary = newAddress();
      const offer = { primary, activationCode: code.json.activationCode.code, name: "car", activatedAt: new Date().toISOString() };
      const key = (k: string) => ({ "Idempotency-Key": `${relationshipId}:${k}` });

      const local = await call(B.url, "PUT", `/federation/v1/activations/${relationshipId}`, { token, headers: key("x"), body: { ...offer, primary: watch.address } });
      expect(local.status).toBe(403);

      const prepared = await call(B.url, "PUT", `/federation/v1/activations/${relationshipId}`, { token, headers: key("prepare"), body: offer });
      expect(prepared.status, prepared.text).toBe(201);
      expect(prepared.json.activation).toEqual({ relationshipId, secondary: watch.address, state: "pending" });
      // HLF-TE-005: the code was spent by that redemption.
      const reused = await call(B.url, "PUT", `/federation/v1/activations/${randomUUID()}`, { token, headers: key("again"), body: offer });
      expect(reused.status).toBe(400);
      expect(reused.json.requestError.serviceException.variables[0]).toBe("activationCode");

      expect((await call(B.url, "POST", `/federation/v1/activations/${relationshipId}/confirmation`, { token, headers: key("confirm"), body: { secondary: watch.address } })).status).toBe(204);
      const rel = await call(B.url, "GET", `/twinning/v1/${enc(watch.address)}/relationship`, { token: watch.token });
      expect(rel.status, rel.text).toBe(200);
      expect(rel.json.relationship).toMatchObject({ primary, status: "On", primaryMno: { mcc: "001", mnc: "03" } });

      // HLF-TE-008/009 across operators: B's secondary can be nobody's primary and nobody else's secondary.
      const other = await device(B);
      const otherCode = await call(B.url, "POST", `/twinning/v1/${enc(other.address)}/activationCodes`, { token: other.token, body: {} });
      const asPrimary = await call(B.url, "POST", `/twinning/v1/${enc(watch.address)}/twins`, { token: watch.token, body: { activationCode: otherCode.json.activationCode.code } });
      expect(asPrimary.status).toBe(403);
      expect(asPrimary.json.requestError.policyException.messageId).toBe("POL1037");

      const off = { secondary: watch.address, status: "Off", version: 2, changedAt: new Date().toISOString(), by: "primary" };
      expect((await call(B.url, "PUT", `/federation/v1/relationships/${relationshipId}/status`, { token, headers: key("v2"), body: off })).status).toBe(204);
      const replay = await call(B.url, "PUT", `/federation/v1/relationships/${relationshipId}/status`, { token, headers: key("v2"), body: off });
      expect(replay.headers.get("idempotent-replayed")).toBe("true");
      const stale = { ...off, status: "On", version: 1 };
      expect((await call(B.url, "PUT", `/federation/v1/relationships/${relationshipId}/status`, { token, headers: key("v1"), body: stale })).status).toBe(204);
      expect((await call(B.url, "GET", `/twinning/v1/${enc(watch.address)}/relationship`, { token: watch.token })).json.relationship.status).toBe("Off");

      expect((await call(B.url, "POST", `/federation/v1/relationships/${relationshipId}/end`, { token, headers: key("end"), body: { secondary: watch.address, by: "primary" } })).status).toBe(204);
      expect((await call(B.url, "GET", `/twinning/v1/${enc(watch.address)}/relationship`, { token: watch.token })).status).toBe(404);

      const events = await eventually("three notifications at the watch's callback", async () => (hook.received.length >= 3 ? hook.received : undefined));
      expect(events.map((e) => [e.event, e.status, e.actor, e.primary])).toEqual([
        ["Activated", "On", "primary", primary],
        ["StatusChanged", "Off", "primary", primary],
        ["Deactivated", undefined, "primary", primary],
      ]);
    } finally {
      await hook.close();
    }
  });
});
