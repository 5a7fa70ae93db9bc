// Charging records over HTTP: the provider reads its own (/dmws/v1/charging-records), the operator
// any provider's (/admin/v1/dm-providers/{clientId}/charging-records); by period, as a JSON page or
// the whole period streamed as NDJSON or CSV.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { requireAdmin } from "../http/auth";
import { errorResponses } from "../http/schemas";
import { chargingExport, chargingRecords } from "./charging";
import { EXPORT_TYPES } from "./export";
import { providerOf, providerSecurity } from "./provider-auth";
import { DMWS_ROOT } from "./routes";

export const dmwsChargingRoutes = router();

const ChargingRecordSchema = z
  .object({
    recordId: z.string().openapi({ description: "The result charged for (the device job's id): never two records for one result." }),
    provider: z.string(),
    devId: z.string(),
    subscriber: z.string().optional(),
    operation: z.string().openapi({ example: "fumo.downloadandupdate" }),
    operationId: z.string(),
    jobId: z.string(),
    at: z.string().datetime(),
    outcome: z.enum(["success", "failure"]),
    resultCode: z.string().optional(),
  })
  .openapi("DmwsChargingRecord");

const ChargingQuery = z.object({
  from: z.string().datetime().optional().openapi({ description: "Records at or after this instant." }),
  to: z.string().datetime().optional().openapi({ description: "Records before this instant." }),
  operationId: z.string().uuid().optional(),
  format: z.enum(["json", "ndjson", "csv"]).optional().openapi({ description: "json (default): one page; ndjson or csv: the whole period, streamed." }),
  cursor: z.string().regex(/^[0-9]{1,15}:[A-Za-z0-9-]{1,64}$/).optional().openapi({ description: "The nextCursor of the page before." }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

const responses = {
  200: {
    description: "Charging records in time order",
    content: {
      "application/json": { schema: z.object({ records: z.array(ChargingRecordSchema), nextCursor: z.string().optional() }) },
      "application/x-ndjson": { schema: z.string() },
      "text/csv": { schema: z.string() },
    },
  },
};

async function answer(c: Context<AppEnv>, provider: string, q: z.infer<typeof ChargingQuery>): Promise<Response> {
  const period = { ...(q.from ? { from: Date.parse(q.from) } : {}), ...(q.to ? { to: Date.parse(q.to) } : {}), ...(q.operationId ? { operationId: q.operationId } : {}) };
  if (q.format === "ndjson" || q.format === "csv") {
    return new Response(chargingExport(c.env, provider, q.format, period), { status: 200, headers: { "Content-Type": EXPORT_TYPES[q.format] } });
  }
  const page = await chargingRecords(c.env, provider, { ...period, ...(q.cursor ? { cursor: q.cursor } : {}), limit: q.limit ?? 100 });
  return c.json({ records: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
}

dmwsChargingRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/charging-records`,
    summary: "The provider's charging records: one per chargeable result (device, subscriber, operation, time, outcome)",
    ...providerSecurity,
    tags: ["DM web services: provider"],
    request: { query: ChargingQuery },
    responses: { ...responses, ...errorResponses(400, 401, 403) },
  }),
  async (c) => answer(c, providerOf(c), c.req.valid("query")) as never,
);

dmwsChargingRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-providers/{clientId}/charging-records",
    summary: "A provider's charging records (the operator's view, for billing)",
    middleware: requireAdmin,
    security: [{ adminToken: [] }],
    tags: ["DM web services: operator"],
    request: { params: z.object({ clientId: z.string().min(1).max(256).openapi({ param: { name: "clientId", in: "path" } }) }), query: ChargingQuery },
    responses: { ...responses, ...errorResponses(400, 401, 404) },
  }),
  async (c) => answer(c, c.req.valid("param").clientId, c.req.valid("query")) as never,
);
