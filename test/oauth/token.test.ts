import { SELF } from "cloudflare:test";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ADMIN, assertion, basic, call, enc, ORIGIN, provision, registerClient, requestToken, token } from "../helpers";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const client = await registerClient(["twinning:primary", "twinning:secondary"]);

describe("Token endpoint: jwt-bearer grant (RFC 7523) and RFC 9068 access tokens", () => {
  it("issues an ES256 at+jwt that verifies against /oauth/jwks, with the requested scopes", async () => {
    const sub = await provision();
    const res = await requestToken(client, { grant_type: JWT_BEARER, assertion: await assertion(sub, client), scope: "twinning:primary" });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.json).toMatchObject({ token_type: "Bearer", scope: "twinning:primary", expires_in: 3600 });
    const jwks = (await (await SELF.fetch(`${ORIGIN}/oauth/jwks`)).json()) as any;
    expect(jwks.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256" });
    expect(jwks.keys[0].d).toBeUndefined();
    const { payload, protectedHeader } = await jwtVerify(res.json.access_token, createLocalJWKSet(jwks), { issuer: ORIGIN, audience: ORIGIN, typ: "at+jwt" });
    expect(protectedHeader.alg).toBe("ES256");
    expect(payload).toMatchObject({ sub: sub.address, client_id: client.client_id, scope: "twinning:primary" });
    expect(payload.jti).toBeTruthy();
  });

  it("without a scope parameter the client gets every scope it is registered for; never one it is not", async () => {
    const limited = await registerClient(["twinning:secondary"]);
    const sub = await provision();
    const all = await requestToken(limited, { grant_type: JWT_BEARER, assertion: await assertion(sub, limited) });
    expect(all.json.scope).toBe("twinning:secondary");
    const more = await requestToken(limited, { grant_type: JWT_BEARER, assertion: await assertion(sub, limited), scope: "twinning:primary" });
    expect(more.status).toBe(400);
    expect(more.json.error).toBe("invalid_scope");
    const unknown = await requestToken(limited, { grant_type: JWT_BEARER, assertion: await assertion(sub, limited), scope: "admin" });
    expect(unknown.json.error).toBe("invalid_scope");
  });

  it("a replayed assertion (same jti) is invalid_grant", async () => {
    const sub = await provision();
    const a = await assertion(sub, client);
    expect((await requestToken(client, { grant_type: JWT_BEARER, assertion: a })).status).toBe(200);
    const replay = await requestToken(client, { grant_type: JWT_BEARER, assertion: a });
    expect(replay.status).toBe(400);
    expect(replay.json).toMatchObject({ error: "invalid_grant", error_description: expect.stringMatching(/jti/) });
  });

  it("assertions signed with another key, for another audience, from another client, or too long-lived are invalid_grant", async () => {
    const sub = await provision();
    const other = await registerClient();
    const cases = [
      await assertion(sub, client, {}, crypto.getRandomValues(new Uint8Array(32))),
      await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(sub.address).setAudience("https://elsewhere/token").setExpirationTime("2m").setJti("x1").sign(sub.key),
      await assertion(sub, other),
      await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(sub.address).setAudience(`${ORIGIN}/oauth/token`).setExpirationTime("1h").setJti("x2").sign(sub.key),
      await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(sub.address).setAudience(`${ORIGIN}/oauth/token`).setExpirationTime("2m").sign(sub.key),
      await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(sub.address).setAudience(`${ORIGIN}/oauth/token`).setExpirationTime(Math.floor(Date.now() / 1000) - 120).setJti("x3").sign(sub.key),
      "not-a-jwt",
    ];
    for (const [i, a] of cases.entries()) {
      const res = await requestToken(client, { grant_type: JWT_BEARER, assertion: a });
      expect(res.status, `case ${i}`).toBe(400);
      expect(res.json.error, `case ${i}`).toBe("invalid_grant");
    }
  });

  it("an assertion for an unprovisioned subscriber is invalid_grant", async () => {
    const ghost = { address: "tel:+15550000000", key: crypto.getRandomValues(new Uint8Array(32)) };
    const res = await requestToken(client, { grant_type: JWT_BEARER, assertion: await assertion(ghost, client) });
    expect(res.json.error).toBe("invalid_grant");
  });

  it("client authentication failures are 401 invalid_client with WWW-Authenticate", async () => {
    const sub = await provision();
    const form = { grant_type: JWT_BEARER, assertion: await assertion(sub, client) };
    for (const auth of [null, basic({ ...client, client_secret: "wrong" }), basic({ client_id: "client-nobody", client_secret: "x" }), "Bearer abc", "Basic !!!"]) {
      const res = await requestToken(client, form, auth);
      expect(res.status, String(auth)).toBe(401);
      expect(res.json.error).toBe("invalid_client");
      expect(res.headers.get("www-authenticate")).toMatch(/^Basic/);
    }
  });

  it("client_secret_post is accepted too", async () => {
    const sub = await provision();
    const res = await requestToken(client, { grant_type: JWT_BEARER, assertion: await assertion(sub, client), client_id: client.client_id, client_secret: client.client_secret }, null);
    expect(res.status).toBe(200);
  });

  it("RFC 6749 §5.2 errors: unsupported_grant_type, invalid_request", async () => {
    expect((await requestToken(client, { grant_type: "password", username: "a", password: "b" })).json.error).toBe("unsupported_grant_type");
    expect((await requestToken(client, { grant_type: JWT_BEARER })).json.error).toBe("invalid_request");
    expect((await requestToken(client, { assertion: "x" })).json.error).toBe("invalid_request");
    const json = await SELF.fetch(`${ORIGIN}/oauth/token`, { method: "POST", headers: { "Content-Type": "application/json", Authorization: basic(client) }, body: "{}" });
    expect(json.status).toBe(400);
    expect(((await json.json()) as any).error).toBe("invalid_request");
  });
});

describe("HLF-CM-006, OAU-001/002: every Twinning call checks the bearer token", () => {
  const routes = (user: string) => [
    ["POST", `/twinning/v1/${user}/activationCodes`, "twinning:secondary", {}],
    ["GET", `/twinning/v1/${user}/relationship`, "twinning:secondary"],
    ["PUT", `/twinning/v1/${user}/relationship/status`, "twinning:secondary", { status: "On" }],
    ["DELETE", `/twinning/v1/${user}/relationship`, "twinning:secondary"],
    ["POST", `/twinning/v1/${user}/twins`, "twinning:primary", { activationCode: "123456" }],
    ["GET", `/twinning/v1/${user}/twins`, "twinning:primary"],
    ["GET", `/twinning/v1/${user}/twins/x`, "twinning:primary"],
    ["PUT", `/twinning/v1/${user}/twins/x/status`, "twinning:primary", { status: "On" }],
    ["DELETE", `/twinning/v1/${user}/twins/x`, "twinning:primary"],
  ] as const;

  it("a missing, malformed, forged or expired token is 401 with WWW-Authenticate: Bearer error=\"invalid_token\"", async () => {
    const sub = await provision();
    const good = await token(sub, client);
    const [h, p] = good.split(".");
    const forged = `${h}.${p}.${"A".repeat(86)}`;
    const hs = await new SignJWT({ scope: "twinning:primary twinning:secondary", client_id: client.client_id })
      .setProtectedHeader({ alg: "HS256", typ: "at+jwt", kid: decodeProtectedHeader(good).kid })
      .setSubject(sub.address).setIssuer(ORIGIN).setAudience(ORIGIN).setIssuedAt().setExpirationTime("1h").setJti("j").sign(sub.key);
    for (const [method, path] of routes(enc(sub.address))) {
      for (const t of [undefined, "garbage", forged, hs]) {
        const res = await call(method, path, { token: t, body: method === "GET" || method === "DELETE" ? undefined : {} });
        expect(res.status, `${method} ${path} ${t?.slice(0, 10)}`).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
        expect(res.json.requestError.policyException.messageId).toBe("POL0001");
      }
    }
  });

  it("the wrong scope is 403 insufficient_scope", async () => {
    const sub = await provision();
    const primaryOnly = await token(sub, client, "twinning:primary");
    const secondaryOnly = await token(sub, client, "twinning:secondary");
    for (const [method, path, scope, body] of routes(enc(sub.address))) {
      const res = await call(method, path, { token: scope === "twinning:primary" ? secondaryOnly : primaryOnly, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.headers.get("www-authenticate")).toBe(`Bearer error="insufficient_scope", scope="${scope}"`);
    }
  });

  it("a {userId} that is not the token's subscriber is 403", async () => {
    const sub = await provision();
    const other = await provision();
    const t = await token(sub, client);
    for (const [method, path, , body] of routes(enc(other.address))) {
      const res = await call(method, path, { token: t, body });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.json.requestError.policyException.variables[0]).toMatch(/userId/);
    }
  });

  it("a token whose subscriber was removed is 401", async () => {
    const sub = await provision();
    const t = await token(sub, client);
    await call("DELETE", `/admin/v1/subscribers/${enc(sub.address)}`, { headers: { Authorization: "Bearer dev-admin-token" } });
    const res = await call("GET", "/twinning/v1/acr:Authorization/twins", { token: t });
    expect(res.status).toBe(401);
  });

  it("a device key replaced by the operator verifies no assertion from then on, the new one at once", async () => {
    const sub = await provision();
    expect((await requestToken(client, { grant_type: JWT_BEARER, assertion: await assertion(sub, client) })).status).toBe(200);
    const replaced = { address: sub.address, key: crypto.getRandomValues(new Uint8Array(32)) };
    const deviceKey = btoa(String.fromCharCode(...replaced.key)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect((await call("PUT", `/admin/v1/subscribers/${enc(sub.address)}`, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey } })).status).toBe(200);
    const old = await requestToken(client, { grant_type: JWT_BEARER, assertion: await assertion(sub, client) });
    expect(old.status).toBe(400);
    expect(old.json).toMatchObject({ error: "invalid_grant", error_description: "assertion: signature does not verify" });
    expect((await requestToken(client, { grant_type: JWT_BEARER, assertion: await assertion(replaced, client) })).status).toBe(200);
  });

  it("token requests of one client at the same time each get their own verdict: a wrong secret among right ones fails alone", async () => {
    const subs = await Promise.all(Array.from({ length: 6 }, () => provision()));
    const wrong = { ...client, client_secret: "not-the-secret" };
    const answers = await Promise.all(
      subs.flatMap((sub, i) => [
        (async () => requestToken(client, { grant_type: JWT_BEARER, assertion: await assertion(sub, client) }))(),
        ...(i % 2 ? [(async () => requestToken(wrong, { grant_type: JWT_BEARER, assertion: await assertion(sub, client) }))()] : []),
      ]),
    );
    expect(answers.map((a) => a.status)).toEqual(subs.flatMap((_, i) => (i % 2 ? [200, 401] : [200])));
  });
});
