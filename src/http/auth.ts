// Bearer-token checks on every API route (HLF-CM-006) and the admin token of the operator API.
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "./errors";
import { secretsEqual } from "./crypto";
import { InvalidTokenError, issuerOf, tokenRef, verifyAccessToken, type Scope, type TokenRef } from "../oauth/tokens";
import { TEL_URI } from "../twinning/schemas";

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
export function requireScope(...scopes: Scope[]): MiddlewareHandler<AppEnv> {
  const wanted = scopes.join(" ");
  return async (c, next) => {
    const token = bearer(c);
    if (!token) throw invalidToken("missing bearer token");
    let claims;
    try {
      claims = await verifyAccessToken(c.env, issuerOf(c.env, c.req.url), token);
    } catch (err) {
      if (err instanceof InvalidTokenError) throw invalidToken(err.message);
      throw err;
    }
    const granted = claims.scope.split(" ");
    if (!scopes.some((s) => granted.includes(s))) {
      throw new ApiError(403, "POL0001", [`insufficient_scope: ${wanted} required`], {
        "WWW-Authenticate": `Bearer error="insufficient_scope", scope="${wanted}"`,
      });
    }
    c.set("auth", { subscriber: claims.sub, clientId: claims.client_id, scopes: granted, token: tokenRef(claims), ...(claims.act?.sub ? { actor: claims.act.sub } : {}) });
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

/** Whether the request carries the operator's admin token (compared in constant time). */
export async function hasAdminToken(c: Context<AppEnv>): Promise<boolean> {
  const expected = c.env.ADMIN_TOKEN;
  const token = bearer(c);
  return !!expected && !!token && (await secretsEqual(token, expected));
}

/** The operator admin API: `Authorization: Bearer <ADMIN_TOKEN>`. No token configured, no admin API. */
export const requireAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!(await hasAdminToken(c))) {
    throw new ApiError(401, "POL0001", ["invalid_token: admin token required"], { "WWW-Authenticate": 'Bearer realm="admin", error="invalid_token"' });
  }
  await next();
};

/** The operator's admin token, or an access token with one of `scopes` (e.g. a service provider's dm:manage). */
export function requireAdminOrScope(...scopes: Scope[]): MiddlewareHandler<AppEnv> {
  const byScope = requireScope(...scopes);
  return async (c, next) => {
    if (await hasAdminToken(c)) return next();
    return byScope(c, async () => {
      // These routes touch no subscriber object that would check revocation on the way, so ask the token's owner.
      const auth = c.get("auth")!;
      const live = TEL_URI.test(auth.subscriber)
        ? await c.env.SUBSCRIBERS.getByName(auth.subscriber).isTokenLive(auth.token)
        : await c.env.OAUTH_CLIENTS.getByName(auth.clientId).isTokenLive(auth.token.jti);
      if (!live) throw invalidToken("token revoked");
      await next();
    });
  };
}
