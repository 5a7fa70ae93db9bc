// In production ISSUER must be set (issue 12): without it, `iss`/`aud` would follow the Host header.
// Outside local development (loopback, localhost, *.test) nothing is issued or accepted until it is.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { IssuerNotConfigured, isLocalDevelopmentHost, issuerOf } from "../../src/oauth/tokens";
import { basic, device, registerClient } from "../helpers";

const PUBLIC_HOST = "https://gateway.operator.example";

describe("ISSUER outside local development", () => {
  it("the token endpoint on a public host refuses to issue while ISSUER is unset: 503 server_error saying why", async () => {
    expect(env.ISSUER).toBeUndefined();
    const client = await registerClient();
    const res = await SELF.fetch(`${PUBLIC_HOST}/oauth/token`, {
      method: "POST",
      headers: { Authorization: basic(client), "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "client_credentials" }).toString(),
    });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe("server_error");
    expect(body.error_description).toMatch(/ISSUER is not set/);
  });

  it("the APIs on a public host do not accept tokens either (their iss would be the Host header's)", async () => {
    const client = await registerClient();
    const sub = await device(client);
    const res = await SELF.fetch(`${PUBLIC_HOST}/twinning/v1/acr:Authorization/twins`, { headers: { Authorization: `Bearer ${sub.token}` } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).requestError.serviceException).toMatchObject({ messageId: "SVC0001", variables: [expect.stringMatching(/ISSUER is not set/)] });
    const discovery = await SELF.fetch(`${PUBLIC_HOST}/.well-known/oauth-authorization-server`);
    expect(discovery.status).toBe(503);
  });

  it("local development hosts are loopback, localhost and .test names; ISSUER, once set, is used everywhere", () => {
    for (const host of ["127.0.0.1", "127.8.9.10", "localhost", "app.localhost", "gateway.test", "[::1]", "localhost."]) expect(isLocalDevelopmentHost(host), host).toBe(true);
    for (const host of ["gateway.operator.example", "10.0.0.1", "192.168.1.2", "localhost.evil.example", "test.example.com", "example.workers.dev"]) expect(isLocalDevelopmentHost(host), host).toBe(false);
    expect(() => issuerOf(env, `${PUBLIC_HOST}/oauth/token`)).toThrow(IssuerNotConfigured);
    expect(issuerOf({ ...env, ISSUER: "https://id.operator.example" }, `${PUBLIC_HOST}/oauth/token`)).toBe("https://id.operator.example");
    expect(issuerOf({ ...env, ISSUER: "https://id.operator.example" }, "http://127.0.0.1:8787/oauth/token")).toBe("https://id.operator.example");
  });
});
