// The primary operator's side of the federation API, inside workerd: a peer (MNO 001-02) whose
// registration and twinning:federation token are made here directly (what discovery and the token
// endpoint would produce; the real exchange between two gateways is in e2e/), and a primary whose
// object holds a relationship with a secondary of that peer.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { issueAccessToken } from "../../src/oauth/tokens";
import { ADMIN, call, device, enc, newAddress, ORIGIN, registerClient } from "../helpers";
import { crossTwin } from "./cross-twin";

const PEER = "https://mno-b.example";
await env.PEERS.getByName("peers").register({ mno: "001-02", issuer: PEER, tokenEndpoint: `${PEER}/oauth/token`, jwksUri: `${PEER}/oauth/jwks`, selfIssuer: ORIGIN });
// Registered before any request, so that every isolate's short-lived peer list has both.
const other = "https://mno-c.example";
await env.PEERS.getByName("peers").register({ mno: "001-03", issuer: other, tokenEndpoint: `${other}/oauth/token`, jwksUri: `${other}/oauth/jwks`, selfIssuer: ORIGIN });
const token = (await issueAccessToken(env, ORIGIN, { sub: PEER, client_id: PEER, scope: "twinning:federation" })).token;
const client = await registerClient();
let n = 0;
const key = () => ({ "Idempotency-Key": `k-${Date.now()}-${++n}` });

describe("federation API at the primary's operator", () => {
  it("HLF-IC-002/003: a code for the peer's secondary is generated here, names this MNO, and is bound to that secondary", async () => {
    const secondary = newAddress();
    const res = await call("POST", "/federation/v1/activationCodes", { token, headers: key(), body: { secondary, primaryMno: { mcc: "001", mnc: "01" } } });
    expect(res.status, res.text).toBe(201);
    expect(res.json.activationCode.mno).toEqual({ mcc: "001", mnc: "01" });
    const primary = await device(client);
    // The code is real and one-time: redeeming it here names the peer's secondary.
    const redemption = await env.ACTIVATION_CODES.getByName(res.json.activationCode.code).redeem(primary.address);
    expect(redemption).toEqual({ outcome: "redeemed", secondary: `peer:001-02:${secondary}`, mno: { mcc: "001", mnc: "02" } });
  });

  it("a peer never gets a code for one of this operator's own subscribers (403)", async () => {
    const local = await device(client);
    const res = await call("POST", "/federation/v1/activationCodes", { token, headers: key(), body: { secondary: local.address, primaryMno: { mcc: "001", mnc: "01" } } });
    expect(res.status).toBe(403);
  });

  it("HLF-IC-005: the secondary's toggle is decided by the primary's object, which answers the new version; a retry has no second effect", async () => {
    const { primary, secondary, relationshipId } = await crossTwin(client);
    const headers = key();
    const body = { primary: primary.address, secondary, status: "Off" };
    const res = await call("PUT", `/federation/v1/twins/${relationshipId}/status`, { token, headers, body });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ secondary, status: "Off", version: 2, by: "secondary" });
    const again = await call("PUT", `/federation/v1/twins/${relationshipId}/status`, { token, headers, body });
    expect(again.json).toEqual(res.json);
    const twins = await call("GET", `/twinning/v1/${enc(primary.address)}/twins`, { token: primary.token });
    expect(twins.json.twinList.twin[0]).toMatchObject({ secondary, status: "Off", statusChangedBy: "secondary" });
    const unknown = await call("PUT", `/federation/v1/twins/${crypto.randomUUID()}/status`, { token, headers: key(), body });
    expect(unknown.status).toBe(404);
  });

  it("HLF-SD-007 across networks: the secondary's operator ends the relationship; the primary's twin is gone", async () => {
    const { primary, secondary, relationshipId } = await crossTwin(client);
    const res = await call("POST", `/federation/v1/twins/${relationshipId}/end`, { token, headers: key(), body: { primary: primary.address, secondary } });
    expect(res.status).toBe(204);
    const twins = await call("GET", `/twinning/v1/${enc(primary.address)}/twins`, { token: primary.token });
    expect(twins.json.twinList.twin).toEqual([]);
  });

  it("resolution: committed for a twin that exists, aborted (for good) otherwise", async () => {
    const { primary, relationshipId } = await crossTwin(client);
    const committed = await call("POST", `/federation/v1/activations/${relationshipId}/resolution`, { token, headers: key(), body: { primary: primary.address } });
    expect(committed.json.activation).toEqual({ relationshipId, state: "committed" });
    const other = crypto.randomUUID();
    const aborted = await call("POST", `/federation/v1/activations/${other}/resolution`, { token, headers: key(), body: { primary: primary.address } });
    expect(aborted.json.activation).toEqual({ relationshipId: other, state: "aborted" });
  });

  it("issue 14: a peer may act only on relationships that involve one of its own subscribers (403 on every route, both sides), and only in the role its subscriber has (404)", async () => {
    const { primary, secondary, relationshipId } = await crossTwin(client);
    const intruder = (await issueAccessToken(env, ORIGIN, { sub: other, client_id: other, scope: "twinning:federation" })).token;
    const attempts: [string, string, unknown][] = [
      ["PUT", `/federation/v1/twins/${relationshipId}/status`, { primary: primary.address, secondary, status: "Off" }],
      ["POST", `/federation/v1/twins/${relationshipId}/end`, { primary: primary.address, secondary }],
      ["POST", `/federation/v1/twins/${relationshipId}/delegatedTokens`, { primary: primary.address, secondary }],
      ["POST", `/federation/v1/activations/${relationshipId}/resolution`, { primary: primary.address }],
    ];
    for (const [method, path, body] of attempts) {
      const res = await call(method, path, { token: intruder, headers: key(), body });
      expect(res.status, `${method} ${path}: ${res.text}`).toBe(403);
      expect(res.json.requestError.policyException.variables[0]).toMatch(/involves no subscriber of MNO 001-03/);
    }
    const twins = await call("GET", `/twinning/v1/${enc(primary.address)}/twins`, { token: primary.token });
    expect(twins.json.twinList.twin[0]).toMatchObject({ secondary, status: "On" });

    // The secondary's side: a local secondary twinned with 001-02's primary, through the object's own protocol.
    const watch = await device(client);
    const peerPrimary = newAddress();
    const code = await call("POST", `/twinning/v1/${enc(watch.address)}/activationCodes`, { token: watch.token, body: {} });
    const watchObject = env.SUBSCRIBERS.getByName(watch.address);
    const offer = { activationId: relationshipId, primary: `peer:001-02:${peerPrimary}`, primaryMno: { mcc: "001", mnc: "02" }, code: code.json.activationCode.code, name: "car", activatedAt: Date.now() };
    expect(await watchObject.acceptPrimary(offer)).toEqual({ ok: true, value: "accepted" });
    await watchObject.confirmActivation(relationshipId);
    const change = { secondary: watch.address, status: "Off", version: 2, changedAt: new Date().toISOString(), by: "primary" };
    expect((await call("PUT", `/federation/v1/relationships/${relationshipId}/status`, { token: intruder, headers: key(), body: change })).status).toBe(403);
    expect((await call("POST", `/federation/v1/relationships/${relationshipId}/end`, { token: intruder, headers: key(), body: { secondary: watch.address, by: "primary" } })).status).toBe(403);
    const rel = await call("GET", `/twinning/v1/${enc(watch.address)}/relationship`, { token: watch.token });
    expect(rel.json.relationship).toMatchObject({ primary: peerPrimary, status: "On", primaryMno: { mcc: "001", mnc: "02" } });
    // Its own primary's operator may.
    expect((await call("PUT", `/federation/v1/relationships/${relationshipId}/status`, { token, headers: key(), body: change })).status).toBe(204);
    // But not the routes of a primary's side: the watch is only its secondary. No delegated token whose
    // subject is our subscriber (HLF-SD-009 backwards), no toggle or end of a twin it does not have.
    const reverse = await call("POST", `/federation/v1/twins/${relationshipId}/delegatedTokens`, { token, headers: key(), body: { primary: watch.address, secondary: peerPrimary } });
    expect(reverse.status, reverse.text).toBe(404);
    expect(reverse.json.requestError.serviceException.variables[0]).toBe("relationshipId");
    expect((await call("PUT", `/federation/v1/twins/${relationshipId}/status`, { token, headers: key(), body: { primary: watch.address, secondary: peerPrimary, status: "On" } })).status).toBe(404);
    expect((await call("POST", `/federation/v1/twins/${relationshipId}/end`, { token, headers: key(), body: { primary: watch.address, secondary: peerPrimary } })).status).toBe(404);
    expect((await call("GET", `/twinning/v1/${enc(watch.address)}/relationship`, { token: watch.token })).json.relationship).toMatchObject({ primary: peerPrimary, status: "Off" });
  });

  it("bad input names the field; a removed peer's token is refused", async () => {
    const bad = await call("PUT", `/federation/v1/twins/not-a-uuid/status`, { token, headers: key(), body: { primary: "tel:+1", secondary: "x", status: "Maybe" } });
    expect(bad.status).toBe(400);
    expect(bad.json.requestError.serviceException.variables[0]).toBe("relationshipId");
    const otherToken = (await issueAccessToken(env, ORIGIN, { sub: other, client_id: other, scope: "twinning:federation" })).token;
    expect((await call("GET", "/federation/v1/operator", { token: otherToken })).status).toBe(200);
    expect((await call("DELETE", "/admin/v1/peers/001-03", { headers: ADMIN })).status).toBe(204);
    expect((await call("GET", "/federation/v1/operator", { token: otherToken })).status).toBe(401);
  });
});

describe("HLF-IC-006: the delegated token across networks, at the primary's operator", () => {
  it("is this operator's token for the primary, acted by the peer's secondary, and dies with the relationship", async () => {
    const { primary, secondary, relationshipId } = await crossTwin(client);
    const headers = key();
    const res = await call("POST", `/federation/v1/twins/${relationshipId}/delegatedTokens`, { token, headers, body: { primary: primary.address, secondary } });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get("cache-control")).toMatch(/no-store/);
    // A token is never kept for a replay: the retry gets a fresh one.
    const retry = await call("POST", `/federation/v1/twins/${relationshipId}/delegatedTokens`, { token, headers, body: { primary: primary.address, secondary } });
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect(retry.json.access_token).not.toBe(res.json.access_token);
    const claims = JSON.parse(atob(res.json.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    expect(claims).toMatchObject({ iss: ORIGIN, sub: primary.address, act: { sub: secondary }, scope: "twinning:delegated", twin_id: relationshipId, client_id: PEER });
    const ref = { jti: claims.jti, exp: claims.exp, iat: claims.iat, twinId: relationshipId };
    expect(await env.SUBSCRIBERS.getByName(primary.address).isTokenLive(ref)).toBe(true);
    await call("POST", `/federation/v1/twins/${relationshipId}/end`, { token, headers: key(), body: { primary: primary.address, secondary } });
    expect(await env.SUBSCRIBERS.getByName(primary.address).isTokenLive(ref)).toBe(false);
    const gone = await call("POST", `/federation/v1/twins/${relationshipId}/delegatedTokens`, { token, headers: key(), body: { primary: primary.address, secondary } });
    expect(gone.status).toBe(404);
  });
});
