// Introspection (RFC 7662 §4) tells a token's state only to the client it was issued to, or to a
// client registered as a resource server; any other client learns `active: false` (issue 12).
import { describe, expect, it } from "vitest";
import { ADMIN, call, device, registerClient } from "../helpers";
import { codeGrant, introspect, registerWebApp } from "./flows";

async function resourceServer() {
  const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Messaging API", scopes: ["dm:manage"], grant_types: ["client_credentials"], resource_server: true } });
  expect(res.status, res.text).toBe(201);
  expect(res.json.resource_server).toBe(true);
  return res.json;
}

describe("Introspection answers active only to the token's client or a resource server", () => {
  it("an access token: its own client and a resource server see it active, another client sees active:false", async () => {
    const [app, other, rs] = [await registerClient(), await registerClient(), await resourceServer()];
    const sub = await device(app);
    expect(await introspect(app, sub.token)).toMatchObject({ active: true, client_id: app.client_id, sub: sub.address });
    expect(await introspect(rs, sub.token)).toMatchObject({ active: true, client_id: app.client_id });
    expect(await introspect(other, sub.token)).toEqual({ active: false });
  });

  it("a refresh token: the same rule", async () => {
    const [app, other, rs] = [await registerWebApp(), await registerClient(), await resourceServer()];
    const grant = await codeGrant(app);
    expect(await introspect(app, grant.refresh_token)).toMatchObject({ active: true, token_type: "refresh_token" });
    expect(await introspect(rs, grant.refresh_token)).toMatchObject({ active: true, token_type: "refresh_token" });
    expect(await introspect(other, grant.refresh_token)).toEqual({ active: false });
  });

  it("a client registers as a resource server only when it says so", async () => {
    const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "App", scopes: ["twinning:primary"] } });
    expect(res.json.resource_server).toBe(false);
  });
});
