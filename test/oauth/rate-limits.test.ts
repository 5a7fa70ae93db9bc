// Rate limits of the authorization server: the token endpoint per client, device authorization per
// subscriber (issue 12). 429 with Retry-After in the RFC 6749 §5.2 form.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ADMIN, basic, call, ORIGIN, provision, registerClient, requestToken, type Client, type Subscriber } from "../helpers";
import { configuredLimit, exhaust, inFreshWindow, inOneWindow, spend } from "../http/rate-limit-probe";

async function registerService(): Promise<Client> {
  const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Backend", scopes: ["dm:manage"], grant_types: ["client_credentials"] } });
  expect(res.status, res.text).toBe(201);
  return res.json;
}
const clientCredentials = (client: Client) => requestToken(client, { grant_type: "client_credentials" });

async function deviceAuthorization(client: Client, sub: Subscriber) {
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(client.client_id)
    .setSubject(sub.address)
    .setAudience(`${ORIGIN}/oauth/device_authorization`)
    .setIssuedAt()
    .setExpirationTime("2m")
    .setJti(crypto.randomUUID())
    .sign(sub.key);
  const res = await SELF.fetch(`${ORIGIN}/oauth/device_authorization`, {
    method: "POST",
    headers: { Authorization: basic(client), "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ scope: "twinning:secondary", assertion }).toString(),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

async function deviceClient(): Promise<Client> {
  const res = await call("POST", "/admin/v1/clients", {
    headers: ADMIN,
    body: { name: "Watch app", scopes: ["twinning:secondary"], grant_types: ["urn:ietf:params:oauth:grant-type:device_code"] },
  });
  expect(res.status, res.text).toBe(201);
  return res.json;
}

describe("The token endpoint is rate limited per client", () => {
  it("each token request counts against its client's budget; past it: 429, Retry-After, RFC 6749 error form; other clients are unaffected", async () => {
    const { limit, period } = configuredLimit("OAUTH_CLIENT_RATE_LIMIT");
    expect(period).toBe(10);
    const { last, over } = await inOneWindow(period, async () => {
      const client = await registerService();
      await spend(env.OAUTH_CLIENT_RATE_LIMIT, client.client_id, limit - 1);
      return { last: await clientCredentials(client), over: await clientCredentials(client) };
    });
    expect(last.status).toBe(200);
    expect(over.status).toBe(429);
    expect(over.headers.get("Retry-After")).toBe("10");
    expect(over.headers.get("Cache-Control")).toBe("no-store");
    expect(over.json).toEqual({ error: "temporarily_unavailable", error_description: "too many requests from this client; retry after 10 s" });
    expect((await clientCredentials(await registerService())).status).toBe(200);
  });
});

describe("Device authorization is rate limited per subscriber and per client", () => {
  it("a subscriber past its budget gets 429 with Retry-After; another subscriber does not", async () => {
    await inFreshWindow(60);
    const client = await deviceClient();
    const [watch, other] = [await provision(), await provision()];
    expect((await deviceAuthorization(client, watch)).status).toBe(200);
    const rest = await exhaust(env.DEVICE_AUTHORIZATION_RATE_LIMIT, watch.address);
    expect(rest).toBeGreaterThan(0);
    const res = await deviceAuthorization(client, watch);
    expect(res.status).toBe(429);
    expect(res.headers.get("Retry-After")).toBe("60");
    expect(res.json.error).toBe("temporarily_unavailable");
    expect(res.json.error_description).toMatch(/device authorization requests for this subscriber/);
    expect((await deviceAuthorization(client, other)).status).toBe(200);
  });

  it("device authorization counts against the client's budget too", async () => {
    const res = await inOneWindow(10, async () => {
      const [client, watch] = [await deviceClient(), await provision()];
      await exhaust(env.OAUTH_CLIENT_RATE_LIMIT, client.client_id);
      return deviceAuthorization(client, watch);
    });
    expect(res.status).toBe(429);
    expect(res.json.error_description).toMatch(/requests from this client/);
  });
});
