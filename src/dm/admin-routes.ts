// The operator's admin API for managed devices (admin token): provisioning a device's DM account,
// listing, reading and removing devices.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { adminRoute, listed, page, PageFields, PageQuery, unlisted } from "../admin/gate";
import { config } from "../config";
import { router } from "../http/app";
import { invalidInput, notFound, unwrap } from "../http/errors";
import { errorResponses, json } from "../http/schemas";
import { DevIdParam } from "./routes";
import { deviceStub } from "../residency";

type Ctx = Context<AppEnv>;
export const deviceAdminRoutes = router();

const AuthTypeSchema = z.enum(["syncml:auth-basic", "syncml:auth-md5", "syncml:auth-MAC"]);
const DeviceAccountSchema = z
  .object({
    serverId: z.string().min(1).max(128),
    authType: AuthTypeSchema,
    clientUsername: z.string().min(1).max(128),
    clientPassword: z.string().min(1).max(256).openapi({ description: "The device's DM password, at least DM_MIN_PASSWORD_LENGTH (default 8) characters. Never returned; the server keeps only B64(MD5(clientUsername:clientPassword)), all that auth-basic, auth-md5 and HMAC verification need." }),
    serverPassword: z.string().min(1).max(256).openapi({ description: "The server's own secret (server authentication, package 0 digest), at least DM_MIN_PASSWORD_LENGTH (default 8) characters. Never returned; kept encrypted (AES-GCM under DM_SECRET_KEY)." }),
    subscriber: z.string().regex(/^tel:\+[1-9][0-9]{1,14}$/).optional(),
  })
  .strict()
  .openapi("DeviceAccount");
const DeviceSchema = z
  .object({
    device: z.object({
      devId: z.string(), serverId: z.string(), authType: AuthTypeSchema, clientUsername: z.string(), subscriber: z.string().optional(),
      authLockedUntil: z.number().int().optional().openapi({ description: "Set while the device is locked out after 5 wrong credentials in 15 minutes (ms since the epoch); re-provisioning lifts it." }),
      resourceURL: z.string().url(),
    }),
  })
  .openapi("Device");

const deviceView = (c: Ctx, d: { devId: string; serverId: string; authType: z.infer<typeof AuthTypeSchema>; clientUsername: string; subscriber?: string; authLockedUntil?: number }) => ({
  device: { devId: d.devId, serverId: d.serverId, authType: d.authType, clientUsername: d.clientUsername, ...(d.subscriber ? { subscriber: d.subscriber } : {}), ...(d.authLockedUntil ? { authLockedUntil: d.authLockedUntil } : {}), resourceURL: `${new URL(c.req.url).origin}/admin/v1/devices/${encodeURIComponent(d.devId)}` },
});

deviceAdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/devices/{devId}",
    summary: "Provision (or update) a managed device and its DM account",
    ...adminRoute,
    request: { params: DevIdParam, body: { required: true, content: { "application/json": { schema: DeviceAccountSchema } } } },
    responses: { 201: json(DeviceSchema, "Provisioned"), 200: json(DeviceSchema, "Updated"), ...errorResponses(400, 401, 413, 415) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const account = c.req.valid("json");
    const min = config(c.env).DM_MIN_PASSWORD_LENGTH;
    for (const field of ["clientPassword", "serverPassword"] as const) {
      if (account[field].length < min) throw invalidInput(field, `at least ${min} characters (DM_MIN_PASSWORD_LENGTH)`);
    }
    const { created, device } = unwrap(await deviceStub(c.env, devId).provision({ devId, ...account }));
    await listed(c.env, "devices", devId, device.subscriber ? { subscriber: device.subscriber } : {});
    return created ? c.json(deviceView(c, device), 201) : c.json(deviceView(c, device), 200);
  },
);

deviceAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/devices/{devId}",
    summary: "A managed device",
    ...adminRoute,
    request: { params: DevIdParam },
    responses: { 200: json(DeviceSchema, "The device"), ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const device = await deviceStub(c.env, devId).device();
    if (!device) throw notFound("devId", devId);
    return c.json(deviceView(c, device), 200);
  },
);

deviceAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/devices/{devId}",
    summary: "Remove a managed device with its jobs, tree and sessions",
    ...adminRoute,
    request: { params: DevIdParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const existed = await deviceStub(c.env, devId).deprovision();
    await unlisted(c.env, "devices", devId);
    if (!existed) throw notFound("devId", devId);
    return c.body(null, 204);
  },
);

const DeviceListSchema = z.object({ devices: z.array(DeviceSchema.shape.device), ...PageFields }).openapi("DeviceList");

deviceAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/devices",
    summary: "The managed devices, in devId order, a page at a time",
    ...adminRoute,
    request: { query: PageQuery },
    responses: { 200: json(DeviceListSchema, "One page"), ...errorResponses(400, 401) },
  }),
  async (c) => {
    const { entries, cursor } = await page(c.env, "devices", c.req.valid("query"));
    const devices = await Promise.all(entries.map((e) => deviceStub(c.env, e.id).device()));
    return c.json({ devices: devices.flatMap((d) => (d ? [deviceView(c, d).device] : [])), ...(cursor ? { cursor } : {}) }, 200);
  },
);
