// OMA DM: the device-facing SyncML DM 1.2 endpoint (/dm) and the operator's northbound jobs, tree and notification resources.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { requireAdminOnly } from "../http/auth";
import { ApiError, invalidInput, notFound, unwrap } from "../http/errors";
import { errorResponses, json } from "../http/schemas";
import { CodecError, decodeMessage, type Encoding } from "../codec";
import type { Job, JobCommandSpec } from "./job-model";
import { enforceRateLimit } from "../http/rate-limit";
import { config } from "../config";
import { pushPackage0 } from "./push-connector";
import { recordEvent } from "../ops/metrics";
import { dm2Notification, dm2Notifications } from "./v2/notification";
import { deviceStub } from "../residency";

type Ctx = Context<AppEnv>;
export const dmRoutes = router();

/** The four content types deployed DM clients send (spec README); the answer uses the same one. */
const CONTENT_TYPES: Record<string, Encoding> = {
  "application/vnd.syncml.dm+xml": "xml",
  "application/vnd.syncml.dm+wbxml": "wbxml",
  "application/vnd.syncml+xml": "xml",
  "application/vnd.syncml+wbxml": "wbxml",
};
/** The codec's own limit; the device is told MaxMsgSize well below it. */
export const MAX_DM_MESSAGE_BYTES = 1024 * 1024;
const DEV_ID = /^[\x21-\x7e]{1,128}$/;


// ------------------------------------------------------------------ the device endpoint

async function deviceMessage(c: Ctx, routed?: { devId: string; secret: string }): Promise<Response> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const encoding = CONTENT_TYPES[type];
  if (!encoding) throw new ApiError(415, "SVC0002", ["Content-Type", `one of ${Object.keys(CONTENT_TYPES).join(", ")}`]);
  const body = new Uint8Array(await c.req.arrayBuffer());
  if (body.length > MAX_DM_MESSAGE_BYTES) throw new ApiError(413, "SVC0002", ["body", `a SyncML message of at most ${MAX_DM_MESSAGE_BYTES} bytes`]);
  let message;
  try {
    message = decodeMessage(body, { encoding });
  } catch (err) {
    if (err instanceof CodecError) throw invalidInput("body", `malformed SyncML ${encoding.toUpperCase()}: ${err.message}`);
    throw err;
  }
  const devId = message.header.source.locURI;
  if (!DEV_ID.test(devId)) throw invalidInput("SyncHdr/Source/LocURI", "the device id");
  if (routed !== undefined && routed.devId !== devId) throw invalidInput("SyncHdr/Source/LocURI", "the device this RespURI belongs to");
  if (message.header.verProto !== "DM/1.2") throw invalidInput("SyncHdr/VerProto", "DM/1.2");
  // Counted per device before its object is reached (an unknown device id is counted too).
  await enforceRateLimit({ binding: c.env.DM_DEVICE_RATE_LIMIT, period: 10, what: "DM messages for this device" }, devId);
  const hmac = c.req.header("x-syncml-hmac");
  const answer = unwrap(
    await deviceStub(c.env, devId).handleMessage(
      { message, body, encoding, origin: new URL(c.req.url).origin, ...(routed ? { secret: routed.secret } : {}), ...(hmac ? { hmac } : {}) },
      type,
    ),
  );
  // Every message at /dm starts a session; the rest of it goes to its RespURI.
  if (!routed) recordEvent(c.env, "dm.session");
  return new Response(answer.body, { status: 200, headers: answer.headers });
}

dmRoutes.post("/dm", (c) => deviceMessage(c));
// A session's RespURI: the device id and the session's secret (a continuation is accepted nowhere else).
dmRoutes.post("/dm/s/:devId/:secret", (c) => deviceMessage(c, { devId: c.req.param("devId"), secret: c.req.param("secret") }));
dmRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/dm",
  summary: "SyncML DM 1.2 device endpoint (XML or WBXML)",
  description:
    "Devices send SyncML DM 1.2 packages as application/vnd.syncml.dm+xml, application/vnd.syncml.dm+wbxml or the generic application/vnd.syncml+xml / +wbxml, " +
    "and get the answer in the same encoding. Every message here starts a new session, which must authenticate; once it has, the server's SyncHdr carries a RespURI " +
    "(/dm/s/{devId}/{secret}, a 256-bit secret for that session alone) where the rest of the session goes. Authentication: " +
    "syncml:auth-basic, syncml:auth-md5 (Cred) or syncml:auth-MAC (x-syncml-hmac header), challenged with 401/407 and a fresh NextNonce; the server authenticates " +
    "itself with Cred of the type the device challenges for (auth-md5 until told otherwise, auth-basic) or a signed x-syncml-hmac response header. " +
    "Wrong credentials are counted per device: 5 within 15 minutes lock the device out for 15 minutes (401 without a Chal).",
  tags: ["Device management"],
  request: { body: { required: true, content: { "application/vnd.syncml.dm+wbxml": { schema: z.string().openapi({ format: "binary" }) }, "application/vnd.syncml.dm+xml": { schema: z.string() } } } },
  responses: { 200: { description: "The server's SyncML message", content: { "application/vnd.syncml.dm+wbxml": { schema: z.string().openapi({ format: "binary" }) } } }, ...errorResponses(400, 404, 413, 415, 429) },
});

dmRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/dm/s/{devId}/{secret}",
  summary: "The RespURI of one authenticated SyncML DM session",
  description:
    "Where the rest of a session goes once its package 1 authenticated at /dm: the server's SyncHdr RespURI names it. The secret (256 bits) belongs to that " +
    "session alone; another secret, the SessionID of another session, or a session that ended or was idle 10 minutes gets 404 and changes nothing.",
  tags: ["Device management"],
  request: {
    params: z.object({ devId: z.string().openapi({ param: { name: "devId", in: "path" } }), secret: z.string().openapi({ param: { name: "secret", in: "path" } }) }),
    body: { required: true, content: { "application/vnd.syncml.dm+wbxml": { schema: z.string().openapi({ format: "binary" }) }, "application/vnd.syncml.dm+xml": { schema: z.string() } } },
  },
  responses: { 200: { description: "The server's SyncML message", content: { "application/vnd.syncml.dm+wbxml": { schema: z.string().openapi({ format: "binary" }) } } }, ...errorResponses(400, 404, 413, 415, 429) },
});

// ------------------------------------------------------------------ operator: device accounts

export const DevIdParam = z.object({
  devId: z.string().regex(DEV_ID, "the device id the client sends as its LocURI").openapi({ param: { name: "devId", in: "path" }, example: "IMEI:493005100592800" }),
});
// ------------------------------------------------------------------ northbound: jobs, tree, notifications

/**
 * The operator's admin token only: a job here reaches any device and any node, so a service provider
 * (whose access is limited by its grants) is refused with a pointer to its own API, /dmws/v1.
 */
const DM_OPERATOR_ONLY = "the DM jobs API (/dm/v1) is the operator's (admin token); a service provider manages the devices its grants cover through /dmws/v1 (operations and campaigns)";
const requireManager = requireAdminOnly(DM_OPERATOR_ONLY);
const manager = { middleware: requireManager, security: [{ adminToken: [] as string[] }] as Record<string, string[]>[], tags: ["Device management"] };

const Uri = z.string().min(1).max(1024).regex(/^[^\s]+$/, "a management tree URI");
const simpleCommands = [
  z.object({ kind: z.enum(["Get", "Delete"]), target: Uri }).strict(),
  z.object({ kind: z.enum(["Add", "Replace"]), target: Uri, data: z.string().max(4 * 1024 * 1024).optional(), format: z.string().max(32).optional(), type: z.string().max(128).optional() }).strict(),
  z.object({ kind: z.literal("Copy"), target: Uri, source: Uri }).strict(),
  z.object({ kind: z.literal("Exec"), target: Uri, data: z.string().max(65_536).optional(), correlator: z.string().max(128).optional() }).strict(),
  z.object({ kind: z.literal("Alert"), code: z.enum(["1100", "1101", "1102", "1103", "1104"]), items: z.array(z.string().max(1024)).min(1).max(32), options: z.string().max(256).optional() }).strict(),
] as const;
const SimpleCommandSchema = z.union(simpleCommands).openapi("DmCommand");
/** Where a device sends or finds something: an absolute https URL without user info (the device, not the gateway, fetches it). */
const DeviceFacingUrl = z.string().max(2048).regex(/^https:\/\/[^\s/?#@]+(?:[/?#]\S*)?$/, "an absolute https URL without user info");
/** DM 2.0 commands with no SyncML DM 1.2 counterpart (src/dm/v2/README.md decision 13): top level only; a DM 1.2 device answers 406. */
const dm2OnlyCommands = [
  z.object({ kind: z.literal("HPost"), target: Uri, url: DeviceFacingUrl.optional() }).strict()
    .openapi({ description: "DM 2.0 HPOST: the device POSTs the node's value to `url`, or (without one) to this server, and the value lands in the command's results. A DM 1.2 device answers 406." }),
  z.object({ kind: z.enum(["Sub", "Unsub"]), target: Uri }).strict()
    .openapi({ description: "DM 2.0 SUB / UNSUB: the device reports changes at or below the node as alerts (kept on the Sub command) / stops. A DM 1.2 device answers 406." }),
  z.object({ kind: z.literal("Default"), url: DeviceFacingUrl }).strict()
    .openapi({ description: "DM 2.0 DEFAULT: the DM 2.0 server root (e.g. https://dm.example.net/dm/v2) the device contacts from now on. A DM 1.2 device answers 406." }),
] as const;
/** Atomic and Sequence nest two levels deep (an Atomic holding a Sequence, or the reverse), which is what DM 1.2 devices accept. */
const InnerCommandSchema = z.union([...simpleCommands, z.object({ kind: z.enum(["Atomic", "Sequence"]), commands: z.array(SimpleCommandSchema).min(1).max(100) }).strict()]);
const GroupCommandSchema = z.object({ kind: z.enum(["Atomic", "Sequence"]), commands: z.array(InnerCommandSchema).min(1).max(100) }).strict();
/** A command both protocols carry: what the DM web services and campaigns (src/dmws/) take, their grants covering each kind. */
export const CommandSchema = z.union([...simpleCommands, GroupCommandSchema]).openapi("DmJobCommand");
/**
 * A command of a /dm/v1 job: those, or a DM 2.0-only one (HPost, Sub, Unsub, Default). The DM 2.0-only kinds
 * stay out of CommandSchema until the DM web services' grants say what each needs (read for HPost/Sub/Unsub,
 * the DM account for Default), so a provider's grants cannot be stepped around with them.
 */
export const JobCommandSchema = z.union([...simpleCommands, ...dm2OnlyCommands, GroupCommandSchema]).openapi("DmV1JobCommand");
const JobRequestSchema = z
  .object({
    commands: z.array(JobCommandSchema).min(1).max(100),
    deadlineSeconds: z.coerce.number().int().min(1).max(90 * 24 * 3600).optional().openapi({ description: "The job fails if the device has not answered every command by then (default 7 days)." }),
    maxAttempts: z.coerce.number().int().min(1).max(20).optional().openapi({ description: "Sessions that may carry the job before it fails for want of a status (default 3)." }),
  })
  .strict()
  .openapi("JobRequest");
/** A job command as the job reports it: what was asked, and the device's answer. */
const commandOutcome = z.object({
  kind: z.enum(["Get", "Add", "Replace", "Delete", "Copy", "Exec", "Atomic", "Sequence", "Alert", "HPost", "Sub", "Unsub", "Default"]),
  target: z.string().optional(),
  source: z.string().optional(),
  data: z.string().optional(),
  format: z.string().optional(),
  type: z.string().optional(),
  correlator: z.string().optional(),
  url: z.string().optional(),
  code: z.string().optional(),
  items: z.array(z.string()).optional(),
  options: z.string().optional(),
  status: z.string().optional().openapi({ description: "The device's status code once it answered (SyncML DM: 200, 404, 507 ...)." }),
  error: z.string().optional().openapi({ description: "Why the command failed without a device verdict that stands (e.g. a large object the device did not take)." }),
  results: z.array(z.object({ source: z.string(), data: z.string(), format: z.string().optional(), type: z.string().optional() })).optional(),
  response: z.array(z.string()).optional().openapi({ description: "What the user answered to a UI alert (1102 text, 1103/1104 choices)." }),
  alerts: z.array(z.object({ type: z.string().optional(), source: z.string().optional(), format: z.string().optional(), data: z.string().optional(), receivedAt: z.string() })).optional(),
});
const JobCommandOutcome = commandOutcome.extend({ children: z.array(commandOutcome.extend({ children: z.array(commandOutcome).optional() })).optional() });
const JobSchema = z
  .object({
    job: z.object({
      jobId: z.string().uuid(),
      state: z.enum(["queued", "running", "done", "failed", "cancelled"]),
      createdAt: z.string().datetime(),
      updatedAt: z.string().datetime(),
      deadline: z.string().datetime().openapi({ description: "An unfinished job fails at this instant." }),
      attempts: z.number().int().openapi({ description: "Sessions that carried some of its commands." }),
      maxAttempts: z.number().int(),
      reason: z.string().optional().openapi({ description: "Why the job failed or was cancelled." }),
      commands: z.array(JobCommandOutcome),
      resourceURL: z.string().url(),
    }),
  })
  .openapi("Job");
const JobIdParam = DevIdParam.extend({ jobId: z.string().uuid().openapi({ param: { name: "jobId", in: "path" } }) });

/** The job document as the API shows it (JobSchema describes it; nesting is at most two levels, as the request allows). */
const jobView = (c: Ctx, devId: string, job: Omit<Job, "session">) =>
  ({ job: { ...job, resourceURL: `${new URL(c.req.url).origin}/dm/v1/devices/${encodeURIComponent(devId)}/jobs/${job.jobId}` } }) as z.infer<typeof JobSchema>;

dmRoutes.openapi(
  createRoute({
    method: "post",
    path: "/dm/v1/devices/{devId}/jobs",
    summary: "Queue management commands for the device's next session",
    description:
      "Commands on management-tree URIs (./DevInfo/Mod, ./FUMO/...): Get, Add, Replace, Delete, Copy, Exec, Atomic, Sequence and the user-interaction Alerts 1100-1104, " +
      "and for DM 2.0 devices HPost, Sub, Unsub and Default (a DM 1.2 device answers those 406, naming the command). " +
      "They go out in the device's next DM session (send a notification to start one); each command's status and results come back here. A session that dies midway " +
      "leaves the job resumable: commands without a status go out again whole (an Atomic stays atomic).",
    ...manager,
    request: { params: DevIdParam, body: { required: true, content: { "application/json": { schema: JobRequestSchema } } } },
    responses: { 201: json(JobSchema, "Queued"), ...errorResponses(400, 401, 403, 404, 413, 415) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const req = c.req.valid("json");
    const job = unwrap(await deviceStub(c.env, devId).queueJob(req.commands as JobCommandSpec[], {
      ...(req.deadlineSeconds !== undefined ? { deadlineSeconds: req.deadlineSeconds } : {}),
      ...(req.maxAttempts !== undefined ? { maxAttempts: req.maxAttempts } : {}),
    }));
    const view = jobView(c, devId, job);
    return c.json(view, 201, { Location: view.job.resourceURL });
  },
);

dmRoutes.openapi(
  createRoute({
    method: "get",
    path: "/dm/v1/devices/{devId}/jobs/{jobId}",
    summary: "A job: each command's status, results and generic alerts",
    ...manager,
    request: { params: JobIdParam },
    responses: { 200: json(JobSchema, "The job"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { devId, jobId } = c.req.valid("param");
    return c.json(jobView(c, devId, unwrap(await deviceStub(c.env, devId).job(jobId))), 200);
  },
);

dmRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/dm/v1/devices/{devId}/jobs/{jobId}",
    summary: "Cancel a job: nothing more of it goes to the device",
    description:
      "An unfinished job becomes `cancelled` (what the device already answered stays recorded; commands in flight in a live session may still report). " +
      "A finished job is answered as it is. Jobs also fail by themselves after their deadline or after maxAttempts sessions without a status.",
    ...manager,
    request: { params: JobIdParam },
    responses: { 200: json(JobSchema, "The job, cancelled (or finished already)"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { devId, jobId } = c.req.valid("param");
    return c.json(jobView(c, devId, unwrap(await deviceStub(c.env, devId).cancelJob(jobId))), 200);
  },
);

dmRoutes.openapi(
  createRoute({
    method: "get",
    path: "/dm/v1/devices/{devId}/tree",
    summary: "The server's view of the device's management tree (DevInfo, DevDetail and every Results received)",
    ...manager,
    request: { params: DevIdParam },
    responses: { 200: json(z.object({ tree: z.record(z.string(), z.object({ value: z.string(), format: z.string().optional(), type: z.string().optional(), updatedAt: z.string() })) }), "The tree"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    return c.json({ tree: unwrap(await deviceStub(c.env, devId).tree()) }, 200);
  },
);

const NotificationRequestSchema = z
  .object({ uiMode: z.enum(["not-specified", "background", "informative", "user-interaction"]).optional(), initiator: z.literal("server").optional() })
  .strict()
  .openapi("DmNotificationRequest");
const NotificationSchema = z.object({
  id: z.string(),
  sessionId: z.string().openapi({ description: "The 16-bit session id in hex: the SessionID of the session the device opens with Alert 1200." }),
  package0: z.string().openapi({ description: "The trigger message, base64 (OMA-TS-DM_Notification-V1_2 §6)." }),
  contentType: z.literal("application/vnd.syncml.notification"),
  wspContentType: z.literal(0x44),
  createdAt: z.string().datetime(),
});

const notificationView = (n: { id: string; sessionId: string; package0: string; createdAt: number }) => ({
  id: n.id,
  sessionId: n.sessionId,
  package0: n.package0,
  contentType: "application/vnd.syncml.notification" as const,
  wspContentType: 0x44 as const,
  createdAt: new Date(n.createdAt).toISOString(),
});

dmRoutes.openapi(
  createRoute({
    method: "post",
    path: "/dm/v1/devices/{devId}/notifications",
    summary: "Ask the device to open a session: build package 0 and hand it to the push connector",
    description:
      "The package 0 waits in the device's outbox (GET on this path) for an SMS/WAP-push gateway to send with WSP content type 0x44; with DM_PUSH_WEBHOOK set, " +
      "it is also POSTed there as application/vnd.syncml.notification with X-WSP-Content-Type: 0x44.",
    ...manager,
    request: { params: DevIdParam, body: { required: false, content: { "application/json": { schema: NotificationRequestSchema } } } },
    responses: { 201: json(z.object({ notification: NotificationSchema }), "Built and queued"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const req = (c.req.valid("json") ?? {}) as z.infer<typeof NotificationRequestSchema>;
    // A DM 2.0 device gets its package 0 from its DM account (src/dm/v2/), a DM 1.2 device from its object.
    const n = (await dm2Notification(c.env, devId, req.uiMode ?? "not-specified")) ?? unwrap(await deviceStub(c.env, devId).notify(req.uiMode ?? "not-specified"));
    pushPackage0(c, devId, n.package0);
    return c.json({ notification: notificationView(n) }, 201);
  },
);

dmRoutes.openapi(
  createRoute({
    method: "get",
    path: "/dm/v1/devices/{devId}/notifications",
    summary: "The push outbox: package 0 messages not yet answered by a session",
    ...manager,
    request: { params: DevIdParam },
    responses: { 200: json(z.object({ notificationList: z.array(NotificationSchema) }), "Pending notifications"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const list = (await dm2Notifications(c.env, devId)) ?? unwrap(await deviceStub(c.env, devId).notifications());
    return c.json({ notificationList: list.map(notificationView) }, 200);
  },
);
