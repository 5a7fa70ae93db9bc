// The peer registry's refusals and the federation API's gate, inside workerd. What needs a real
// peer on the network (metadata, tokens between gateways) is in e2e/, run by npm run test:federation.
import { describe, expect, it } from "vitest";
import { metadataUrl } from "../../src/federation/discovery";
import { idempotencyKeyOf } from "../../src/federation/auth";
import { ADMIN, call, device, registerClient } from "../helpers";

describe("peer registry (HLF-IC-001)", () => {
  it("only the operator's admin token manages peers", async () => {
    expect((await call("GET", "/admin/v1/peers")).status).toBe(401);
    expect((await call("PUT", "/admin/v1/peers/001-02", { body: { issuer: "https://mno-b.example" } })).status).toBe(401);
    expect((await call("DELETE", "/admin/v1/peers/001-02", { headers: { Authorization: "Bearer wrong" } })).status).toBe(401);
  });

  it("peer URLs follow the callback rules: https, no internal or private address, no credentials; checked before anything is fetched", async () => {
    for (const [issuer, why] of [
      ["http://mno-b.example", /https required/],
      ["https://169.254.169.254", /private, link-local or reserved/],
      ["https://192.168.1.10:8443", /private, link-local or reserved/],
      ["https://[fd00::1]", /unique local/],
      ["https://user:pw@mno-b.example", /credentials/],
      ["https://gateway.internal", /internal host/],
      ["https://mno-b.example/#x", /query or fragment/],
      ["mno-b.example", /absolute URL/],
    ] as const) {
      const res = await call("PUT", "/admin/v1/peers/001-02", { headers: ADMIN, body: { issuer } });
      expect(res.status, issuer).toBe(400);
      expect(res.json.requestError.serviceException.variables[0]).toBe("issuer");
      expect(res.json.requestError.serviceException.variables[1]).toMatch(why);
    }
  });

  it("the MNO must be MCC-MNC and not one this gateway serves; the body has exactly an issuer", async () => {
    const own = await call("PUT", "/admin/v1/peers/001-01", { headers: ADMIN, body: { issuer: "https://mno-b.example" } });
    expect(own.status).toBe(400);
    expect(own.json.requestError.serviceException.variables[0]).toBe("mno");
    const bad = await call("PUT", "/admin/v1/peers/0012", { headers: ADMIN, body: { issuer: "https://mno-b.example" } });
    expect(bad.json.requestError.serviceException.variables[0]).toBe("mno");
    const extra = await call("PUT", "/admin/v1/peers/001-02", { headers: ADMIN, body: { issuer: "https://mno-b.example", trust: "all" } });
    expect(extra.status).toBe(400);
  });

  it("an unknown peer is 404 naming the MNO", async () => {
    const res = await call("GET", "/admin/v1/peers/999-99", { headers: ADMIN });
    expect(res.status).toBe(404);
    expect(res.json.requestError.serviceException.variables[0]).toBe("mno");
    expect((await call("DELETE", "/admin/v1/peers/999-99", { headers: ADMIN })).status).toBe(404);
    expect((await call("GET", "/admin/v1/peers/999-99/operator", { headers: ADMIN })).status).toBe(404);
  });

  it("RFC 8414 §3.1: the metadata of an issuer with a path is read below /.well-known", () => {
    expect(metadataUrl("https://mno-b.example")).toBe("https://mno-b.example/.well-known/oauth-authorization-server");
    expect(metadataUrl("https://mno-b.example/")).toBe("https://mno-b.example/.well-known/oauth-authorization-server");
    expect(metadataUrl("https://api.mno-b.example/tenant1")).toBe("https://api.mno-b.example/.well-known/oauth-authorization-server/tenant1");
  });
});

describe("the federation API's gate", () => {
  it("no token, a malformed or foreign token: 401; a device's token: 403 insufficient_scope", async () => {
    expect((await call("GET", "/federation/v1/operator")).status).toBe(401);
    const forged = await call("GET", "/federation/v1/operator", { token: "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0." });
    expect(forged.status).toBe(401);
    expect(forged.headers.get("www-authenticate")).toMatch(/invalid_token/);
    const phone = await device(await registerClient());
    const res = await call("POST", "/federation/v1/activationCodes", { token: phone.token, body: {}, headers: { "Idempotency-Key": "k" } });
    expect(res.status).toBe(403);
    expect(res.headers.get("www-authenticate")).toMatch(/insufficient_scope.*twinning:federation/);
  });

  it("Idempotency-Key: an sf-string or a bare token of printable ASCII, 1 to 255 characters", () => {
    expect(idempotencyKeyOf('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe("8e03978e-40d5-43e8-bc93-6894a57f9324");
    expect(idempotencyKeyOf("abc")).toBe("abc");
    expect(idempotencyKeyOf(undefined)).toBeUndefined();
    expect(idempotencyKeyOf("")).toBeUndefined();
    expect(idempotencyKeyOf('"a b"')).toBeUndefined();
    expect(idempotencyKeyOf("x".repeat(256))).toBeUndefined();
  });
});
