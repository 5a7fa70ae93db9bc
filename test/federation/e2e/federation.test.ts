// Inter-MNO twinning between two real gateways (issue 14): MNO 001-01 ("A") and MNO 001-02 ("B"),
// each its own `wrangler dev` with its own state, registered as each other's peers through the
// admin API only. A third operator ("C", fake-operator.ts) is an independent client of the contract.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeOperator, type FakeOperator } from "./fake-operator";
import { ADMIN, call, device, enc, eventually, freePortClosed, newAddress, PRIMARY_SERVICES, registerPeer, startOperator, startReceiver, subscribe, type Operator } from "./operators";

let A: Operator;
let B: Operator;
let C: FakeOperator;

beforeAll(async () => {
  [A, B, C] = await Promise.all([startOperator({ mcc: "001", mnc: "01" }), startOperator({ mcc: "001", mnc: "02" }), startFakeOperator()]);
});

afterAll(async () => {
  await Promise.all([A?.dispose(), B?.dispose(), C?.close()]);
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
