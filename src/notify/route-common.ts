// What the notification routers share: who may call them and how they read the request.
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { requireScope } from "../http/auth";

type Ctx = Context<AppEnv>;

/** A subscriber's own routes: either twinning scope, as OpenAPI documents it. */
export const guarded = (tag: string) => ({
  middleware: requireScope("twinning:primary", "twinning:secondary"),
  security: [{ bearerAuth: ["twinning:primary"] }, { bearerAuth: ["twinning:secondary"] }],
  tags: [tag],
});
export const token = (c: Ctx) => c.get("auth")!.token;
export const origin = (c: Ctx) => new URL(c.req.url).origin;
