// The audit log of the admin API: every admin action (a request under /admin/ that changes state,
// and every refused one) is written to the AuditLogObject before the answer leaves, and
// GET /admin/v1/audit reads it back. Who: the admin token or the dm:manage client; what: method,
// route pattern and path; when; how it ended (status, and an error's text). Never a body or a header.
import { createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { hasAdminToken } from "../http/auth";
import { errorResponses, json } from "../http/schemas";
import { logEvent } from "../ops/log";
import { redactPath } from "../ops/redact";
import { adminRoute, MAX_PAGE } from "./gate";
import type { AuditEntry } from "./audit-object";

const READS = new Set(["GET", "HEAD", "OPTIONS"]);

const auditLog = (env: { AUDIT: Cloudflare.Env["AUDIT"] }) => env.AUDIT.getByName("audit");

async function errorText(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.clone().json()) as { requestError?: Record<string, { messageId: string; variables: string[] }> };
    const e = body.requestError && Object.values(body.requestError)[0];
    return e ? `${e.messageId} ${e.variables.join(": ")}`.slice(0, 500) : undefined;
  } catch {
    return undefined;
  }
}

/** Mounted on /admin/*: records the action once its answer is known. */
export const auditAdmin: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const status = c.res.status;
  if (READS.has(c.req.method) && status !== 401 && status !== 403) return;
  let route = "unmatched";
  try {
    route = routePath(c, -1) || route;
  } catch {
    // no route matched
  }
  const auth = c.get("auth");
  const entry: AuditEntry = {
    at: Date.now(),
    actor: (await hasAdminToken(c)) ? "admin" : auth ? `client:${auth.clientId}` : "anonymous",
    action: `${c.req.method} ${route === "*" || route === "/*" || route === "/admin/*" ? "unmatched" : route}`,
    target: redactPath(decodeURIComponent(new URL(c.req.url).pathname)),
    status,
    outcome: status < 400 ? "ok" : status === 401 || status === 403 ? "refused" : "failed",
    correlator: c.get("correlator"),
  };
  if (status >= 400) {
    const detail = await errorText(c.res);
    if (detail) entry.detail = detail;
  }
  try {
    await auditLog(c.env).record(entry);
  } catch (err) {
    // The action has happened; the operator must learn that its record is missing.
    logEvent("error", "audit.write_failed", { correlator: entry.correlator, action: entry.action, target: entry.target, error: err });
  }
};

const AuditEntrySchema = z
  .object({
    seq: z.number().int(),
    at: z.number().int().openapi({ description: "ms since the epoch" }),
    time: z.string().datetime(),
    actor: z.string().openapi({ example: "admin" }),
    action: z.string().openapi({ example: "POST /admin/v1/clients/:clientId/secret" }),
    target: z.string().openapi({ example: "/admin/v1/clients/c_8fX2" }),
    status: z.number().int(),
    outcome: z.enum(["ok", "refused", "failed"]),
    detail: z.string().optional(),
    correlator: z.string().optional(),
  })
  .openapi("AuditEntry");

export const auditRoutes = router();

auditRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/audit",
    summary: "The audit log of admin actions, newest first",
    description:
      "Every request under /admin/ that changes state (POST, PUT, PATCH, DELETE), whatever its outcome, and every refused request (401/403). " +
      "Kept 400 days. Filters: `target` (a path prefix, e.g. /admin/v1/subscribers/tel:+15551230001), `actor` (admin, client:<id>, anonymous).",
    ...adminRoute,
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50).openapi({ param: { name: "limit", in: "query" }, example: 50 }),
        cursor: z.coerce.number().int().min(1).optional().openapi({ param: { name: "cursor", in: "query" }, description: "The `cursor` of the previous page (older entries)." }),
        target: z.string().max(300).optional().openapi({ param: { name: "target", in: "query" }, example: "/admin/v1/clients" }),
        actor: z.string().max(200).optional().openapi({ param: { name: "actor", in: "query" }, example: "admin" }),
      }),
    },
    responses: {
      200: json(z.object({ entries: z.array(AuditEntrySchema), cursor: z.string().optional() }).openapi("AuditPage"), "One page of the log"),
      ...errorResponses(400, 401),
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const result = await auditLog(c.env).page({ limit: q.limit, ...(q.cursor ? { before: q.cursor } : {}), ...(q.target ? { target: q.target } : {}), ...(q.actor ? { actor: q.actor } : {}) });
    return c.json({ entries: result.entries.map((e) => ({ ...e, time: new Date(e.at).toISOString() })), ...(result.next ? { cursor: String(result.next) } : {}) }, 200);
  },
);
