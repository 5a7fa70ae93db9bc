// Bearer-token checks on every API route (HLF-CM-006) and the admin token of the operator API.
// This layer knows no capability: the authorization server plugs in how an access token is
// verified and whom to ask whether it is still live (useAccessTokens, when the app is mounted), and
// the admin API where wrong admin tokens are counted per address (useAdminGuard, failure-ledger.ts).
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv, Env } from "../env";
import { ApiError } from "./errors";
import { secretsEqual } from "./crypto";
import { guessAddress } from "./failure-ledger";
import { TEL_URI } from "./schemas";

/** What a Durable Object needs to know to tell whether a token is still live. */
export interface TokenRef {
  jti: string;
  exp: number;
  /** When it was issued: a token older than its subject's provisioning belonged to a previous holder. */
  iat: number;
  /** RFC 9068 auth_time, on tokens of an earlier grant: when their subscriber authorised it (the check then uses it, not iat). */
  authTime?: number;
  twinId?: string;
}

/** A verified access token, as the routes see it. */
export interface VerifiedToken {
  sub: string;
  clientId: string;
  scopes: string[];
  token: TokenRef;
  actor?: string;
}

/** How access tokens are checked: plugged in by the authorization server when the app is mounted. */
export interface AccessTokens {
  /** Signature, issuer, audience, lifetime; the reason when the token is not valid. */
  verify(env: Env, requestUrl: string, token: string): Promise<{ ok: true; token: VerifiedToken } | { ok: false; reason: string }>;
  /** Whether the token's owner (the object that holds its revocation state) still considers it live. */
  isLive(env: Env, token: VerifiedToken): Promise<boolean>;
}

let accessTokens: AccessTokens | undefined;

/** Registers the access-token checks; called once when the app is mounted (src/index.ts). */
export function useAccessTokens(a: AccessTokens): void {
  accessTokens = a;
}

/**
 * Where wrong admin tokens are counted per address (the caller's, failure-ledger.ts), so that an
 * address that guessed too often is refused, even with the right token, until its lock ends.
 */
export interface AdminGuard {
  /** Seconds `address` stays locked out; undefined when it is not. */
  lockedFor(env: Env, address: string): Promise<number | undefined>;
  /** Counts one wrong admin token from `address`: the seconds it is locked for now, if it is. */
  failed(env: Env, address: string): Promise<number | undefined>;
}

let adminGuard: AdminGuard | undefined;

/** Registers the admin token's guard; called once when the app is mounted (src/index.ts). */
export function useAdminGuard(g: AdminGuard): void {
  adminGuard = g;
}

function tokens(): AccessTokens {
  if (!accessTokens) throw new ApiError(503, "SVC0001", ["no authorization server is mounted"]);
  return accessTokens;
}

export interface TokenContext {
  subscriber: string;
  clientId: string;
  scopes: string[];
  /** Handed to the subscriber's object, which decides whether the token is still live (revocation, HLF-TE-004). */
  token: TokenRef;
  /** RFC 8693 `act.sub`: the twinned secondary acting for `subscriber` with a delegated token (HLF-SD-009). */
  actor?: string;
}

function bearer(c: Context): string | undefined {
  const header = c.req.header("authorization");
  const match = header?.match(/^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i);
  return match?.[1];
}

const invalidToken = (why: string) =>
  new ApiError(401, "POL0001", [`invalid_token: ${why}`], { "WWW-Authenticate": `Bearer error="invalid_token", error_description="${why}"` });

/** RFC 6750: a valid access token carrying one of `scopes`, else 401 invalid_token or 403 insufficient_scope. */
export function requireScope(...scopes: string[]): MiddlewareHandler<AppEnv> {
  return scopeCheck(scopes, async () => {});
}

/** requireScope; `onInvalid` runs first when the bearer is not a valid access token (a guess at the admin token, say). */
function scopeCheck(scopes: string[], onInvalid: (c: Context<AppEnv>) => Promise<void>): MiddlewareHandler<AppEnv> {
  const wanted = scopes.join(" ");
  return async (c, next) => {
    const token = bearer(c);
    if (!token) throw invalidToken("missing bearer token");
    const verdict = await tokens().verify(c.env, c.req.url, token);
    if (!verdict.ok) {
      await onInvalid(c);
      throw invalidToken(verdict.reason);
    }
    const v = verdict.token;
    if (!scopes.some((s) => v.scopes.includes(s))) {
      throw new ApiError(403, "POL0001", [`insufficient_scope: ${wanted} required`], {
        "WWW-Authenticate": `Bearer error="insufficient_scope", scope="${wanted}"`,
      });
    }
    c.set("auth", { subscriber: v.sub, clientId: v.clientId, scopes: v.scopes, token: v.token, ...(v.actor ? { actor: v.actor } : {}) });
    await next();
  };
}

/**
 * The `{userId}` of an OMA URL, resolved against the token: `acr:Authorization` is the token's
 * subscriber; a tel: URI must be that subscriber.
 */
export function userIdOf(c: Context<AppEnv>, userId: string): string {
  const auth = c.get("auth");
  if (!auth) throw invalidToken("missing bearer token");
  if (!TEL_URI.test(auth.subscriber)) throw new ApiError(403, "POL0001", ["the access token does not represent a subscriber"]);
  if (userId === "acr:Authorization") return auth.subscriber;
  if (!TEL_URI.test(userId)) throw new ApiError(400, "SVC0002", ["userId", "tel:+E164 or acr:Authorization expected"]);
  if (userId !== auth.subscriber) throw new ApiError(403, "POL0001", ["userId is not the subscriber of the access token"]);
  return userId;
}

/**
 * Before a request with a valid token is refused for its input (a body that fails its schema or is
 * not JSON): the checks the handler would have made first. The `{userId}` must be the token's
 * subscriber (userIdOf: 403), and the token must still be live (401 once revoked), so that input
 * errors tell nothing to a caller who may not use the resource. Runs on the failure path only.
 */
export async function authorizeBeforeRefusing(c: Context<AppEnv>): Promise<void> {
  const auth = c.get("auth");
  if (!auth) return;
  const userId = c.req.param("userId");
  if (userId !== undefined) userIdOf(c, userId);
  const live = await tokens().isLive(c.env, { sub: auth.subscriber, clientId: auth.clientId, scopes: auth.scopes, token: auth.token, ...(auth.actor ? { actor: auth.actor } : {}) });
  if (!live) throw invalidToken("token revoked");
}

/** Whether the request carries the operator's admin token (compared in constant time). */
export async function hasAdminToken(c: Context<AppEnv>): Promise<boolean> {
  const expected = c.env.ADMIN_TOKEN;
  const token = bearer(c);
  return !!expected && !!token && (await secretsEqual(token, expected));
}

/** An address locked out for wrong admin tokens: 429, the same answer whatever token it sent now. */
const refuseAdmin = (retryAfter: number) =>
  new ApiError(429, "POL0001", [`too many wrong admin tokens from this address; retry after ${retryAfter} s`], { "Retry-After": String(retryAfter) });

/**
 * Addresses this isolate saw the right admin token from, and found not locked, until when (ms): the
 * operator's own calls then cost no call to the guard for ADMIN_CLEAR_MS. A lock taken meanwhile
 * binds only someone who already has the token.
 */
const clearedAddresses = new Map<string, number>();
const ADMIN_CLEAR_MS = 10_000;

/**
 * Whether the request carries the admin token, once the guard has had its say: the right token from
 * a locked address is refused (429); a wrong one is counted when `countWrong` (the caller then
 * refuses it) and refused 429 if that locks the address.
 */
async function adminCaller(c: Context<AppEnv>, countWrong: boolean): Promise<boolean> {
  const right = await hasAdminToken(c);
  const address = guessAddress(c);
  if (!adminGuard || address === undefined) return right;
  if (right) {
    const now = Date.now();
    if ((clearedAddresses.get(address) ?? 0) > now) return true;
    const lockedFor = await adminGuard.lockedFor(c.env, address);
    if (lockedFor !== undefined) throw refuseAdmin(lockedFor);
    if (clearedAddresses.size >= 1_000) clearedAddresses.clear();
    clearedAddresses.set(address, now + ADMIN_CLEAR_MS);
    return true;
  }
  // A valid access token at an admin route is a client's mistake, not a guess of the admin token.
  const token = bearer(c);
  if (countWrong && token !== undefined && !(await tokens().verify(c.env, c.req.url, token)).ok) await adminGuessFailed(c);
  return false;
}

/** A bearer that is not the admin token, at an admin route: counted, and 429 once the address is locked. */
async function adminGuessFailed(c: Context<AppEnv>): Promise<void> {
  const address = guessAddress(c);
  if (!adminGuard || address === undefined) return;
  const lockedFor = await adminGuard.failed(c.env, address);
  if (lockedFor !== undefined) throw refuseAdmin(lockedFor);
}

const adminTokenRequired = () =>
  new ApiError(401, "POL0001", ["invalid_token: admin token required"], { "WWW-Authenticate": 'Bearer realm="admin", error="invalid_token"' });

/** The operator admin API: `Authorization: Bearer <ADMIN_TOKEN>`. No token configured, no admin API. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!(await adminCaller(c, true))) throw adminTokenRequired();
  await next();
};

/**
 * The operator's admin token, or an access token with one of `scopes` (e.g. a service provider's
 * dm:manage). A bearer that is neither counts as a wrong admin token.
 */
export function requireAdminOrScope(...scopes: string[]): MiddlewareHandler<AppEnv> {
  const byScope = scopeCheck(scopes, adminGuessFailed);
  return async (c, next) => {
    if (await adminCaller(c, false)) return next();
    return byScope(c, async () => {
      // These routes touch no subscriber object that would check revocation on the way, so ask the token's owner.
      const auth = c.get("auth")!;
      const live = await tokens().isLive(c.env, { sub: auth.subscriber, clientId: auth.clientId, scopes: auth.scopes, token: auth.token });
      if (!live) throw invalidToken("token revoked");
      await next();
    });
  };
}

/**
 * An operator-only API: the admin token passes; a valid access token (a service provider's, say) is
 * refused 403 with `why` (e.g. which API its holder uses instead); no token or an invalid one is 401.
 */
export function requireAdminOnly(why: string): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (await adminCaller(c, false)) return next();
    const token = bearer(c);
    if (!token) throw adminTokenRequired();
    const verdict = await tokens().verify(c.env, c.req.url, token);
    if (!verdict.ok) {
      await adminGuessFailed(c);
      throw invalidToken(verdict.reason);
    }
    throw new ApiError(403, "POL0001", [why]);
  };
}
