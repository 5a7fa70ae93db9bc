// RFC 9068 JWT access tokens: issued with the active ES256 key, verified against the JWKS.
// Key material is cached per isolate; a token naming an unknown kid refreshes the cache at most
// once every few seconds, so forged kids cannot turn every request into a Durable Object call.
import { importJWK, jwtVerify, SignJWT, errors as joseErrors, type JWK, type JWTPayload } from "jose";
import type { Env } from "../env";
import type { SigningKeySet } from "./signing-keys-object";

export const SCOPES = {
  "twinning:primary": "Act as a primary device: activate, list, toggle and deactivate its twins (HLF-PD-*).",
  "twinning:secondary": "Act as a secondary device: request activation codes, query, toggle and end its own relationship (HLF-SD-*).",
} as const;
export type Scope = keyof typeof SCOPES;
export const isScope = (s: string): s is Scope => Object.hasOwn(SCOPES, s);

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  client_id: string;
  scope: string;
}

interface KeyCache {
  signing?: { kid: string; key: CryptoKey };
  verifying: Map<string, CryptoKey>;
  refreshedAt: number;
}
const cache: KeyCache = { verifying: new Map(), refreshedAt: 0 };
const REFRESH_INTERVAL_MS = 5_000;

async function loadKeys(env: Env): Promise<void> {
  const set: SigningKeySet = await env.SIGNING_KEYS.getByName("signing-keys").keySet();
  cache.signing = { kid: set.active.kid, key: (await importJWK(set.active.privateJwk, "ES256")) as CryptoKey };
  for (const jwk of set.keys) {
    if (jwk.kid && !cache.verifying.has(jwk.kid)) cache.verifying.set(jwk.kid, (await importJWK(jwk, "ES256")) as CryptoKey);
  }
  cache.refreshedAt = Date.now();
}

export async function publicJwks(env: Env): Promise<{ keys: JWK[] }> {
  const set = await env.SIGNING_KEYS.getByName("signing-keys").keySet();
  return { keys: set.keys };
}

export function issuerOf(env: Env, requestUrl: string): string {
  return env.ISSUER ?? new URL(requestUrl).origin;
}

export function accessTokenTtl(env: Env): number {
  const ttl = Number(env.ACCESS_TOKEN_TTL_SECONDS ?? 3600);
  return Number.isFinite(ttl) && ttl > 0 ? ttl : 3600;
}

export async function issueAccessToken(
  env: Env,
  issuer: string,
  claims: { sub: string; client_id: string; scope: string; [extra: string]: unknown },
): Promise<{ token: string; expiresIn: number }> {
  if (!cache.signing) await loadKeys(env);
  const { kid, key } = cache.signing!;
  const expiresIn = accessTokenTtl(env);
  const token = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid })
    .setIssuer(issuer)
    .setAudience(issuer)
    .setIssuedAt()
    .setExpirationTime(`${expiresIn}s`)
    .setJti(crypto.randomUUID())
    .sign(key);
  return { token, expiresIn };
}

export class InvalidTokenError extends Error {}

async function keyFor(env: Env, kid: string | undefined): Promise<CryptoKey> {
  if (!kid) throw new InvalidTokenError("token has no kid");
  let key = cache.verifying.get(kid);
  if (!key && Date.now() - cache.refreshedAt > REFRESH_INTERVAL_MS) {
    await loadKeys(env);
    key = cache.verifying.get(kid);
  }
  if (!key) throw new InvalidTokenError("token signed by an unknown key");
  return key;
}

/** Verifies signature, type, issuer, audience and lifetime. Throws InvalidTokenError with the reason. */
export async function verifyAccessToken(env: Env, issuer: string, token: string): Promise<AccessTokenClaims> {
  try {
    const { payload } = await jwtVerify(token, (header) => keyFor(env, header.kid), {
      algorithms: ["ES256"],
      typ: "at+jwt",
      issuer,
      audience: issuer,
      requiredClaims: ["sub", "exp", "iat", "jti", "client_id", "scope"],
    });
    if (typeof payload.scope !== "string" || typeof payload.client_id !== "string") throw new InvalidTokenError("malformed claims");
    return payload as AccessTokenClaims;
  } catch (err) {
    if (err instanceof InvalidTokenError) throw err;
    if (err instanceof joseErrors.JOSEError) throw new InvalidTokenError(err.code === "ERR_JWT_EXPIRED" ? "token expired" : "token invalid");
    throw err;
  }
}
