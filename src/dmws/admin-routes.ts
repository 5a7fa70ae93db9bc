// The operator's side of the DM web services: the device inventory, device groups, each provider's
// grants and the audit trail of refusals (/admin/v1/dm-*).
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { requestOrigin, router } from "../http/app";
import { requireAdmin } from "../http/auth";
import { notFound } from "../http/errors";
import { errorResponses, json } from "../http/schemas";
import type { GroupDefinition } from "./access-model";
import { registry } from "./groups";
import type { Group } from "./registry-object";
import {
  DeviceAttributesSchema, DeviceRecordSchema, DevIdParam, GrantsSchema, GroupParam, GroupRequestSchema, GroupSchema, PageQuery,
} from "./schemas";

export const dmwsAdminRoutes = router();
const admin = { middleware: requireAdmin, security: [{ adminToken: [] }], tags: ["DM web services: operator"] };
const origin = (c: Context<AppEnv>) => requestOrigin(c);

// ------------------------------------------------------------------ inventory

dmwsAdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/dm-devices/{devId}",
    summary: "Enter (or update) a device's attributes in the DM web-services inventory",
    description: "Group filters select on these attributes; `subscriber` ties the device to the subscriber whose services provisioning pushes to it.",
    ...admin,
    request: { params: DevIdParam, body: { required: true, content: { "application/json": { schema: DeviceAttributesSchema } } } },
    responses: { 201: json(z.object({ device: DeviceRecordSchema }), "Entered"), 200: json(z.object({ device: DeviceRecordSchema }), "Updated"), ...errorResponses(400, 401, 413, 415) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const { created, device } = await registry(c.env).putDevice({ devId, ...c.req.valid("json") });
    return created ? c.json({ device }, 201) : c.json({ device }, 200);
  },
);

dmwsAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-devices/{devId}",
    summary: "A device's attributes in the DM web-services inventory",
    ...admin,
    request: { params: DevIdParam },
    responses: { 200: json(z.object({ device: DeviceRecordSchema }), "The device"), ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    const device = await registry(c.env).deviceRecord(devId);
    if (!device) throw notFound("devId", devId);
    return c.json({ device }, 200);
  },
);

dmwsAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/dm-devices/{devId}",
    summary: "Remove a device from the inventory and from every group listing it",
    ...admin,
    request: { params: DevIdParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    if (!(await registry(c.env).deleteDevice(devId))) throw notFound("devId", devId);
    return c.body(null, 204);
  },
);

// ------------------------------------------------------------------ groups

const groupView = (c: Context<AppEnv>, g: Group) => ({ ...g, resourceURL: `${origin(c)}/admin/v1/dm-groups/${encodeURIComponent(g.name)}` });

dmwsAdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/dm-groups/{name}",
    summary: "Define (or redefine) a device group: a list of devices, or a filter over device attributes",
    ...admin,
    request: { params: GroupParam, body: { required: true, content: { "application/json": { schema: GroupRequestSchema } } } },
    responses: { 201: json(z.object({ group: GroupSchema }), "Defined"), 200: json(z.object({ group: GroupSchema }), "Redefined"), ...errorResponses(400, 401, 413, 415) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const { created, group } = await registry(c.env).putGroup(name, c.req.valid("json") as GroupDefinition);
    return created ? c.json({ group: groupView(c, group) }, 201) : c.json({ group: groupView(c, group) }, 200);
  },
);

dmwsAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-groups",
    summary: "Every device group (without its members)",
    ...admin,
    responses: { 200: json(z.object({ groups: z.array(GroupSchema) }), "The groups"), ...errorResponses(401) },
  }),
  async (c) => c.json({ groups: (await registry(c.env).groups()).map((g) => groupView(c, g)) }, 200),
);

dmwsAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-groups/{name}",
    summary: "A device group (an explicit group lists its first 1,000 devices)",
    ...admin,
    request: { params: GroupParam },
    responses: { 200: json(z.object({ group: GroupSchema }), "The group"), ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const group = await registry(c.env).group(name);
    if (!group) throw notFound("name", name);
    return c.json({ group: groupView(c, group) }, 200);
  },
);

dmwsAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-groups/{name}/devices",
    summary: "The device ids of a group, resolved now (a filter over the current inventory), a page at a time",
    ...admin,
    request: { params: GroupParam, query: PageQuery },
    responses: { 200: json(z.object({ devices: z.array(z.string()), nextCursor: z.string().optional() }), "One page of device ids, in devId order"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    const q = c.req.valid("query");
    const page = await registry(c.env).resolveGroup(name, q.cursor, q.limit ?? 100);
    if (!page) throw notFound("name", name);
    return c.json({ devices: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
  },
);

dmwsAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/dm-groups/{name}",
    summary: "Remove a device group (grants naming it then cover nothing)",
    ...admin,
    request: { params: GroupParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { name } = c.req.valid("param");
    if (!(await registry(c.env).deleteGroup(name))) throw notFound("name", name);
    return c.body(null, 204);
  },
);

// ------------------------------------------------------------------ grants

const ClientIdParam = z.object({ clientId: z.string().min(1).max(256).openapi({ param: { name: "clientId", in: "path" }, example: "Tq3Jm0xY8fZkLw2VbN5sRa" }) });

dmwsAdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/dm-providers/{clientId}/grants",
    summary: "Set what a service provider may do: by device group, management subtree and operation",
    description:
      "The provider is an OAuth client registered with the `dm:manage` scope (POST /admin/v1/clients). This replaces all its grants; an empty list withdraws every one. " +
      "A request is allowed when, for every device it touches, one grant whose group holds the device covers the subtree (itself or an ancestor) and the operation. " +
      "The change is recorded in the audit trail.",
    ...admin,
    request: { params: ClientIdParam, body: { required: true, content: { "application/json": { schema: GrantsSchema } } } },
    responses: { 200: json(GrantsSchema, "The provider's grants now"), ...errorResponses(400, 401, 404, 413, 415) },
  }),
  async (c) => {
    const { clientId } = c.req.valid("param");
    const client = await c.env.OAUTH_CLIENTS.getByName(clientId).info();
    if (!client) throw notFound("clientId", clientId);
    return c.json({ grants: await registry(c.env).putGrants(clientId, c.req.valid("json").grants) }, 200);
  },
);

dmwsAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-providers/{clientId}/grants",
    summary: "A service provider's grants",
    ...admin,
    request: { params: ClientIdParam },
    responses: { 200: json(GrantsSchema, "The grants"), ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { clientId } = c.req.valid("param");
    return c.json({ grants: await registry(c.env).grants(clientId) }, 200);
  },
);

// ------------------------------------------------------------------ audit

const AuditEntrySchema = z
  .object({
    seq: z.number().int(),
    at: z.string().datetime(),
    provider: z.string(),
    kind: z.enum(["refusal", "grants-changed"]),
    action: z.string().openapi({ description: "What the provider attempted (method and path, operation kind)." }),
    detail: z.record(z.string(), z.unknown()).openapi({ description: "For a refusal: `refused` (devices, subtree, operations) and `asked`; for a grant change: `before` and `after`." }),
  })
  .openapi("DmAuditEntry");

dmwsAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-audit",
    summary: "The audit trail: every refusal of a provider's request and every grant change, oldest first",
    ...admin,
    request: {
      query: PageQuery.extend({
        provider: z.string().max(256).optional(),
        kind: z.enum(["refusal", "grants-changed"]).optional(),
        from: z.string().datetime().optional().openapi({ description: "Entries at or after this instant." }),
        to: z.string().datetime().optional().openapi({ description: "Entries before this instant." }),
        cursor: z.string().regex(/^[0-9]{1,15}$/).optional().openapi({ description: "The nextCursor of the page before." }),
      }),
    },
    responses: { 200: json(z.object({ entries: z.array(AuditEntrySchema), nextCursor: z.string().optional() }), "One page of entries"), ...errorResponses(400, 401) },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const page = await registry(c.env).auditTrail({
      ...(q.provider ? { provider: q.provider } : {}),
      ...(q.kind ? { kind: q.kind } : {}),
      ...(q.from ? { from: Date.parse(q.from) } : {}),
      ...(q.to ? { to: Date.parse(q.to) } : {}),
      ...(q.cursor ? { afterSeq: Number(q.cursor) } : {}),
      limit: q.limit ?? 100,
    });
    const entries = page.items.map((e) => ({ ...e, detail: JSON.parse(e.detail) as Record<string, unknown> }));
    return c.json({ entries, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
  },
);
