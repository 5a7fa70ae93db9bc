// Token verification cost per request, isolated from the rest of the gateway: a Hono Worker (like
// the empty-route reference) whose only work is to verify the bearer token. It reaches the gateway's
// own SigningKeysObject (same workerd process, bound by script name), so the gateway's tokens verify.
//   GET /verify/memo      a cache this benchmark proposes: verified claims per token string, per isolate,
//                         until the token expires (signature checked once per token and isolate)
//   GET /verify/cached    the gateway's verifyAccessToken (src/oauth/tokens.ts): CryptoKeys cached per isolate
//   GET /verify/import    the JWK set cached, but importJWK on every request (no CryptoKey cache)
//   GET /verify/uncached  no cache at all: the key set from the Durable Object and importJWK on every request
import { Hono } from "hono";
import { decodeProtectedHeader, importJWK, jwtVerify, type JWK } from "jose";
import { accessTokenTtl, verifyAccessToken, type AccessTokenClaims } from "../../src/oauth/tokens";
import type { Env as GatewayEnv } from "../../src/env";
import type { SigningKeySet } from "../../src/oauth/signing-keys-object";

type Env = GatewayEnv & { ISSUER: string };

const app = new Hono<{ Bindings: Env }>();

const bearer = (header: string | undefined) => header?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? "";
const options = (issuer: string) => ({
  algorithms: ["ES256"],
  typ: "at+jwt",
  issuer,
  audience: issuer,
  requiredClaims: ["sub", "exp", "iat", "jti", "client_id", "scope"],
});

async function keySet(env: Env): Promise<SigningKeySet> {
  return env.SIGNING_KEYS.getByName("signing-keys").keySet(accessTokenTtl(env) * 1000);
}

async function verifyWith(jwks: JWK[], issuer: string, token: string) {
  const { kid } = decodeProtectedHeader(token);
  const jwk = jwks.find((k) => k.kid === kid);
  if (!jwk) throw new Error("unknown kid");
  const { payload } = await jwtVerify(token, await importJWK(jwk, "ES256"), options(issuer));
  return payload;
}

let jwksCache: JWK[] | undefined;

// Bounded: the oldest entry goes first (Map keeps insertion order).
const MEMO_MAX = 10_000;
const memo = new Map<string, AccessTokenClaims>();

async function memoVerify(env: Env, token: string): Promise<AccessTokenClaims> {
  const hit = memo.get(token);
  if (hit && hit.exp! * 1000 > Date.now()) return hit;
  const claims = await verifyAccessToken(env, env.ISSUER, token);
  if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value!);
  memo.set(token, claims);
  return claims;
}

app.get("/verify/memo", async (c) => {
  const claims = await memoVerify(c.env, bearer(c.req.header("authorization")));
  return c.json({ sub: claims.sub });
});

app.get("/verify/cached", async (c) => {
  const claims = await verifyAccessToken(c.env, c.env.ISSUER, bearer(c.req.header("authorization")));
  return c.json({ sub: claims.sub });
});

app.get("/verify/import", async (c) => {
  jwksCache ??= (await keySet(c.env)).keys;
  const claims = await verifyWith(jwksCache, c.env.ISSUER, bearer(c.req.header("authorization")));
  return c.json({ sub: claims.sub });
});

app.get("/verify/uncached", async (c) => {
  const claims = await verifyWith((await keySet(c.env)).keys, c.env.ISSUER, bearer(c.req.header("authorization")));
  return c.json({ sub: claims.sub });
});

app.onError((err, c) => c.json({ error: err instanceof Error ? err.message : String(err) }, 401));

export default app;
