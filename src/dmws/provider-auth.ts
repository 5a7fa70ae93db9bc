// Who is calling the provider API: a service provider is an OAuth client (client_credentials, with
// private_key_jwt or a secret) holding the dm:manage scope; its client_id is the provider's id.
import type { MiddlewareHandler } from "hono";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { requireScope } from "../http/auth";
import { ApiError } from "../http/errors";
import { tokenOwner } from "../oauth/token-liveness";

const byScope = requireScope("dm:manage");

/**
 * A live access token with dm:manage; revoked tokens are refused (these routes reach no subscriber
 * object that would check). Which object holds the token's revocation state is tokenOwner's decision.
 */
export const requireProvider: MiddlewareHandler<AppEnv> = (c, next) =>
  byScope(c, async () => {
    const auth = c.get("auth")!;
    if (!(await tokenOwner(c.env, auth.subscriber, auth.clientId).isLive(auth.token))) {
      throw new ApiError(401, "POL0001", ["invalid_token: token revoked"], { "WWW-Authenticate": 'Bearer error="invalid_token", error_description="token revoked"' });
    }
    await next();
  });

/** The calling provider's id (its OAuth client_id). */
export function providerOf(c: Context<AppEnv>): string {
  return c.get("auth")!.clientId;
}

export const providerSecurity = { middleware: requireProvider, security: [{ bearerAuth: ["dm:manage"] }] as Record<string, string[]>[] };
