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

  it("/docs is a self-contained reference page listing the operations", async () => {
    const res = await SELF.fetch(`${ORIGIN}/docs`);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    const html = await res.text();
    expect(html).toContain("/twinning/v1/{userId}/twins/{twinId}/status");
    expect(html).toContain("Request a one-time activation code");
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="http/);
  });
});
