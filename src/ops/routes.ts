// Operator endpoints of the gateway itself: GET /healthz (public, for load balancers and uptime checks)
// and GET /admin/v1/metrics (this isolate's counters, the local fallback of Analytics Engine).
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { requireAdmin } from "../http/auth";
import { codecLimits, decodeMessage } from "../codec";
import { logEvent } from "./log";
import { metricsSnapshot } from "./metrics";

const Check = z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() });
const Health = z
  .object({ status: z.enum(["ok", "degraded"]), checks: z.object({ durableObject: Check, wasm: Check }), time: z.string().openapi({ format: "date-time" }) })
  .openapi("Health");

// The smallest SyncML message the codec accepts, so the check runs the WASM module's real decoder.
const PROBE =
  '<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID>' +
  "<Target><LocURI>https://gateway/dm</LocURI></Target><Source><LocURI>IMEI:000000000000000</LocURI></Source></SyncHdr><SyncBody><Final/></SyncBody></SyncML>";

async function check(fn: () => unknown | Promise<unknown>): Promise<z.infer<typeof Check>> {
  const start = Date.now();
  try {
    await fn();
    return { ok: true, ms: Date.now() - start };
  } catch (err) {
    return { ok: false, ms: Date.now() - start, error: err instanceof Error ? err.message : String(err) };
  }
}

export const opsRoutes = new OpenAPIHono<AppEnv>();

opsRoutes.openapi(
  createRoute({
    method: "get",
    path: "/healthz",
    summary: "Health: a Durable Object round trip (SQLite write and read) and the WASM codec",
    description: "200 when both checks pass, 503 when one fails (the body says which). No credentials; nothing about subscribers.",
    tags: ["Operations"],
    security: [],
    responses: {
      200: { description: "Healthy", content: { "application/json": { schema: Health } }, headers: { "Cache-Control": { schema: { type: "string" } } } },
      503: { description: "A check failed", content: { "application/json": { schema: Health } } },
    },
  }),
  async (c) => {
    const [durableObject, wasm] = await Promise.all([
      check(async () => {
        const answer = await c.env.HEALTH.getByName("healthz").ping(Date.now());
        if (!(answer.beats >= 1)) throw new Error("the object did not record the check");
      }),
      check(() => {
        const message = decodeMessage(PROBE, { encoding: "xml" });
        if (message.header.verProto !== "DM/1.2" || !(codecLimits().maxMessageBytes > 0)) throw new Error("the codec decoded the probe wrongly");
      }),
    ]);
    const ok = durableObject.ok && wasm.ok;
    const body = { status: ok ? ("ok" as const) : ("degraded" as const), checks: { durableObject, wasm }, time: new Date().toISOString() };
    if (!ok) logEvent("error", "healthz.failed", { correlator: c.get("correlator"), checks: body.checks });
    return c.json(body, ok ? 200 : 503, { "Cache-Control": "no-store" });
  },
);

opsRoutes.use("/admin/v1/metrics", requireAdmin);
opsRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/metrics",
    summary: "This isolate's request, error and event counters (the local view of the Analytics Engine metrics)",
    tags: ["Operator admin"],
    security: [{ adminToken: [] }],
    responses: {
      200: {
        description: "Counters since the isolate started",
        content: {
          "application/json": {
            schema: z
              .object({
                since: z.string(),
                requests: z.record(z.string(), z.object({ count: z.number(), errors: z.number(), avgMs: z.number(), maxMs: z.number() })),
                errors: z.record(z.string(), z.number()),
                events: z.record(z.string(), z.number()),
              })
              .openapi("Metrics"),
          },
        },
      },
    },
  }),
  (c) => c.json(metricsSnapshot(), 200),
);
