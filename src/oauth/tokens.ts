// RFC 9068 JWT access tokens: issued with the active ES256 key, verified against the JWKS.
// Key material is cached per isolate. The signing key is re-read at most once a minute, so a
// rotation reaches every isolate within a minute; a token naming an unknown kid refreshes the
// verification keys at most once every few seconds, so forged kids cannot turn every request
// into a Durable Object call.
import { importJWK, jwtVerify, errors as joseErrors, type JWK, type JWTPayload } from "jose";
import { env as startupEnv } from "cloudflare:workers";
import { config } from "../config";
import type { Env } from "../env";
import { base64url } from "../http/crypto";
import { ApiError } from "../http/errors";
import { describeJwtError } from "../http/jwt-errors";
import type { TokenRef } from "../http/auth";

/** OAU-002: the scopes of the Twinning feature. */
export const SCOPES = {
  "twinning:primary": "Act as a primary device: activate, list, toggle and deactivate its twins (HLF-PD-*).",
  "twinning:secondary": "Act as a secondary device: request activation codes, query, toggle and end its own relationship (HLF-SD-*).",
  "twinning:delegated":
    "Act on the primary's network services as its twinned secondary (HLF-SD-009): sub is the primary, act names the secondary. Ends with the relationship.",
  "dm:manage": "Queue device-management jobs and read their results, management trees and notifications (DM web services, for service providers).",
  "webrtc:call": "Place, answer and end WebRTC calls of the subscriber, and receive its call invitations (RESTful Network API for WebRTC Signaling).",
} as const;
export type Scope = keyof typeof SCOPES;
export const isScope = (s: string): s is Scope => Object.hasOwn(SCOPES, s);

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  client_id: string;
  scope: string;
  jti: string;
  exp: number;
  /** RFC 9068 §2.2.1: when the subscriber authorised the grant, on tokens of an earlier grant (code, refresh). */
  auth_time?: number;
  /** Set on tokens that live only as long as one twinning relationship (HLF-TE-004). */
  twin_id?: string;
  /** RFC 8693 actor: the secondary acting for the primary (HLF-SD-009). */
  act?: { sub: string };
}

/** What a Durable Object needs to know to tell whether a token is still live (defined by src/http/auth.ts). */
export type { TokenRef };
export const tokenRef = (c: AccessTokenClaims): TokenRef => ({
  jti: c.jti, exp: c.exp, iat: c.iat!,
  ...(typeof c.auth_time === "number" ? { authTime: c.auth_time } : {}),
  ...(c.twin_id ? { twinId: c.twin_id } : {}),
});

interface KeyCache {
  signing?: { kid: string; key: CryptoKey; loadedAt: number };
  verifying: Map<string, CryptoKey>;
  jwks: JWK[];
  refreshedAt: number;
}
const cache: KeyCache = { verifying: new Map(), jwks: [], refreshedAt: 0 };
const SIGNING_KEY_MAX_AGE_MS = 60_000;
const REFRESH_INTERVAL_MS = 5_000;

export function accessTokenTtl(env: Env): number {
  return config(env).ACCESS_TOKEN_TTL_SECONDS;
}

async function loadKeys(env: Env): Promise<void> {
  const set = await env.SIGNING_KEYS.getByName("signing-keys").keySet(accessTokenTtl(env) * 1000);
  cache.signing = { kid: set.active.kid, key: (await importJWK(set.active.privateJwk, "ES256")) as CryptoKey, loadedAt: Date.now() };
  const verifying = new Map<string, CryptoKey>();
  for (const jwk of set.keys) {
    if (jwk.kid) verifying.set(jwk.kid, cache.verifying.get(jwk.kid) ?? ((await importJWK(jwk, "ES256")) as CryptoKey));
  }
  cache.verifying = verifying;
  cache.jwks = set.keys;
  cache.refreshedAt = Date.now();
}

/** Forgets the cached keys of this isolate (after a rotation made here). */
export function forgetKeys(): void {
  cache.signing = undefined;
  cache.refreshedAt = 0;
}

export async function publicJwks(env: Env): Promise<{ keys: JWK[] }> {
  if (Date.now() - cache.refreshedAt > REFRESH_INTERVAL_MS) await loadKeys(env);
  return { keys: cache.jwks };
}

/**
 * Local development is recognised by where the request arrived, never by a setting that a deploy
 * could forget: a loopback address, `localhost` (RFC 6761 §6.3) or a `.test` name (RFC 6761 §6.2,
 * the test suite's `gateway.test`). Behind Cloudflare's edge a request can carry none of these, so
 * production always needs ISSUER.
 */
export function isLocalDevelopmentHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, "");
  return host === "localhost" || host.endsWith(".localhost") || host.endsWith(".test") || /^127(?:\.\d{1,3}){3}$/.test(host) || host === "[::1]";
}

/** Refusal to issue or accept tokens while ISSUER is unset outside local development. */
export class IssuerNotConfigured extends ApiError {
  constructor() {
    super(503, "SVC0001", ["ISSUER is not set: tokens are issued only when the gateway knows its own URL (set ISSUER in wrangler.toml [vars])"]);
  }
}

let issuerWarned = false;

/**
 * The issuer (`iss` and `aud` of our tokens). ISSUER when it is set; otherwise, in local development
 * only, the origin the request arrived on. Anywhere else an unset ISSUER would let the Host header
 * choose the issuer, so nothing is issued or accepted, and the log says why (once per isolate).
 */
export function issuerOf(env: Env, requestUrl: string): string {
  const configured = config(env).ISSUER;
  if (configured) return configured;
  const url = new URL(requestUrl);
  if (isLocalDevelopmentHost(url.hostname)) return url.origin;
  if (!issuerWarned) {
    issuerWarned = true;
    console.error(`ISSUER is not set and ${url.hostname} is not a local development host: refusing to issue or accept tokens until ISSUER is set`);
  }
  throw new IssuerNotConfigured();
}

// Said at start-up as well, so that a deploy without ISSUER shows in the log before anyone asks.
if (!(startupEnv as { ISSUER?: string } | undefined)?.ISSUER) console.warn("ISSUER is not set: tokens are issued only to requests on local development hosts (loopback, localhost, *.test)");

/** The active signing key (for access tokens and the gateway's other signed artefacts). */
export async function signingKey(env: Env): Promise<{ kid: string; key: CryptoKey }> {
  if (!cache.signing || Date.now() - cache.signing.loadedAt > SIGNING_KEY_MAX_AGE_MS) await loadKeys(env);
  return cache.signing!;
}

/** The identity of an access token, fixed before it is signed so that its owner can record it first. */
export interface AccessTokenId {
  jti: string;
  iat: number;
  exp: number;
}

export function newAccessTokenId(env: Env): AccessTokenId {
  const iat = Math.floor(Date.now() / 1000);
  return { jti: crypto.randomUUID(), iat, exp: iat + accessTokenTtl(env) };
}

export async function issueAccessToken(
  env: Env,
  issuer: string,
  claims: { sub: string; client_id: string; scope: string; auth_time?: number; twin_id?: string; act?: { sub: string } },
  id: AccessTokenId = newAccessTokenId(env),
): Promise<{ token: string; expiresIn: number; jti: string; exp: number }> {
  const { kid, key } = await signingKey(env);
  // The JWS compact form (RFC 7515 §7.1) built here rather than by jose's SignJWT: the header and
  // claims are ours and fixed in shape, so its checks of arbitrary input only cost time. The bytes
  // are those SignJWT produced (same member order); ECDSA in WebCrypto gives the JWS r||s form.
  const input = `${jsonPart({ alg: "ES256", typ: "at+jwt", kid })}.${jsonPart({ ...claims, iss: issuer, aud: issuer, iat: id.iat, exp: id.exp, jti: id.jti })}`;
  const signature = await crypto.subtle.sign(ES256, key, utf8.encode(input));
  return { token: `${input}.${base64url(new Uint8Array(signature))}`, expiresIn: id.exp - id.iat, jti: id.jti, exp: id.exp };
}

const ES256 = { name: "ECDSA", hash: "SHA-256" } as const;
const utf8 = new TextEncoder();
const jsonPart = (value: object) => base64url(utf8.encode(JSON.stringify(value)));

export class InvalidTokenError extends Error {}

/** The public key of `kid`, if it is one of ours that may still verify. */
export async function keyFor(env: Env, kid: string | undefined): Promise<CryptoKey> {
  if (!kid) throw new InvalidTokenError("token has no kid");
  let key = cache.verifying.get(kid);
  if (!key && Date.now() - cache.refreshedAt > REFRESH_INTERVAL_MS) {
    await loadKeys(env);
    key = cache.verifying.get(kid);
  }
  if (!key) throw new InvalidTokenError("token signed by an unknown key");
  return key;
}

/**
 * Verifies signature (ES256 only: `none` and HMAC are refused), type, issuer, audience and
 * lifetime. Throws InvalidTokenError with the reason. Revocation is the owner object's to check.
 */
export async function verifyAccessToken(env: Env, issuer: string, token: string): Promise<AccessTokenClaims> {
  const cached = verified.get(token);
  const nowS = Math.floor(Date.now() / 1000);
  if (cached && cached.issuer === issuer && cached.claims.exp > nowS) return cached.claims;
  const claims = await verifyUncached(env, issuer, token);
  // Only whole, verified tokens are remembered, until they expire; revocation is not the cache's
  // business: the owner object checks it on every call.
  if (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value!);
  verified.set(token, { issuer, claims });
  return claims;
}

/** Per-isolate cache of verified tokens: an ES256 check costs more than the rest of a read. */
const verified = new Map<string, { issuer: string; claims: AccessTokenClaims }>();
const VERIFIED_CACHE_MAX = 10_000;

async function verifyUncached(env: Env, issuer: string, token: string): Promise<AccessTokenClaims> {
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
    if (err instanceof joseErrors.JOSEError) {
      // Said without quotes: the reason travels in a WWW-Authenticate error_description.
      const reason = err instanceof joseErrors.JWTExpired ? "token expired" : (describeJwtError(err, "token", { iss: issuer, aud: issuer, typ: "at+jwt", alg: "ES256" }) ?? "token invalid");
      throw new InvalidTokenError(reason.replace(/"/g, ""));
    }
    throw err;
  }
}
