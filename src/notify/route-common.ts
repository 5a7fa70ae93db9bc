// What the notification routers share: who may call them and how they read the request.
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { requestOrigin } from "../http/app";
import { requireScope } from "../http/auth";
import type { Scope } from "../oauth/tokens";

type Ctx = Context<AppEnv>;

/**
 * A subscriber's own routes: either twinning scope, or one of `alsoScopes` (Notification Channels
 * also serve other APIs' notifications, e.g. webrtc:call), as OpenAPI documents it.
 */
export const guarded = (tag: string, ...alsoScopes: Scope[]) => {
  const scopes: Scope[] = ["twinning:primary", "twinning:secondary", ...alsoScopes];
  return { middleware: requireScope(...scopes), security: scopes.map((s) => ({ bearerAuth: [s] })), tags: [tag] };
};
export const token = (c: Ctx) => c.get("auth")!.token;
export const origin = (c: Ctx) => requestOrigin(c);
