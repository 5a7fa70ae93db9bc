// Every grant of the authorization server, driven by an independent OAuth client library
// (panva/oauth4webapi) against the real Worker and Durable Objects.
import { SELF, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, importJWK, SignJWT } from "jose";
import * as oauth from "oauth4webapi";
import { beforeAll, describe, expect, it } from "vitest";
import { activate, ADMIN, call, device, enc, ORIGIN, provision, registerClient, requestCode, type Subscriber } from "../helpers";

const options = { [oauth.customFetch]: (url: string, init: RequestInit) => SELF.fetch(url, init), [oauth.allowInsecureRequests]: true } as const;
const REDIRECT = "https://app.example.com/callback";
let as: oauth.AuthorizationServer;

beforeAll(async () => {
  as = await oauth.processDiscoveryResponse(new URL(ORIGIN), await oauth.discoveryRequest(new URL(ORIGIN), { algorithm: "oauth2", ...options }));
});

async function register(body: Record<string, unknown>) {
  const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Third-party app", scopes: ["twinning:primary", "twinning:secondary"], ...body } });
  expect(res.status, res.text).toBe(201);
  return res.json as { client_id: string; client_secret?: string; grant_types: string[] };
}

/** A device-key assertion for a non-token endpoint (login_hint_token, device authorization). */
async function subscriberAssertion(sub: Subscriber, clientId: string, aud: string) {
  return new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(clientId).setSubject(sub.address).setAudience(aud).setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID()).sign(sub.key);
}

async function signWithGatewayKey(claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const row = await runInDurableObject(env.SIGNING_KEYS.getByName("signing-keys"), (_o, state) =>
    state.storage.sql.exec<{ kid: string; private_jwk: string }>("SELECT kid, private_jwk FROM keys WHERE retired_at IS NULL").one(),
  );
  const key = await importJWK(JSON.parse(row.private_jwk), "ES256");
  return new SignJWT(claims).setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: row.kid, ...header }).sign(key);
}

/** Runs the browser part of the code flow with plain HTTP: open the page, press a button. */
async function consent(url: URL, decision: "approve" | "deny") {
  const pageRes = await SELF.fetch(url, { redirect: "manual" });
  const html = await pageRes.text();
  const ticket = html.match(/name="consent" value="([^"]+)"/)?.[1];
  if (!ticket) return { page: pageRes, html };
  const res = await SELF.fetch(`${ORIGIN}/oauth/authorize`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ consent: ticket, decision }).toString(),
  });
  return { page: pageRes, html, redirect: res, location: res.headers.get("location"), ticket };
}

async function codeFlowStart(clientId: string, sub: Subscriber, extra: Record<string, string> = {}) {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(`${ORIGIN}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: "twinning:primary",
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
    login_hint_token: await subscriberAssertion(sub, clientId, `${ORIGIN}/oauth/authorize`),
    ...extra,
  }).toString();
  return { url, verifier, state };
}

describe("Discovery (RFC 8414) and keys", () => {
  it("lists every endpoint, grant, client authentication method and scope", async () => {
    expect(as.issuer).toBe(ORIGIN);
    for (const endpoint of ["authorization_endpoint", "token_endpoint", "device_authorization_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri"] as const) {
      expect(as[endpoint], endpoint).toMatch(new RegExp(`^${ORIGIN}/oauth/`));
    }
    expect(as.grant_types_supported).toEqual(
      expect.arrayContaining(["client_credentials", "authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:token-exchange"]),
    );
    expect(as.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(["client_secret_basic", "client_secret_post", "private_key_jwt"]));
    expect(as.code_challenge_methods_supported).toEqual(["S256"]);
    expect(as.scopes_supported).toEqual(["twinning:primary", "twinning:secondary", "twinning:delegated", "dm:manage", "webrtc:call"]);
  });

  it("rotates the signing key: the new key signs, tokens of the old one still verify", async () => {
    const client = await register({ grant_types: ["client_credentials"], scopes: ["twinning:primary"] });
    const get = async () => oauth.processClientCredentialsResponse(as, { client_id: client.client_id }, await oauth.clientCredentialsGrantRequest(as, { client_id: client.client_id }, oauth.ClientSecretBasic(client.client_secret!), {}, options));
    const before = await get();
    const rotated = await call("POST", "/admin/v1/keys/rotate", { headers: ADMIN });
    expect(rotated.status).toBe(200);
    const after = await get();
    const kid = (t: string) => JSON.parse(atob(t.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"))).kid;
    expect(kid(after.access_token)).toBe(rotated.json.kid);
    expect(kid(before.access_token)).not.toBe(rotated.json.kid);
    const jwks = (await call("GET", "/oauth/jwks")).json;
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).toEqual(expect.arrayContaining([kid(before.access_token), kid(after.access_token)]));
    for (const t of [before.access_token, after.access_token]) {
      const claims = await oauth.validateJwtAccessToken(as, new Request(`${ORIGIN}/x`, { headers: { Authorization: `Bearer ${t}` } }), ORIGIN, options);
      expect(claims.client_id).toBe(client.client_id);
    }
  });
});

describe("client_credentials (2-legged)", () => {
  it("issues a token for the client itself; introspection and revocation through the library", async () => {
    const client = await register({ grant_types: ["client_credentials"], scopes: ["twinning:primary"] });
    const c: oauth.Client = { client_id: client.client_id };
    const auth = oauth.ClientSecretBasic(client.client_secret!);
    const token = await oauth.processClientCredentialsResponse(as, c, await oauth.clientCredentialsGrantRequest(as, c, auth, { scope: "twinning:primary" }, options));
    expect(token.scope).toBe("twinning:primary");
    const active = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, auth, token.access_token, options));
    expect(active).toMatchObject({ active: true, sub: client.client_id, client_id: client.client_id, scope: "twinning:primary" });
    // A client token names no subscriber: the Twinning API refuses it.
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: token.access_token })).status).toBe(403);
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, c, auth, token.access_token, options));
    const revoked = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, auth, token.access_token, options));
    expect(revoked.active).toBe(false);
  });

  it("accepts client_secret_post", async () => {
    const client = await register({ grant_types: ["client_credentials"], token_endpoint_auth_method: "client_secret_post" });
    const c: oauth.Client = { client_id: client.client_id };
    const token = await oauth.processClientCredentialsResponse(as, c, await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretPost(client.client_secret!), {}, options));
    expect(token.access_token).toBeTruthy();
  });

  it("accepts private_key_jwt and refuses a replayed or long-lived client assertion", async () => {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
    const client = await register({ grant_types: ["client_credentials"], token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] } });
    expect(client.client_secret).toBeUndefined();
    const c: oauth.Client = { client_id: client.client_id };
    const token = await oauth.processClientCredentialsResponse(as, c, await oauth.clientCredentialsGrantRequest(as, c, oauth.PrivateKeyJwt({ key: privateKey, kid: "k1" }), {}, options));
    expect(token.access_token).toBeTruthy();

    const clientAssertion = (exp: string, jti = crypto.randomUUID()) =>
      new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(client.client_id).setSubject(client.client_id).setAudience(`${ORIGIN}/oauth/token`).setIssuedAt().setExpirationTime(exp).setJti(jti).sign(privateKey);
    const post = (a: string) =>
      SELF.fetch(`${ORIGIN}/oauth/token`, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: a }).toString(),
      });
    const once = await clientAssertion("2m");
    expect((await post(once)).status).toBe(200);
    const replay = await post(once);
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as any).error).toBe("invalid_client");
    expect((await post(await clientAssertion("1h"))).status).toBe(401);
  });
});

describe("authorization_code with PKCE, and refresh_token rotation", () => {
  it("runs the whole flow through the consent page; state and iss round-trip; the token works on the API", async () => {
    const client = await register({ redirect_uris: [REDIRECT] });
    const c: oauth.Client = { client_id: client.client_id };
    const auth = oauth.ClientSecretBasic(client.client_secret!);
    const sub = await provision();
    const { url, verifier, state } = await codeFlowStart(client.client_id, sub);
    const flow = await consent(url, "approve");
    expect(flow.page.status).toBe(200);
    expect(flow.html).toContain("Third-party app");
    expect(flow.html).toContain("twinning:primary");
    expect(flow.redirect!.status).toBe(303);
    const params = oauth.validateAuthResponse(as, c, new URL(flow.location!), state);
    const tokens = await oauth.processAuthorizationCodeResponse(as, c, await oauth.authorizationCodeGrantRequest(as, c, auth, params, REDIRECT, verifier, options));
    expect(tokens.scope).toBe("twinning:primary");
    expect(tokens.refresh_token).toBeTruthy();
    const list = await call("GET", "/twinning/v1/acr:Authorization/twins", { token: tokens.access_token });
    expect(list.status).toBe(200);
    expect(list.json.twinList.resourceURL).toContain(enc(sub.address));
  });

  it("deny redirects with access_denied and the state", async () => {
    const client = await register({ redirect_uris: [REDIRECT] });
    const { url, state } = await codeFlowStart(client.client_id, await provision());
    const flow = await consent(url, "deny");
    const location = new URL(flow.location!);
    expect(location.origin + location.pathname).toBe(REDIRECT);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe(state);
    expect(() => oauth.validateAuthResponse(as, { client_id: client.client_id }, location, state)).toThrow(oauth.AuthorizationResponseError);
  });

  it("a redirect_uri that differs by one character is shown an error, never redirected to", async () => {
    const client = await register({ redirect_uris: [REDIRECT] });
    const { url } = await codeFlowStart(client.client_id, await provision(), { redirect_uri: `${REDIRECT}x` });
    const res = await SELF.fetch(url, { redirect: "manual" });
    expect(res.status).toBe(400);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("redirect_uri");
  });

  it("PKCE is required (S256 only), a wrong verifier is invalid_grant, and a code is one-time: its replay revokes the tokens it gave", async () => {
    const client = await register({ redirect_uris: [REDIRECT] });
    const c: oauth.Client = { client_id: client.client_id };
    const auth = oauth.ClientSecretBasic(client.client_secret!);
    const sub = await provision();
    const plain = await codeFlowStart(client.client_id, sub, { code_challenge_method: "plain" });
    const refused = await SELF.fetch(plain.url, { redirect: "manual" });
    expect(new URL(refused.headers.get("location")!).searchParams.get("error")).toBe("invalid_request");

    const wrong = await codeFlowStart(client.client_id, sub);
    const wrongFlow = await consent(wrong.url, "approve");
    const wrongParams = oauth.validateAuthResponse(as, c, new URL(wrongFlow.location!), wrong.state);
    const bad = await oauth.authorizationCodeGrantRequest(as, c, auth, wrongParams, REDIRECT, oauth.generateRandomCodeVerifier(), options);
    await expect(oauth.processAuthorizationCodeResponse(as, c, bad)).rejects.toMatchObject({ error: "invalid_grant" });

    const good = await codeFlowStart(client.client_id, sub);
    const flow = await consent(good.url, "approve");
    const params = oauth.validateAuthResponse(as, c, new URL(flow.location!), good.state);
    const tokens = await oauth.processAuthorizationCodeResponse(as, c, await oauth.authorizationCodeGrantRequest(as, c, auth, params, REDIRECT, good.verifier, options));
    const replay = await oauth.authorizationCodeGrantRequest(as, c, auth, params, REDIRECT, good.verifier, options);
    await expect(oauth.processAuthorizationCodeResponse(as, c, replay)).rejects.toMatchObject({ error: "invalid_grant" });
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: tokens.access_token })).status).toBe(401);
    // and the consent ticket cannot mint a second code
    const again = await SELF.fetch(`${ORIGIN}/oauth/authorize`, {
      method: "POST", redirect: "manual", headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ consent: flow.ticket!, decision: "approve" }).toString(),
    });
    expect(again.status).toBe(400);
  });

  it("refresh tokens rotate; reusing an old one revokes the whole family, access tokens included", async () => {
    const client = await register({ redirect_uris: [REDIRECT] });
    const c: oauth.Client = { client_id: client.client_id };
    const auth = oauth.ClientSecretBasic(client.client_secret!);
    const { url, verifier, state } = await codeFlowStart(client.client_id, await provision());
    const flow = await consent(url, "approve");
    const first = await oauth.processAuthorizationCodeResponse(as, c, await oauth.authorizationCodeGrantRequest(as, c, auth, oauth.validateAuthResponse(as, c, new URL(flow.location!), state), REDIRECT, verifier, options));
    const second = await oauth.processRefreshTokenResponse(as, c, await oauth.refreshTokenGrantRequest(as, c, auth, first.refresh_token!, options));
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    const introspected = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, auth, second.refresh_token!, options));
    expect(introspected).toMatchObject({ active: true, token_type: "refresh_token" });
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: second.access_token })).status).toBe(200);

    const reuse = await oauth.refreshTokenGrantRequest(as, c, auth, first.refresh_token!, options);
    await expect(oauth.processRefreshTokenResponse(as, c, reuse)).rejects.toMatchObject({ error: "invalid_grant" });
    const afterReuse = await oauth.refreshTokenGrantRequest(as, c, auth, second.refresh_token!, options);
    await expect(oauth.processRefreshTokenResponse(as, c, afterReuse)).rejects.toMatchObject({ error: "invalid_grant" });
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: second.access_token })).status).toBe(401);
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: first.access_token })).status).toBe(401);
  });

  it("revoking a refresh token (RFC 7009) ends its grant", async () => {
    const client = await register({ redirect_uris: [REDIRECT] });
    const c: oauth.Client = { client_id: client.client_id };
    const auth = oauth.ClientSecretBasic(client.client_secret!);
    const { url, verifier, state } = await codeFlowStart(client.client_id, await provision());
    const flow = await consent(url, "approve");
    const tokens = await oauth.processAuthorizationCodeResponse(as, c, await oauth.authorizationCodeGrantRequest(as, c, auth, oauth.validateAuthResponse(as, c, new URL(flow.location!), state), REDIRECT, verifier, options));
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, c, auth, tokens.refresh_token!, options));
    const introspected = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, auth, tokens.access_token, options));
    expect(introspected.active).toBe(false);
    await expect(oauth.processRefreshTokenResponse(as, c, await oauth.refreshTokenGrantRequest(as, c, auth, tokens.refresh_token!, options))).rejects.toMatchObject({ error: "invalid_grant" });
  });
});

describe("device_code (RFC 8628) for the secondary, use case step 8", () => {
  it("the activation code is the user code; polling gives pending, slow_down, then the secondary's twinning token once the primary activates", async () => {
    const client = await register({ scopes: ["twinning:secondary", "twinning:delegated"] });
    const c: oauth.Client = { client_id: client.client_id };
    const auth = oauth.ClientSecretBasic(client.client_secret!);
    const watch = await provision();
    const phone = await device(await registerClient());
    const authorization = await oauth.processDeviceAuthorizationResponse(
      as, c,
      await oauth.deviceAuthorizationRequest(as, c, auth, { scope: "twinning:secondary", assertion: await subscriberAssertion(watch, client.client_id, `${ORIGIN}/oauth/device_authorization`) }, options),
    );
    expect(authorization.user_code).toMatch(/^[0-9]{6}$/);
    expect(authorization.interval).toBe(5);
    const poll = () => oauth.deviceCodeGrantRequest(as, c, auth, authorization.device_code, options);
    await expect(oauth.processDeviceCodeResponse(as, c, await poll())).rejects.toMatchObject({ error: "authorization_pending" });
    await expect(oauth.processDeviceCodeResponse(as, c, await poll())).rejects.toMatchObject({ error: "slow_down" });

    expect((await activate(phone, authorization.user_code, "watch")).status).toBe(201);
    const token = await oauth.processDeviceCodeResponse(as, c, await poll());
    expect(token.scope).toBe("twinning:secondary");
    const claims = await oauth.validateJwtAccessToken(as, new Request(`${ORIGIN}/x`, { headers: { Authorization: `Bearer ${token.access_token}` } }), ORIGIN, options);
    expect(claims.sub).toBe(watch.address);
    await expect(oauth.processDeviceCodeResponse(as, c, await poll())).rejects.toMatchObject({ error: "invalid_grant" });

    // HLF-SD-005: the secondary toggles with it; TE-003: Off does not end the token
    expect((await call("PUT", "/twinning/v1/acr:Authorization/relationship/status", { token: token.access_token, body: { status: "Off" } })).status).toBe(200);
    expect((await call("GET", "/twinning/v1/acr:Authorization/relationship", { token: token.access_token })).status).toBe(200);

    // HLF-SD-009: token exchange for a token acting on the primary's services
    const exchanged = await oauth.processGenericTokenEndpointResponse(as, c,
      await oauth.genericTokenEndpointRequest(as, c, auth, "urn:ietf:params:oauth:grant-type:token-exchange", {
        subject_token: token.access_token, subject_token_type: "urn:ietf:params:oauth:token-type:access_token", scope: "twinning:delegated",
      }, options));
    const introspect = (t: string) => oauth.introspectionRequest(as, c, auth, t, options).then((r) => oauth.processIntrospectionResponse(as, c, r));
    expect(await introspect(exchanged.access_token)).toMatchObject({ active: true, sub: phone.address, act: { sub: watch.address }, scope: "twinning:delegated" });

    // HLF-TE-004, SD-007: the primary deactivates; every token of that relationship fails at once
    expect((await call("DELETE", `/twinning/v1/${enc(phone.address)}/twins/watch`, { token: phone.token })).status).toBe(204);
    const after = await call("GET", "/twinning/v1/acr:Authorization/relationship", { token: token.access_token });
    expect(after.status).toBe(401);
    expect(after.headers.get("www-authenticate")).toMatch(/invalid_token/);
    expect((await introspect(token.access_token)).active).toBe(false);
    expect((await introspect(exchanged.access_token)).active).toBe(false);
  });

  it("the REST activation-code request doubles as the device authorization; a replaced code is access_denied, an expired one expired_token", async () => {
    const app = await registerClient();
    const watch = await device(app);
    const c: oauth.Client = { client_id: app.client_id };
    const auth = oauth.ClientSecretBasic(app.client_secret);
    const first = (await requestCode(watch)).json.activationCode;
    expect(first.deviceCode).toBeTruthy();
    const poll = async (code: string) => oauth.processDeviceCodeResponse(as, c, await oauth.deviceCodeGrantRequest(as, c, auth, code, options));
    await expect(poll(first.deviceCode)).rejects.toMatchObject({ error: "authorization_pending" });
    const second = (await requestCode(watch)).json.activationCode;
    await expect(poll(first.deviceCode)).rejects.toMatchObject({ error: expect.stringMatching(/access_denied|slow_down/) });
    await runInDurableObject(env.SUBSCRIBERS.getByName(watch.address), (_o, state) => {
      state.storage.sql.exec("UPDATE device_grant SET expires_at = ?, last_poll_at = NULL", Date.now() - 1);
      state.storage.sql.exec("UPDATE current_code SET expires_at = ?", Date.now() - 1);
    });
    await expect(poll(second.deviceCode)).rejects.toMatchObject({ error: "expired_token" });
  });

  it("the secondary deactivating ends its relationship token too", async () => {
    const app = await registerClient();
    const [phone, watch] = [await device(app), await device(app)];
    const code = (await requestCode(watch)).json.activationCode;
    await activate(phone, code.code);
    const c: oauth.Client = { client_id: app.client_id };
    const token = await oauth.processDeviceCodeResponse(as, c, await oauth.deviceCodeGrantRequest(as, c, oauth.ClientSecretBasic(app.client_secret), code.deviceCode, options));
    expect((await call("DELETE", "/twinning/v1/acr:Authorization/relationship", { token: token.access_token })).status).toBe(204);
    expect((await call("GET", "/twinning/v1/acr:Authorization/relationship", { token: token.access_token })).status).toBe(401);
    // the device's own (unbound) token keeps working for a new activation code
    expect((await requestCode(watch)).status).toBe(201);
  });
});

describe("Refusals (RFC 6749 §5.2) and forged tokens", () => {
  it("unauthorized_client, unsupported_grant_type, invalid_scope, invalid_request, invalid_client", async () => {
    const client = await register({ grant_types: ["client_credentials"], scopes: ["twinning:primary"] });
    const c: oauth.Client = { client_id: client.client_id };
    const auth = oauth.ClientSecretBasic(client.client_secret!);
    const grant = (type: string, params: Record<string, string>) => oauth.genericTokenEndpointRequest(as, c, auth, type, params, options).then((r) => oauth.processGenericTokenEndpointResponse(as, c, r));
    await expect(grant("urn:ietf:params:oauth:grant-type:jwt-bearer", { assertion: "x" })).rejects.toMatchObject({ error: "unauthorized_client" });
    await expect(grant("password", { username: "a", password: "b" })).rejects.toMatchObject({ error: "unsupported_grant_type" });
    await expect(grant("client_credentials", { scope: "twinning:secondary" })).rejects.toMatchObject({ error: "invalid_scope" });
    const publicClient = await register({ token_endpoint_auth_method: "none", redirect_uris: [REDIRECT] });
    const cc = await SELF.fetch(`${ORIGIN}/oauth/token`, {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "authorization_code", client_id: publicClient.client_id }).toString(),
    });
    expect(await cc.json()).toMatchObject({ error: "invalid_request" });
    const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa(`${client.client_id}:nope`)}` },
      body: "grant_type=client_credentials",
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Basic/);
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  it("a tampered signature, another issuer, alg none and an expired token are each 401 on the API and inactive in introspection", async () => {
    const app = await registerClient();
    const sub = await device(app);
    const now = Math.floor(Date.now() / 1000);
    const base = { sub: sub.address, client_id: app.client_id, scope: "twinning:primary twinning:secondary", jti: crypto.randomUUID(), iat: now, aud: ORIGIN };
    const [h, p] = sub.token.split(".");
    const header = JSON.parse(atob(h!.replace(/-/g, "+").replace(/_/g, "/")));
    const b64 = (o: unknown) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const forged = {
      tampered: `${h}.${b64({ ...JSON.parse(atob(p!.replace(/-/g, "+").replace(/_/g, "/"))), scope: "twinning:primary twinning:secondary twinning:delegated" })}.${sub.token.split(".")[2]}`,
      otherIssuer: await signWithGatewayKey({ ...base, iss: "https://evil.example", exp: now + 600 }),
      algNone: `${b64({ ...header, alg: "none" })}.${p}.`,
      expired: await signWithGatewayKey({ ...base, iss: ORIGIN, iat: now - 7200, exp: now - 3600 }),
    };
    const confidential = await register({ grant_types: ["client_credentials"] });
    const c: oauth.Client = { client_id: confidential.client_id };
    for (const [name, token] of Object.entries(forged)) {
      const res = await call("GET", "/twinning/v1/acr:Authorization/twins", { token });
      expect(res.status, name).toBe(401);
      expect(res.headers.get("www-authenticate"), name).toMatch(/^Bearer error="invalid_token"/);
      const introspected = await oauth.processIntrospectionResponse(as, c, await oauth.introspectionRequest(as, c, oauth.ClientSecretBasic(confidential.client_secret!), token, options));
      expect(introspected.active, name).toBe(false);
    }
    // the genuine one still works, so the refusals above are about the forgeries
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: sub.token })).status).toBe(200);
  });

  it("a token revoked through /oauth/revoke fails at once; another client cannot revoke it", async () => {
    const app = await registerClient();
    const other = await registerClient();
    const sub = await device(app);
    const revoke = (client: { client_id: string; client_secret: string }) =>
      oauth.revocationRequest(as, { client_id: client.client_id }, oauth.ClientSecretBasic(client.client_secret), sub.token, options);
    expect((await revoke(other)).status).toBe(400);
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: sub.token })).status).toBe(200);
    await oauth.processRevocationResponse(await revoke(app));
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: sub.token })).status).toBe(401);
  });

  it("a replayed device-key assertion on the consent page is refused", async () => {
    const client = await register({ redirect_uris: [REDIRECT] });
    const sub = await provision();
    const { url } = await codeFlowStart(client.client_id, sub);
    expect((await SELF.fetch(url, { redirect: "manual" })).status).toBe(200);
    const replay = await SELF.fetch(url, { redirect: "manual" });
    expect(replay.status).toBe(302);
    expect(new URL(replay.headers.get("location")!).searchParams.get("error")).toBe("access_denied");
  });
});
