// The authorization server's hooks for federation (src/oauth/hooks.ts), with a real remote JWKS
// served by a loopback server (jwks-host.global.ts), real signatures and the real token endpoint.
import { SELF } from "cloudflare:test";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from "vitest";
import { mintAccessToken, registerOAuthHooks, restoreOAuthHooks, type ExchangedToken, type ForeignExchangeRequest, type OAuthHooks } from "../../src/oauth/hooks";
import { env } from "cloudflare:workers";
import { ADMIN, call, device, ORIGIN, provision, registerClient, requestToken, token } from "../helpers";
import { introspect } from "./flows";

const JWKS_HOST = inject("jwksHostUrl");
const PEER = "https://mno-b.example";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

// Each test publishes its keys under a fresh URL, as a new peer would; rotation happens within one.
let jwksName = crypto.randomUUID();
beforeEach(() => {
  jwksName = crypto.randomUUID();
});
const exchanges: ForeignExchangeRequest[] = [];
let saved: OAuthHooks;

async function newKey(kid: string) {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}
async function publish(...keys: { jwk: object }[]) {
  const res = await fetch(`${JWKS_HOST}/jwks/${jwksName}`, { method: "PUT", body: JSON.stringify({ keys: keys.map((k) => k.jwk) }) });
  expect(res.status).toBe(204);
}
const fetchesOfJwks = async () => Number(await (await fetch(`${JWKS_HOST}/fetches/${jwksName}`)).text());

function clientAssertion(key: { kid: string; privateKey: CryptoKey }, o: { iss?: string; aud?: string; exp?: string; jti?: string } = {}) {
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: key.kid })
    .setIssuer(o.iss ?? PEER)
    .setSubject(o.iss ?? PEER)
    .setAudience(o.aud ?? `${ORIGIN}/oauth/token`)
    .setIssuedAt()
    .setExpirationTime(o.exp ?? "2m")
    .setJti(o.jti ?? crypto.randomUUID())
    .sign(key.privateKey);
}

async function peerToken(assertion: string, form: Record<string, string> = {}) {
  const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "twinning:federation", client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, ...form }).toString(),
  });
  return { status: res.status, json: (await res.json()) as any };
}

const claimsOf = (jwt: string) => JSON.parse(atob(jwt.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/")));

beforeAll(() => {
  saved = registerOAuthHooks({
    resolveExternalClient: async (clientId) =>
      clientId === PEER ? { clientId, jwksUri: `${JWKS_HOST}/jwks/${jwksName}`, scopes: ["twinning:federation"], grantTypes: ["client_credentials"] } : null,
    exchangeForForeignAudience: async (request): Promise<ExchangedToken | null> => {
      exchanges.push(request);
      if (request.audience !== "https://mno-a.example") return null;
      return { access_token: "token-from-mno-a", issued_token_type: ACCESS_TOKEN_TYPE, token_type: "Bearer", expires_in: 600, scope: request.scope.join(" ") };
    },
  });
});
afterAll(() => restoreOAuthHooks(saved));

describe("External clients: private_key_jwt against the JWKS the resolver names", () => {
  it("a peer authenticates with a key from its published JWKS and gets a client_credentials token for itself", async () => {
    const k1 = await newKey("k1");
    await publish(k1);
    const res = await peerToken(await clientAssertion(k1));
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.scope).toBe("twinning:federation");
    expect(claimsOf(res.json.access_token)).toMatchObject({ client_id: PEER, sub: PEER, scope: "twinning:federation", iss: ORIGIN });
    // It is one of our tokens: it verifies, and its revocation works like any client's.
    const verified = await (await import("../../src/oauth/tokens")).verifyAccessToken(env, ORIGIN, res.json.access_token);
    expect(verified.client_id).toBe(PEER);
  });

  it("the same rules as a local private_key_jwt: a replayed jti, a lifetime over 300 s, another audience are each refused, saying which", async () => {
    const k = await newKey(`k-${crypto.randomUUID()}`);
    await publish(k);
    const jti = crypto.randomUUID();
    expect((await peerToken(await clientAssertion(k, { jti }))).status).toBe(200);
    const replay = await peerToken(await clientAssertion(k, { jti }));
    expect(replay).toEqual({ status: 401, json: { error: "invalid_client", error_description: "client assertion jti was already used" } });
    const long = await peerToken(await clientAssertion(k, { exp: "10m" }));
    expect(long.json).toEqual({ error: "invalid_client", error_description: "client assertion lives longer than 300 s" });
    const aud = await peerToken(await clientAssertion(k, { aud: "https://elsewhere.example/token" }));
    expect(aud.status).toBe(401);
    expect(aud.json.error_description).toBe(`client assertion: "aud" is "https://elsewhere.example/token", not one of ${ORIGIN}/oauth/token, ${ORIGIN}`);
    const expired = await peerToken(await clientAssertion(k, { exp: "-5m" }));
    expect(expired.json.error_description).toBe('client assertion expired (its "exp" is in the past)');
  });

  it("a key the peer does not publish is refused; after the peer rotates, its new key is accepted without any change here", async () => {
    const old = await newKey(`old-${crypto.randomUUID()}`);
    await publish(old);
    expect((await peerToken(await clientAssertion(old))).status).toBe(200);
    const stranger = await newKey(old.kid); // same kid, another key
    const forged = await peerToken(await clientAssertion(stranger));
    expect(forged).toEqual({ status: 401, json: { error: "invalid_client", error_description: "client assertion: signature does not verify" } });

    const next = await newKey(`new-${crypto.randomUUID()}`);
    await publish(next);
    const before = await fetchesOfJwks();
    // jose refetches a set for an unknown kid at most every 5 s (cooldown): wait it out once.
    await new Promise((r) => setTimeout(r, 5_200));
    const rotated = await peerToken(await clientAssertion(next));
    expect(rotated.status, JSON.stringify(rotated.json)).toBe(200);
    expect(await fetchesOfJwks()).toBeGreaterThan(before);
    // The retired key is gone from the peer's JWKS: it no longer authenticates once the set is refetched.
    await new Promise((r) => setTimeout(r, 5_200));
    const retired = await peerToken(await clientAssertion(old));
    expect(retired.status).toBe(401);
  });

  it("the resolver decides who is a client: unknown issuers, other scopes and other grants are refused", async () => {
    const k = await newKey(`k-${crypto.randomUUID()}`);
    await publish(k);
    const unknown = await peerToken(await clientAssertion(k, { iss: "https://not-a-peer.example" }));
    expect(unknown).toEqual({ status: 401, json: { error: "invalid_client", error_description: "unknown client or wrong credentials" } });
    const scope = await peerToken(await clientAssertion(k), { scope: "twinning:primary" });
    expect(scope.json.error).toBe("invalid_scope");
    const grant = await peerToken(await clientAssertion(k), { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: "x" });
    expect(grant.json.error).toBe("unauthorized_client");
  });
});

describe("Token exchange toward a foreign audience", () => {
  async function exchangeClient() {
    const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Watch app", scopes: ["twinning:secondary", "twinning:delegated"], grant_types: ["urn:ietf:params:oauth:grant-type:jwt-bearer", TOKEN_EXCHANGE] } });
    expect(res.status, res.text).toBe(201);
    return res.json;
  }
  const exchange = (client: { client_id: string; client_secret: string }, subjectToken: string, audience: string) =>
    requestToken(client, { grant_type: TOKEN_EXCHANGE, subject_token: subjectToken, subject_token_type: ACCESS_TOKEN_TYPE, audience, scope: "twinning:delegated" });

  it("the handler gets the verified subject token's claims, the audience and the scope, and its answer is handed back", async () => {
    const client = await exchangeClient();
    const watch = await provision();
    const subjectToken = await token(watch, client, "twinning:secondary");
    const res = await exchange(client, subjectToken, "https://mno-a.example");
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json).toEqual({ access_token: "token-from-mno-a", issued_token_type: ACCESS_TOKEN_TYPE, token_type: "Bearer", expires_in: 600, scope: "twinning:delegated" });
    expect(res.headers.get("Cache-Control")).toBe("no-store");
    const seen = exchanges.at(-1)!;
    expect(seen.audience).toBe("https://mno-a.example");
    expect(seen.scope).toEqual(["twinning:delegated"]);
    expect(seen.subject).toMatchObject({ sub: watch.address, client_id: client.client_id, scope: "twinning:secondary" });
    expect(seen.client.clientId).toBe(client.client_id);
  });

  it("an audience nobody serves is invalid_target; a revoked subject token is invalid_grant and never reaches the handler", async () => {
    const client = await exchangeClient();
    const watch = await provision();
    const subjectToken = await token(watch, client, "twinning:secondary");
    const res = await exchange(client, subjectToken, "https://mno-z.example");
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: "invalid_target", error_description: "no token can be obtained here for the audience https://mno-z.example" });
    const revoked = await SELF.fetch(`${ORIGIN}/oauth/revoke`, {
      method: "POST",
      headers: { Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: subjectToken }).toString(),
    });
    expect(revoked.status).toBe(200);
    const count = exchanges.length;
    const after = await exchange(client, subjectToken, "https://mno-a.example");
    expect(after.json.error).toBe("invalid_grant");
    expect(exchanges.length).toBe(count);
  });
});

describe("mintAccessToken: a token a capability mints with given claims", () => {
  it("a delegated token for a subscriber, with act: verifies like the token endpoint's and works on the API", async () => {
    const client = await registerClient();
    const primary = await device(client);
    const minted = await mintAccessToken(env, ORIGIN, { sub: primary.address, client_id: PEER, scope: "twinning:primary", act: { sub: "tel:+15550009999" } });
    expect(minted).toMatchObject({ token_type: "Bearer", scope: "twinning:primary", expires_in: 3600 });
    expect(claimsOf(minted.access_token)).toMatchObject({ sub: primary.address, client_id: PEER, act: { sub: "tel:+15550009999" }, iss: ORIGIN, aud: ORIGIN });
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: minted.access_token })).status).toBe(200);
  });

  it("a token bound to a relationship (twin_id) dies with it: one naming no live relationship is refused", async () => {
    const client = await registerClient();
    const primary = await device(client);
    const minted = await mintAccessToken(env, ORIGIN, { sub: primary.address, client_id: client.client_id, scope: "twinning:primary", twin_id: crypto.randomUUID() });
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: minted.access_token })).status).toBe(401);
    expect((await introspect(client, minted.access_token)).active).toBe(false);
  });
});
