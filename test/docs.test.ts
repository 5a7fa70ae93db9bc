import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ORIGIN } from "./helpers";

describe("API description", () => {
  it("/openapi.json is OpenAPI 3.1 and documents every Twinning operation with its scope and errors", async () => {
    const doc = (await (await SELF.fetch(`${ORIGIN}/openapi.json`)).json()) as any;
    expect(doc.openapi).toBe("3.1.0");
    const ops = Object.entries<any>(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
    expect(ops).toEqual(
      expect.arrayContaining([
        "POST /twinning/v1/{userId}/activationCodes",
        "GET /twinning/v1/{userId}/relationship",
        "PUT /twinning/v1/{userId}/relationship/status",
        "DELETE /twinning/v1/{userId}/relationship",
        "POST /twinning/v1/{userId}/twins",
        "GET /twinning/v1/{userId}/twins",
        "GET /twinning/v1/{userId}/twins/{twinId}",
        "PUT /twinning/v1/{userId}/twins/{twinId}/status",
        "DELETE /twinning/v1/{userId}/twins/{twinId}",
        "PUT /admin/v1/subscribers/{address}",
        "POST /admin/v1/clients",
        "POST /oauth/token",
        "GET /oauth/jwks",
        "GET /.well-known/oauth-authorization-server",
        "GET /oauth/authorize",
        "POST /oauth/device_authorization",
        "POST /oauth/revoke",
        "POST /oauth/introspect",
        "POST /twinning/v1/{userId}/subscriptions",
        "POST /notificationchannel/v1/{userId}/channels",
        "POST /dm",
        "PUT /admin/v1/devices/{devId}",
        "POST /dm/v1/devices/{devId}/jobs",
        "GET /dm/v1/devices/{devId}/jobs/{jobId}",
        "GET /dm/v1/devices/{devId}/tree",
        "POST /dm/v1/devices/{devId}/notifications",
      ]),
    );
    const activate = doc.paths["/twinning/v1/{userId}/twins"].post;
    expect(activate.security).toEqual([{ bearerAuth: ["twinning:primary"] }]);
    expect(Object.keys(activate.responses)).toEqual(expect.arrayContaining(["201", "400", "401", "403", "429"]));
    // the same schema that validates the request
    expect(doc.components.schemas.TwinActivationRequest.properties.activationCode.pattern).toBe("^[0-9]{6}$");
    expect(doc.components.schemas.RequestError).toBeDefined();
  });

  it("every published pattern compiles as an ECMA-262 Unicode regex, with no regex flags leaked into it", async () => {
    const doc = await description();
    const patterns: string[] = [];
    JSON.stringify(doc, (k, v) => (k === "pattern" && typeof v === "string" && patterns.push(v), v));
    expect(patterns.length).toBeGreaterThan(5);
    for (const p of patterns) {
      expect(() => new RegExp(p, "u"), p).not.toThrow();
      expect(p, p).not.toMatch(/(?<!\\)\/[dgimsuvy]+$/);
    }
    // The bug that was: every twin name was rejected by clients that validate with the published pattern.
    const name = new RegExp(doc.components.schemas.TwinActivationRequest.properties.name.pattern, "u");
    expect(["my-watch", "Car 2", "Ålesund's watch"].every((n) => name.test(n))).toBe(true);
    expect(name.test("-leading")).toBe(false);
  });

  it("every operation has a unique operationId, declares its security (public ones as []) and answers its errors", async () => {
    const doc = await description();
    const ids = new Set<string>();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.operationId, where).toMatch(/^[a-z]+[A-Za-z0-9]*$/);
        expect(ids.has(op.operationId), `${where}: duplicate ${op.operationId}`).toBe(false);
        ids.add(op.operationId);
        expect(Array.isArray(op.security), `${where} declares security`).toBe(true);
        expect(op.responses["500"] ?? op.responses.default, `${where} describes 500`).toBeDefined();
        if (op.security.some((r: object) => Object.keys(r).length)) expect(op.responses["401"], `${where} describes 401`).toBeDefined();
        if (op.security.some((r: object) => "adminToken" in r)) expect(op.responses["429"], `${where} describes the admin-token lock (429)`).toBeDefined();
        if (/\{/.test(path)) expect(op.responses["404"] ?? op.responses["400"], `${where} describes an unknown id`).toBeDefined();
      }
    }
    expect(doc.paths["/oauth/jwks"].get.security).toEqual([]);
    expect(doc.paths["/twinning/v1/{userId}/twins/{twinId}/status"].put.operationId).toBe("putTwinningTwinsByTwinIdStatus");
    const err = doc.paths["/twinning/v1/{userId}/twins"].post.responses["400"].content["application/json"];
    expect(err.example ?? err.examples).toBeDefined();
  });

  it("describes the consent form post, the long-poll URL (GET and POST) and the DM session RespURI, and names its server", async () => {
    const doc = await description();
    expect(doc.paths["/oauth/authorize"].post.requestBody.content["application/x-www-form-urlencoded"]).toBeDefined();
    expect(doc.paths["/notificationchannel/v1/{userId}/channels/{channelId}/poll"].get).toBeDefined();
    expect(doc.paths["/notificationchannel/v1/{userId}/channels/{channelId}/poll"].post).toBeDefined();
    expect(doc.paths["/dm/s/{devId}"].post.parameters[0].name).toBe("devId");
    expect(doc.servers).toEqual([{ url: ORIGIN, description: "this gateway" }]);
  });

  it("every JSON request body has an example that a client can send", async () => {
    const doc = await description();
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        const media = op.requestBody?.content?.["application/json"];
        if (media) expect(media.example ?? media.examples, `${method.toUpperCase()} ${path}`).toBeDefined();
      }
    }
  });

  it("/docs is the interactive reference, loading only this gateway's own assets under a strict CSP", async () => {
    const res = await SELF.fetch(`${ORIGIN}/docs`);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(res.headers.get("content-security-policy")).toMatch(/script-src 'self'/);
    const html = await res.text();
    const srcs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(srcs).toContain("/docs/assets/swagger-ui-bundle.js");
    for (const src of srcs) expect(src.startsWith("/"), src).toBe(true);
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
  });
});

async function description(): Promise<any> {
  return (await SELF.fetch(`${ORIGIN}/openapi.json`)).json();
}
