// The operator's admin API for subscribers (admin token): provisioning, listing, reading and
// removing them, their twins (ending one as its primary would) and their OAuth grants.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { adminRoute, listed, page, PageFields, PageQuery, unlisted } from "../admin/gate";
import { router } from "../http/app";
import { fromBase64url } from "../http/crypto";
import { invalidInput, notFound, unwrap } from "../http/errors";
import { errorResponses, json } from "../http/schemas";
import { recordEvent } from "../ops/metrics";
import { ActorSchema, MnoSchema, StatusSchema, TEL_URI } from "./schemas";
import type { RelationshipRecord, SubscriberProfile, TwinRecord } from "./subscriber-object";
import { placementConflict, subscriberStub } from "../residency";
import { closeChannelsOf } from "../notify/channels";

const MIN_DEVICE_KEY_BYTES = 32;

const AddressParam = z.object({
  address: z.string().regex(TEL_URI, "a tel: URI with an E.164 number").openapi({ param: { name: "address", in: "path" }, example: "tel:+15551230001" }),
});

const ProvisionSchema = z
  .object({
    mno: MnoSchema,
    deviceKey: z
      .string()
      .refine((k) => (fromBase64url(k)?.length ?? 0) >= MIN_DEVICE_KEY_BYTES, `base64url of at least ${MIN_DEVICE_KEY_BYTES} bytes`)
      .openapi({ description: "The device's shared key for jwt-bearer assertions (HS256), base64url, at least 32 bytes. Never returned." }),
  })
  .strict()
  .openapi("SubscriberProvisioning");

const SubscriberSchema = z
  .object({
    subscriber: z.object({
      address: z.string(),
      mno: MnoSchema,
      role: z.enum(["none", "primary", "secondary"]),
      createdAt: z.string().datetime(),
      resourceURL: z.string().url(),
    }),
  })
  .openapi("Subscriber");

const subscriberView = (c: Context<AppEnv>, p: SubscriberProfile) => ({
  subscriber: {
    address: p.address,
    mno: p.mno,
    role: p.role,
    createdAt: new Date(p.createdAt).toISOString(),
    resourceURL: `${new URL(c.req.url).origin}/admin/v1/subscribers/${encodeURIComponent(p.address)}`,
  },
});

export const subscriberAdminRoutes = router();


subscriberAdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/subscribers/{address}",
    summary: "Provision (or update) a subscriber",
    ...adminRoute,
    request: { params: AddressParam, body: { content: { "application/json": { schema: ProvisionSchema } }, required: true } },
    responses: { 200: json(SubscriberSchema, "Updated"), 201: json(SubscriberSchema, "Provisioned"), ...errorResponses(400, 401, 413, 415) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    const { mno, deviceKey } = c.req.valid("json");
    const key = fromBase64url(deviceKey);
    if (!key) throw invalidInput("deviceKey");
    const misplaced = placementConflict(c.env, address, `${mno.mcc}-${mno.mnc}`);
    if (misplaced) throw invalidInput("mno", misplaced);
    const { created, profile } = await subscriberStub(c.env, address).provision(address, mno, key);
    await listed(c.env, "subscribers", address, { mno: `${mno.mcc}-${mno.mnc}` });
    return created ? c.json(subscriberView(c, profile), 201) : c.json(subscriberView(c, profile), 200);
  },
);

subscriberAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/subscribers/{address}",
    summary: "A provisioned subscriber and its twinning role",
    ...adminRoute,
    request: { params: AddressParam },
    responses: { 200: json(SubscriberSchema, "The subscriber"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    const profile = await subscriberStub(c.env, address).profile();
    if (!profile) throw notFound("address", address);
    return c.json(subscriberView(c, profile), 200);
  },
);

subscriberAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/subscribers/{address}",
    summary: "Remove a subscriber; its twinning relationships end on both sides",
    ...adminRoute,
    request: { params: AddressParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    const existed = await subscriberStub(c.env, address).deprovision();
    await unlisted(c.env, "subscribers", address);
    if (!existed) throw notFound("address", address);
    // Its Notification Channels go with it: a new holder of the number must not inherit them.
    await closeChannelsOf(c.env, address);
    return c.body(null, 204);
  },
);

const SubscriberListSchema = z
  .object({ subscribers: z.array(SubscriberSchema.shape.subscriber), ...PageFields })
  .openapi("SubscriberList");

const MnoView = z.object({ mcc: z.string(), mnc: z.string() });
const TwinViewSchema = z.object({
  twinId: z.string().openapi({ description: "The secondary's address: the {twinId} of the Twinning API and of DELETE …/twins/{twinId}.", example: "tel:+15551230002" }),
  name: z.string(),
  status: StatusSchema,
  secondaryMno: MnoView,
  activatedAt: z.string().datetime(),
  statusChangedAt: z.string().datetime(),
  statusChangedBy: ActorSchema,
});
const TwinningViewSchema = z
  .object({
    twins: z.array(TwinViewSchema).openapi({ description: "As a primary: its secondaries." }),
    relationship: z
      .object({ primary: z.string(), name: z.string(), status: StatusSchema, primaryMno: MnoView, activatedAt: z.string().datetime(), statusChangedAt: z.string().datetime(), statusChangedBy: ActorSchema })
      .optional()
      .openapi({ description: "As a secondary: the primary it is twinned with." }),
  })
  .openapi("SubscriberTwinning");
const TwinParams = AddressParam.extend({
  twinId: z.string().min(1).max(200).openapi({ param: { name: "twinId", in: "path" }, description: "The secondary's address (tel:+E164) or the twin's name.", example: "tel:+15551230002" }),
});

const GrantSchema = z.object({
  familyId: z.string().openapi({ description: "The grant's id (its refresh tokens' family); never a token." }),
  clientId: z.string(),
  scope: z.string(),
  expiresAt: z.string().datetime(),
  revokedAt: z.string().datetime().optional(),
  active: z.boolean(),
});
const GrantListSchema = z.object({ grants: z.array(GrantSchema), ...PageFields }).openapi("SubscriberGrantList");
const GrantParams = AddressParam.extend({ familyId: z.string().min(1).max(200).openapi({ param: { name: "familyId", in: "path" } }) });

const iso = (ms: number) => new Date(ms).toISOString();
const twinView = (t: TwinRecord) => ({
  twinId: t.secondary, name: t.name, status: t.status, secondaryMno: t.secondaryMno,
  activatedAt: iso(t.activatedAt), statusChangedAt: iso(t.statusChangedAt), statusChangedBy: t.statusChangedBy,
});
const relationshipView = (r: RelationshipRecord) => ({
  primary: r.primary, name: r.name, status: r.status, primaryMno: r.primaryMno,
  activatedAt: iso(r.activatedAt), statusChangedAt: iso(r.statusChangedAt), statusChangedBy: r.statusChangedBy,
});

subscriberAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/subscribers",
    summary: "The provisioned subscribers, in address order, a page at a time",
    description: "Find a subscriber by the start of its number with `prefix` (e.g. `tel:+1555123`).",
    ...adminRoute,
    request: { query: PageQuery },
    responses: { 200: json(SubscriberListSchema, "One page"), ...errorResponses(400, 401) },
  }),
  async (c) => {
    const { entries, cursor } = await page(c.env, "subscribers", c.req.valid("query"));
    const profiles = await Promise.all(entries.map((e) => subscriberStub(c.env, e.id).profile()));
    const subscribers = profiles.flatMap((p) => (p ? [subscriberView(c, p).subscriber] : []));
    return c.json({ subscribers, ...(cursor ? { cursor } : {}) }, 200);
  },
);

subscriberAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/subscribers/{address}/twins",
    summary: "A subscriber's twinning: its twins (as a primary) or its primary (as a secondary)",
    ...adminRoute,
    request: { params: AddressParam },
    responses: { 200: json(TwinningViewSchema, "The subscriber's twinning"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    const { twins, relationship } = unwrap(await subscriberStub(c.env, address).adminTwinning());
    return c.json({ twins: twins.map(twinView), ...(relationship ? { relationship: relationshipView(relationship) } : {}) }, 200);
  },
);

subscriberAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/subscribers/{address}/twins/{twinId}",
    summary: "End a twin, as its primary would (HLF-PD-004): both sides, with their Deactivated notifications",
    ...adminRoute,
    request: { params: TwinParams },
    responses: { 204: { description: "Ended" }, ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address, twinId } = c.req.valid("param");
    unwrap(await subscriberStub(c.env, address).adminEndTwin(twinId));
    recordEvent(c.env, "twinning.deactivation", "operator");
    return c.body(null, 204);
  },
);

subscriberAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/subscribers/{address}/tokens",
    summary: "A subscriber's OAuth grants (refresh-token families): which client, which scopes, until when; never a token",
    description: "Grants made with a refresh token (authorization code, device code). Access tokens of the jwt-bearer grant have no grant record; they expire within ACCESS_TOKEN_TTL_SECONDS.",
    ...adminRoute,
    request: { params: AddressParam, query: PageQuery.omit({ prefix: true }) },
    responses: { 200: json(GrantListSchema, "One page of grants"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    if (!(await subscriberStub(c.env, address).profile())) throw notFound("address", address);
    const { entries, cursor } = await page(c.env, `token-families:${address}`, c.req.valid("query"));
    const summaries = await Promise.all(entries.map((e) => c.env.TOKEN_FAMILIES.getByName(e.id).summary()));
    const now = Date.now();
    const grants = summaries.flatMap((s) =>
      s && s.sub === address
        ? [{ familyId: s.familyId, clientId: s.clientId, scope: s.scope, expiresAt: iso(s.expiresAt), ...(s.revokedAt ? { revokedAt: iso(s.revokedAt) } : {}), active: !s.revokedAt && s.expiresAt > now }]
        : [],
    );
    return c.json({ grants, ...(cursor ? { cursor } : {}) }, 200);
  },
);

subscriberAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/subscribers/{address}/tokens/{familyId}",
    summary: "Revoke one of a subscriber's grants: its refresh token and every access token it issued (RFC 7009 §2.1)",
    ...adminRoute,
    request: { params: GrantParams },
    responses: { 204: { description: "Revoked" }, ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address, familyId } = c.req.valid("param");
    const family = c.env.TOKEN_FAMILIES.getByName(familyId);
    const summary = await family.summary();
    if (!summary || summary.sub !== address) throw notFound("familyId", familyId);
    await family.revoke();
    return c.body(null, 204);
  },
);
