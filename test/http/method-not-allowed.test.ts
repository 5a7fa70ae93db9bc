// RFC 9110 §15.5.6: a method the origin server knows but the target resource does not support is
// 405, and "The origin server MUST generate an Allow header field in a 405 response". §9.3.7: OPTIONS
// on a resource says which methods it supports. An unknown path stays 404.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, device, ORIGIN, registerClient } from "../helpers";

const send = (method: string, path: string, headers: Record<string, string> = {}) => SELF.fetch(`${ORIGIN}${path}`, { method, headers });

describe("RFC 9110 §15.5.6: a wrong method on a known resource is 405 with Allow", () => {
  it("lists the methods of the path in Allow, in the OMA requestError envelope", async () => {
    for (const [method, path, allow] of [
      ["GET", "/oauth/token", "POST, OPTIONS"],
      ["DELETE", "/oauth/token", "POST, OPTIONS"],
      ["POST", "/oauth/jwks", "GET, HEAD, OPTIONS"],
      ["PUT", "/twinning/v1/acr:Authorization/twins", "GET, HEAD, POST, OPTIONS"],
      ["DELETE", "/twinning/v1/acr:Authorization/twins", "GET, HEAD, POST, OPTIONS"],
      ["PUT", "/admin/v1/clients", "GET, HEAD, POST, OPTIONS"],
    ] as const) {
      const res = await send(method, path);
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get("allow"), `${method} ${path}`).toBe(allow);
      expect(res.headers.get("x-correlator")).toBeTruthy();
      const body = (await res.json()) as any;
      expect(body.requestError.serviceException).toEqual({
        messageId: "SVC0002",
        text: `Invalid input value for message part method: ${method} is not allowed on ${path}; allowed: ${allow}`,
        variables: ["method", `${method} is not allowed on ${path}; allowed: ${allow}`],
      });
    }
  });

  it("the Allow of a parameterised path is that of its route, whatever the parameter", async () => {
    const res = await send("POST", "/twinning/v1/acr:Authorization/relationship");
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toMatch(/^GET, HEAD/);
    expect(res.headers.get("allow")).not.toMatch(/POST/);
    const other = await send("POST", `/twinning/v1/${encodeURIComponent("tel:+15550009999")}/relationship`);
    expect(other.headers.get("allow")).toBe(res.headers.get("allow"));
  });

  it("HEAD on a POST-only resource is 405 without a body; HEAD where GET exists still answers as GET", async () => {
    const head = await send("HEAD", "/oauth/token");
    expect(head.status).toBe(405);
    expect(head.headers.get("allow")).toBe("POST, OPTIONS");
    expect(await head.text()).toBe("");
    const jwks = await send("HEAD", "/oauth/jwks");
    expect(jwks.status).toBe(200);
    expect(await jwks.text()).toBe("");
  });

  it("a path no route has stays 404 \"is not a resource of this API\", for every method", async () => {
    for (const method of ["GET", "POST", "PUT", "DELETE", "OPTIONS"]) {
      const res = await send(method, "/twinning/v1/acr:Authorization/nothing-here");
      expect(res.status, method).toBe(404);
      expect(res.headers.get("allow")).toBeNull();
      expect(((await res.json()) as any).requestError.serviceException.text).toMatch(/is not a resource of this API$/);
    }
  });

  it("a route that answers 404 for an unknown id still answers 404 (not 405)", async () => {
    const client = await registerClient();
    const primary = await device(client);
    const res = await SELF.fetch(`${ORIGIN}/twinning/v1/acr:Authorization/twins/unknown-twin`, { headers: { Authorization: `Bearer ${primary.token}` } });
    expect(res.status).toBe(404);
    const admin = await send("GET", "/admin/v1/clients/no-such-client", ADMIN);
    expect(admin.status).toBe(404);
  });
});

describe("RFC 9110 §9.3.7: OPTIONS on a known resource", () => {
  it("is 204 with Allow and no CORS headers (the gateway serves no CORS)", async () => {
    const res = await send("OPTIONS", "/twinning/v1/acr:Authorization/twins", { Origin: "https://evil.example", "Access-Control-Request-Method": "POST" });
    expect(res.status).toBe(204);
    expect(res.headers.get("allow")).toBe("GET, HEAD, POST, OPTIONS");
    expect([...res.headers.keys()].filter((h) => h.startsWith("access-control-"))).toEqual([]);
    expect(await res.text()).toBe("");
  });
});
