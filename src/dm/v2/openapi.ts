// The OpenAPI description of the DM 2.0 resources. They negotiate media types (four JSON types,
// HTML for browsers), so the handlers are plain routes and their description is registered here
// from the same zod schemas the handlers validate with.
import { z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../env";
import { errorResponses } from "../../http/schemas";
import { AlertSchema, CommandPackageSchema, InitiationPackageSchema, ResultPackageSchema } from "./commands";
import { PROTOCOLS } from "./device-registry";
import { DM2_TYPES, INITIATION_TYPE, REQUEST_TYPE, RESPONSE_TYPE, SEED_TYPE } from "./media-types";

const security = [{ dmDigest: [] }, { dmBasic: [] }] as Record<string, string[]>[];
const tags = ["Device management 2.0"];

const DeviceSchema = z
  .object({
    devId: z.string().openapi({ example: "IMEI:493005100592800" }),
    name: z.string().optional(),
    protocol: z.enum(PROTOCOLS as [string, ...string[]]),
    manufacturer: z.string().optional(),
    model: z.string().optional(),
    createdAt: z.string().datetime(),
    updatedAt: z.string().datetime(),
    resourceURL: z.string().url(),
  })
  .openapi("Dm2Device");
const DeviceFieldsSchema = z
  .object({
    devId: z.string().regex(/^[\x21-\x7e]{1,128}$/).openapi({ description: "Only when registering; it cannot change." }),
    name: z.string().max(64).optional(),
    protocol: z.enum(PROTOCOLS as [string, ...string[]]).optional().openapi({ description: "Which protocol the device speaks; default DM2.0" }),
    manufacturer: z.string().max(64).optional(),
    model: z.string().max(64).optional(),
  })
  .openapi("Dm2DeviceForm");
const SessionSchema = z
  .object({
    sessionId: z.string().regex(/^[0-9a-f]{32}$/).openapi({ example: "5f0c3e9a1b2d4c6e8f0a1b2c3d4e5f60" }),
    devId: z.string().openapi({ example: "IMEI:493005100592800" }),
    state: z.enum(["pending", "active", "completed", "failed", "aborted"]),
    initiator: z.enum(["server", "client", "browser-component", "browser"]),
    packages: z.number().int(),
    notification: z.object({ package0: z.string().openapi({ description: "base64 package 0 (version 2.0)" }), sessionNum: z.number().int(), createdAt: z.number().int() }).optional(),
    result: z.object({ outcome: z.enum(["OK", "failure"]), reason: z.string().optional(), commands: z.number().int(), succeeded: z.number().int(), failed: z.number().int() }).optional(),
    createdAt: z.string().datetime(),
    updatedAt: z.string().datetime(),
    resourceURL: z.string().url().optional(),
  })
  .openapi("Dm2Session");

const html = (description: string) => ({ description, content: { "text/html": { schema: z.string() } } });
const jsonOf = <T>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const commandsOut = {
  description: "The server's commands (`CMD`, ending with CONT and the ServerURI of the next package, or END), in the media type the client asked for; the next package's session id is also in `Location` and `OMADM-SessionID`",
  content: Object.fromEntries([REQUEST_TYPE, SEED_TYPE].map((t) => [t, { schema: CommandPackageSchema }])),
  headers: {
    "OMADM-SessionID": { description: "The session id this package is answered under (absent after END)", schema: { type: "string" } },
    "OMADM-NextNonce": {
      description: "The nonce of the next package 0 for this device (32 hex digits, renewed when a session starts): the device keeps it and checks a notification's digest with it, so a replayed package 0 is refused (src/dm/v2/README.md decision 14)",
      schema: { type: "string", pattern: "^[0-9a-f]{32}$" },
    },
  },
};
const devIdHeader = z.object({ "OMADM-DevID": z.string().optional().openapi({ description: "The device; needed when the account has more than one DM 2.0 device" }) });
const initiation = { content: Object.fromEntries([INITIATION_TYPE, SEED_TYPE, "application/json"].map((t) => [t, { schema: InitiationPackageSchema }])), required: false };
const SessionIdParam = z.object({ sessionId: z.string().regex(/^(?:[0-9a-f]{32}|[0-9A-Fa-f]{1,4})$/).openapi({ param: { name: "sessionId", in: "path" }, example: "5f0c3e9a1b2d4c6e8f0a1b2c3d4e5f60" }) });
const DevIdParam = z.object({ devId: z.string().openapi({ param: { name: "devId", in: "path" }, example: "IMEI:493005100592800" }) });
const DataParams = SessionIdParam.extend({ index: z.string().regex(/^\d{1,4}$/).openapi({ param: { name: "index", in: "path" }, description: "Position of the command in its package" }) });
const formBody = { content: { "application/x-www-form-urlencoded": { schema: DeviceFieldsSchema }, "application/json": { schema: DeviceFieldsSchema } }, required: true };
const negotiation = `Requests may use any of ${DM2_TYPES.join(", ")} (or application/json); the answer uses the type named in Accept, else the counterpart of the request's. Another body type is 415, an Accept naming none of them (and not text/html) 406.`;

export function describeRoutes(app: OpenAPIHono<AppEnv>): void {
  const r = app.openAPIRegistry;
  r.registerComponent("securitySchemes", "dmDigest", { type: "http", scheme: "digest", description: "HTTP Digest (RFC 7616, algorithm SHA-256, qop auth) with the DM account's id and password; each nonce count is accepted once" });
  r.registerComponent("securitySchemes", "dmBasic", { type: "http", scheme: "basic", description: "HTTP Basic with the DM account's id and password, over TLS only" });
  const path = (method: "get" | "post" | "put" | "delete", p: string, summary: string, rest: Record<string, unknown>) =>
    r.registerPath({ method, path: p, summary, security, tags, ...rest, responses: { ...(rest.responses as object), ...errorResponses(401, 404) } } as never);

  path("get", "/dm/v2/sessions/pending", "Pending (and running) management sessions of the account, with the package 0 that asked each device to connect", {
    responses: { 200: jsonOf(z.object({ sessionList: z.array(SessionSchema) }), "Pending and active sessions") },
  });
  path("get", "/dm/v2/sessions/completed", "Completed management sessions with a brief result (OK or failure, and why)", {
    responses: { 200: jsonOf(z.object({ sessionList: z.array(SessionSchema) }), "Finished sessions, newest first") },
  });
  path("post", "/dm/v2/sessions/next", "Start a session (package 1) and get the first management commands", {
    description: `Client-initiated (x.2.2) and web-browser-component-initiated (x.2.3, Accept: ${SEED_TYPE}) sessions; the device's pending session if there is one. A browser that names no DM 2.0 type but takes text/html gets an HTML page and the device is asked to connect with a notification (x.2.4). ${negotiation}`,
    request: { headers: devIdHeader, body: initiation },
    responses: { 200: commandsOut, ...errorResponses(400, 406, 409, 415) },
  });
  path("post", "/dm/v2/sessions/id/{sessionId}", "Start the pending session named in the notification and get its first commands", {
    description: `Server-initiated sessions (x.2.1). ${negotiation}`,
    request: { params: SessionIdParam, headers: devIdHeader, body: initiation },
    responses: { 200: commandsOut, ...errorResponses(400, 406, 415) },
  });
  path("put", "/dm/v2/sessions/id/{sessionId}", "Report the results of the package's commands; get further commands under a newly assigned session id (or END)", {
    description: `Status in command order (CONT and END excepted; a status for CONT is tolerated), Alert for device events (an alert with the Correlator of an EXEC lands on that job command). Each session id is answered once. ${negotiation}`,
    request: { params: SessionIdParam, body: { required: true, content: Object.fromEntries([RESPONSE_TYPE, SEED_TYPE, "application/json"].map((t) => [t, { schema: ResultPackageSchema }])) } },
    responses: { 200: commandsOut, ...errorResponses(400, 406, 415) },
  });
  for (const p of ["/dm/v2/sessions/id/{sessionId}", "/dm/v2/session/id/{sessionId}"]) {
    path("delete", p, "Abort a session; its unanswered commands go back to their jobs' queue", { request: { params: SessionIdParam }, responses: { 204: { description: "Aborted" }, ...errorResponses(400) } });
  }
  path("get", "/dm/v2/sessions/id/{sessionId}/data/{index}", "The data an HGET command of the current package fetches (the value of an Add or Replace)", {
    request: { params: DataParams },
    responses: { 200: { description: "The node value, in its type", content: { "text/plain": { schema: z.string() }, "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } }, ...errorResponses(400) },
  });
  for (const m of ["put", "post"] as const) {
    path(m, "/dm/v2/sessions/id/{sessionId}/data/{index}", `Where an ${m === "put" ? "HPUT" : "HPOST"} command of the current package sends the node's value (a Get's result)`, {
      request: { params: DataParams, body: { required: true, content: { "text/plain": { schema: z.string() }, "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } } },
      responses: { 204: { description: "Kept until the package's statuses arrive" }, ...errorResponses(400, 413) },
    });
  }
  path("get", "/dm/v2/devices", "The devices of the DM account (HTML for a browser)", {
    responses: { 200: { description: "The devices", content: { "application/json": { schema: z.object({ deviceList: z.array(DeviceSchema) }) }, "text/html": { schema: z.string() } } } },
  });
  path("get", "/dm/v2/devices/new", "The device registration form (HTML)", { responses: { 200: html("The form") } });
  path("post", "/dm/v2/devices/new", "Register a device with form data (or JSON)", {
    description: "A browser is redirected (303) to the device's page; a form with errors comes back (400) with every error shown and every value kept. 409 when the device is registered already (to this or another account).",
    request: { body: formBody },
    responses: { 201: jsonOf(z.object({ device: DeviceSchema }), "Registered"), 303: { description: "A browser: to the device's page" }, 400: html("A browser: the form with its errors"), ...errorResponses(403, 409, 415) },
  });
  path("get", "/dm/v2/devices/{devId}", "A device's information (for a browser an HTML page with its update form)", {
    request: { params: DevIdParam },
    responses: { 200: { description: "The device", content: { "application/json": { schema: z.object({ device: DeviceSchema }) }, "text/html": { schema: z.string() } } } },
  });
  path("put", "/dm/v2/devices/{devId}", "Update a device's information (fields left out stay)", {
    request: { params: DevIdParam, body: formBody },
    responses: { 200: jsonOf(z.object({ device: DeviceSchema }), "Updated"), ...errorResponses(400, 409, 415) },
  });
  path("post", "/dm/v2/devices/{devId}", "The device page's update form (HTML forms cannot PUT)", {
    request: { params: DevIdParam, body: formBody },
    responses: { 303: { description: "Saved: back to the device's page" }, 400: html("The form with its errors"), ...errorResponses(403, 415) },
  });
  path("delete", "/dm/v2/devices/{devId}", "Unregister a device from the account (its jobs stay with the device)", { request: { params: DevIdParam }, responses: { 204: { description: "Unregistered" } } });
  path("post", "/dm/v2/alert", "Report a device event (generic alert); answered with commands under a new session id when jobs wait, else END", {
    description: `Alert fields: ${Object.keys(AlertSchema.shape).join(", ")}. ${negotiation}`,
    request: { headers: devIdHeader, body: initiation },
    responses: { 200: commandsOut, ...errorResponses(400, 406, 415) },
  });
}
