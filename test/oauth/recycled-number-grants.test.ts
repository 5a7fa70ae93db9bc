// A number deleted and provisioned again belongs to a new holder: nothing the previous holder was
// granted may act for the new one. Access tokens fail by their iat (test/twinning/hardening.test.ts);
// a refresh token or an authorization code of the previous holder still mints tokens, and those carry
// the grant's RFC 9068 `auth_time`, so they fail on every API and in introspection like the old tokens.
// Also RFC 6749 §6: a refresh asking for a wider scope is refused without spending the refresh token.
import { describe, expect, it } from "vitest";
import { ADMIN, call, enc, provision } from "../helpers";
import { codeGrant, introspect, registerWebApp, tokenRequest } from "./flows";

async function recycle(address: string) {
  const path = `/admin/v1/subscribers/${enc(address)}`;
  expect((await call("DELETE", path, { headers: ADMIN })).status).toBe(204);
  const key = crypto.getRandomValues(new Uint8Array(32));
  const deviceKey = btoa(String.fromCharCode(...key)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  expect((await call("PUT", path, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey } })).status).toBe(201);
}

describe("Grants of a previous holder of a number", () => {
  it("a refresh token of the previous holder mints only tokens that fail for the new holder (401, inactive)", async () => {
    const app = await registerWebApp({ grant_types: ["authorization_code", "refresh_token"] });
    const sub = await provision();
    const first = await codeGrant(app, sub);
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: first.access_token })).status).toBe(200);
    // Before the number changes hands, a refreshed token works and says when the grant was authorised.
    const before = await tokenRequest(app, { grant_type: "refresh_token", refresh_token: first.refresh_token });
    expect(before.status).toBe(200);
    const claims = JSON.parse(atob(before.json.access_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
    expect(claims.auth_time).toBeLessThanOrEqual(claims.iat);
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: before.json.access_token })).status).toBe(200);

    await recycle(sub.address);
    const after = await tokenRequest(app, { grant_type: "refresh_token", refresh_token: before.json.refresh_token });
    // The family still rotates (it lives in its own object), but what it mints is dead on arrival.
    expect(after.status).toBe(200);
    const used = await call("GET", `/twinning/v1/${enc(sub.address)}/twins`, { token: after.json.access_token });
    expect(used.status).toBe(401);
    expect(used.json.requestError.policyException.variables[0]).toMatch(/previous holder/);
    expect((await introspect(app, after.json.access_token)).active).toBe(false);
  });

  it("RFC 6749 §6: a refresh asking for a wider scope is invalid_scope and leaves the refresh token usable", async () => {
    const app = await registerWebApp({ grant_types: ["authorization_code", "refresh_token"], scopes: ["twinning:primary", "twinning:secondary"] });
    const first = await codeGrant(app);
    const wider = await tokenRequest(app, { grant_type: "refresh_token", refresh_token: first.refresh_token, scope: "twinning:primary twinning:secondary" });
    expect(wider.status).toBe(400);
    expect(wider.json.error).toBe("invalid_scope");
    const retry = await tokenRequest(app, { grant_type: "refresh_token", refresh_token: first.refresh_token });
    expect(retry.status, JSON.stringify(retry.json)).toBe(200);
    expect(retry.json.scope).toBe("twinning:primary");
  });
});
