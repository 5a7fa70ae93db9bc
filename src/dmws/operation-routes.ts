// The provider's operations (/dmws/v1/operations): FUMO, SCOMO, DiagMon and service provisioning, each
// a job per device with progress and a final result per device; configuration sets and the signed
// provisioning webhook of the operator's provisioning system.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { config } from "../config";
import { router } from "../http/app";
import { constantTimeEqual } from "../http/crypto";
import { ApiError, invalidInput, notFound } from "../http/errors";
import { errorResponses, json } from "../http/schemas";
import { signNotification } from "../notify/queue";
import type { JobCommandSpec } from "../dm/job-model";
import { exportStream, EXPORT_TYPES } from "./export";
import { isFinal, type OperationSpec } from "./operation-kinds";
import {
  ConfigurationSetSchema, DeviceResultSchema, OperationRequestSchema, OperationSchema, ProvisioningEventSchema,
} from "./operation-schemas";
import type { OperationRecord, OperationTarget } from "./operation-store";
import { cancelOperation, operationCounts, operationResults, providerObject, startOperation } from "./operations";
import { providerOf, providerSecurity } from "./provider-auth";
import { DMWS_ROOT } from "./routes";
import { PageQuery } from "./schemas";

export const dmwsOperationRoutes = router();
const provider = { ...providerSecurity, tags: ["DM web services: provider"] };
const OperationIdParam = z.object({ operationId: z.string().uuid().openapi({ param: { name: "operationId", in: "path" } }) });
const SetNameParam = z.object({ name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).openapi({ param: { name: "name", in: "path" }, example: "voicemail" }) });
const FormatQuery = z.object({ format: z.enum(["json", "ndjson", "csv"]).optional().openapi({ description: "json (default): one page; ndjson or csv: everything, streamed." }) });

type Ctx = Context<AppEnv>;
const operationView = (c: Ctx, op: OperationRecord, extra: Record<string, unknown> = {}) => ({
  ...op, spec: op.spec as unknown as Record<string, unknown>, target: op.target as unknown as Record<string, unknown>, ...extra,
  resourceURL: `${new URL(c.req.url).origin}${DMWS_ROOT}/operations/${op.operationId}`,
});

/** The spec as run: a provisioning operation carries its configuration set's commands. */
async function resolveSpec(c: Ctx, providerId: string, spec: z.infer<typeof OperationRequestSchema>["operation"]): Promise<OperationSpec> {
  if (spec.kind !== "provisioning") return spec as OperationSpec;
  const commands = await providerObject(c.env, providerId).configurationSet(spec.configurationSet);
  if (!commands) throw notFound("configurationSet", spec.configurationSet);
  return { kind: "provisioning", configurationSet: spec.configurationSet, commands };
}

dmwsOperationRoutes.openapi(
  createRoute({
    method: "post",
    path: `${DMWS_ROOT}/operations`,
    summary: "Run a firmware update, a software-component operation, a diagnostics collection or a provisioning push on devices",
    description:
      "The target is `devices` (ids), a `group` or a `subscriber` (all its devices). Every device must be covered by the provider's grants for the subtree and the " +
      "operations the job needs (FUMO: write, exec, read on the FUMO node; SCOMO install: write, exec on ./SCOMO/Download/<pkgId>; DiagMon: read on each value; " +
      "provisioning: each command's target), else 403 names what was refused and nothing is queued. Each device gets one job for its next DM session (DM 1.2 or DM 2.0).",
    ...provider,
    request: { body: { required: true, content: { "application/json": { schema: OperationRequestSchema } } } },
    responses: { 201: json(z.object({ operation: OperationSchema }), "Queued on every device"), ...errorResponses(400, 401, 403, 404, 413, 415) },
  }),
  async (c) => {
    const req = c.req.valid("json");
    const providerId = providerOf(c);
    const target: OperationTarget = req.devices ? { devices: req.devices } : req.group ? { group: req.group } : { subscriber: req.subscriber! };
    const op = await startOperation(c.env, providerId, {
      spec: await resolveSpec(c, providerId, req.operation), target, ...(req.deadlineSeconds !== undefined ? { deadlineSeconds: req.deadlineSeconds } : {}),
    }, `POST ${DMWS_ROOT}/operations ${req.operation.kind}`);
    const view = operationView(c, op);
    return c.json({ operation: view }, 201, { Location: view.resourceURL });
  },
);

dmwsOperationRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/operations`,
    summary: "The provider's operations, newest first",
    ...provider,
    request: { query: PageQuery },
    responses: { 200: json(z.object({ operations: z.array(OperationSchema), nextCursor: z.string().optional() }), "One page"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const page = await providerObject(c.env, providerOf(c)).operations(q.cursor ? Number(q.cursor) : undefined, q.limit ?? 100);
    return c.json({ operations: page.items.map((op) => operationView(c, op)), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
  },
);

async function ownOperation(c: Ctx, operationId: string): Promise<OperationRecord> {
  const op = await providerObject(c.env, providerOf(c)).operation(operationId);
  if (!op) throw notFound("operationId", operationId);
  return op;
}

dmwsOperationRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/operations/{operationId}`,
    summary: "An operation with its progress: device results counted per state",
    ...provider,
    request: { params: OperationIdParam },
    responses: { 200: json(z.object({ operation: OperationSchema }), "The operation"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { operationId } = c.req.valid("param");
    const op = await ownOperation(c, operationId);
    const counts = await operationCounts(c.env, providerOf(c), operationId);
    const finished = (Object.keys(counts) as (keyof typeof counts)[]).every((s) => isFinal(s) || counts[s] === 0);
    return c.json({ operation: operationView(c, op, { counts, finished }) }, 200);
  },
);

const RESULT_COLUMNS = ["operationId", "devId", "round", "jobId", "state", "resultCode", "resultName", "detail", "updatedAt"] as const;
const VALUE_COLUMNS = ["operationId", "devId", "round", "jobId", "state", "uri", "value", "updatedAt"] as const;

dmwsOperationRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/operations/{operationId}/results`,
    summary: "The final (or current) result of every device: a page as JSON, or everything streamed as NDJSON or CSV",
    description:
      "DiagMon exports one row per device, round and value (`uri`, `value`), for offline analysis; the other operations one row per device. " +
      "NDJSON and CSV are streamed as they are read, never built whole.",
    ...provider,
    request: { params: OperationIdParam, query: PageQuery.extend(FormatQuery.shape) },
    responses: {
      200: {
        description: "The device results",
        content: {
          "application/json": { schema: z.object({ results: z.array(DeviceResultSchema), nextCursor: z.string().optional() }) },
          "application/x-ndjson": { schema: z.string() },
          "text/csv": { schema: z.string() },
        },
      },
      ...errorResponses(400, 401, 403, 404),
    },
  }),
  async (c) => {
    const { operationId } = c.req.valid("param");
    const q = c.req.valid("query");
    const op = await ownOperation(c, operationId);
    const providerId = providerOf(c);
    if (!q.format || q.format === "json") {
      const page = await operationResults(c.env, providerId, operationId, q.cursor, q.limit ?? 100);
      return c.json({ results: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
    }
    const diag = op.spec.kind === "diagmon";
    const stream = exportStream(q.format, diag ? VALUE_COLUMNS : RESULT_COLUMNS, (cursor) => operationResults(c.env, providerId, operationId, cursor, 100), (r) => {
      const base = { operationId, devId: r.devId, round: r.round, jobId: r.jobId, state: r.state, updatedAt: r.updatedAt };
      if (!diag) return [{ ...base, resultCode: r.resultCode, resultName: r.resultName, detail: r.detail }];
      const values = Object.entries(r.values ?? {});
      return values.length ? values.map(([uri, value]) => ({ ...base, uri, value })) : [{ ...base }];
    });
    return new Response(stream, { status: 200, headers: { "Content-Type": EXPORT_TYPES[q.format] } }) as never;
  },
);

dmwsOperationRoutes.openapi(
  createRoute({
    method: "delete",
    path: `${DMWS_ROOT}/operations/{operationId}`,
    summary: "Cancel an operation: its unfinished device jobs are cancelled, scheduled rounds stop",
    ...provider,
    request: { params: OperationIdParam },
    responses: { 200: json(z.object({ operation: OperationSchema }), "Cancelled"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { operationId } = c.req.valid("param");
    await ownOperation(c, operationId);
    await cancelOperation(c.env, providerOf(c), operationId);
    const op = await ownOperation(c, operationId);
    return c.json({ operation: operationView(c, op, { counts: await operationCounts(c.env, providerOf(c), operationId) }) }, 200);
  },
);

// ------------------------------------------------------------------ service provisioning

dmwsOperationRoutes.openapi(
  createRoute({
    method: "put",
    path: `${DMWS_ROOT}/configuration-sets/{name}`,
    summary: "Define a service's configuration set: the tree operations pushed to a subscriber's devices",
    ...provider,
    request: { params: SetNameParam, body: { required: true, content: { "application/json": { schema: ConfigurationSetSchema } } } },
    responses: { 201: json(ConfigurationSetSchema, "Defined"), 200: json(ConfigurationSetSchema, "Redefined"), ...errorResponses(400, 401, 403, 413, 415) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const { commands } = c.req.valid("json");
    const created = await providerObject(c.env, providerOf(c)).putConfigurationSet(name, commands as JobCommandSpec[]);
    return created ? c.json({ commands }, 201) : c.json({ commands }, 200);
  },
);

dmwsOperationRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/configuration-sets/{name}`,
    summary: "A configuration set",
    ...provider,
    request: { params: SetNameParam },
    responses: { 200: json(ConfigurationSetSchema, "The set"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const commands = await providerObject(c.env, providerOf(c)).configurationSet(name);
    if (!commands) throw notFound("name", name);
    return c.json({ commands } as z.infer<typeof ConfigurationSetSchema>, 200);
  },
);

export const PROVISIONING_SIGNATURE_HEADER = "x-dmws-signature";
const SIGNATURE_TOLERANCE_S = 300;

async function verifySignature(secret: string, header: string | undefined, body: string): Promise<void> {
  const m = header?.match(/^t=([0-9]{1,12}),v1=([0-9a-f]{64})$/);
  if (!m) throw new ApiError(401, "POL0001", [`${PROVISIONING_SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)> required`]);
  const t = Number(m[1]);
  if (Math.abs(Date.now() / 1000 - t) > SIGNATURE_TOLERANCE_S) throw new ApiError(401, "POL0001", [`${PROVISIONING_SIGNATURE_HEADER}: timestamp more than ${SIGNATURE_TOLERANCE_S} s away`]);
  if (!constantTimeEqual(await signNotification(secret, body, t), header!)) throw new ApiError(401, "POL0001", [`${PROVISIONING_SIGNATURE_HEADER}: signature does not verify`]);
}

dmwsOperationRoutes.openapi(
  createRoute({
    method: "post",
    path: `${DMWS_ROOT}/provisioning-events`,
    summary: "Webhook of the operator's provisioning system: a subscriber subscribed to a service, push its configuration set",
    description:
      `Signed with the shared secret DMWS_PROVISIONING_WEBHOOK_SECRET: header \`${PROVISIONING_SIGNATURE_HEADER}: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>\` ` +
      `(the scheme of the gateway's own notifications), at most ${SIGNATURE_TOLERANCE_S} s old. The provider's grants apply as for an API call (refusals are audited). ` +
      "The same eventId delivered again answers the operation it started.",
    tags: ["DM web services: provider"],
    security: [],
    request: { body: { required: true, content: { "application/json": { schema: ProvisioningEventSchema } } } },
    responses: { 202: json(z.object({ operation: OperationSchema }), "Pushed (or pushed already)"), ...errorResponses(400, 401, 403, 404, 413, 415, 503) },
  }),
  async (c) => {
    const secret = config(c.env).DMWS_PROVISIONING_WEBHOOK_SECRET;
    if (!secret) throw new ApiError(503, "SVC0001", ["DMWS_PROVISIONING_WEBHOOK_SECRET is not set: provisioning webhooks cannot be verified"]);
    const body = await c.req.text();
    await verifySignature(secret, c.req.header(PROVISIONING_SIGNATURE_HEADER), body);
    const parsed = ProvisioningEventSchema.safeParse(JSON.parse(body));
    if (!parsed.success) throw invalidInput(parsed.error.issues[0]?.path.join(".") || "body", parsed.error.issues[0]?.message);
    const ev = parsed.data;
    const owner = providerObject(c.env, ev.provider);
    const commands = await owner.configurationSet(ev.configurationSet);
    if (!commands) throw notFound("configurationSet", ev.configurationSet);
    const operationId = crypto.randomUUID();
    const earlier = await owner.claimEvent(ev.eventId, operationId);
    if (earlier) {
      const op = await owner.operation(earlier);
      if (op) return c.json({ operation: operationView(c, op) }, 202);
    }
    try {
      const op = await startOperation(c.env, ev.provider, {
        spec: { kind: "provisioning", configurationSet: ev.configurationSet, commands }, target: { subscriber: ev.subscriber }, trigger: `event:${ev.eventId}`, operationId,
      }, `POST ${DMWS_ROOT}/provisioning-events ${ev.event}`);
      return c.json({ operation: operationView(c, op) }, 202);
    } catch (err) {
      await owner.releaseEvent(ev.eventId);
      throw err;
    }
  },
);
