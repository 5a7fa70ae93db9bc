// Operator admin API: provisioning subscribers and registering OAuth clients.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { requireAdmin } from "../http/auth";
import { fromBase64url, randomToken } from "../http/crypto";
import { invalidInput, notFound } from "../http/errors";
import { errorResponses } from "../http/schemas";
import { SCOPES, isScope } from "../oauth/tokens";
import { MnoSchema, TEL_URI } from "../twinning/schemas";
import type { SubscriberProfile } from "../twinning/subscriber-object";

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

const scopeList = Object.keys(SCOPES) as [string, ...string[]];
const ClientRegistrationSchema = z
  .object({
    name: z.string().min(1).max(128),
    scopes: z.array(z.enum(scopeList)).min(1),
  })
  .strict()
  .openapi("ClientRegistration");
const RegisteredClientSchema = z
  .object({ client_id: z.string(), client_secret: z.string(), name: z.string(), scopes: z.array(z.string()) })
  .openapi("RegisteredClient", { description: "The secret is shown once; only its hash is stored." });

const admin = { middleware: requireAdmin, security: [{ adminToken: [] }], tags: ["Operator admin"] };
const json = <T>(schema: T, description: string) => ({ content: { "application/json": { schema } }, description });

const subscriberView = (c: Context<AppEnv>, p: SubscriberProfile) => ({
  subscriber: {
    address: p.address,
    mno: p.mno,
    role: p.role,
    createdAt: new Date(p.createdAt).toISOString(),
    resourceURL: `${new URL(c.req.url).origin}/admin/v1/subscribers/${encodeURIComponent(p.address)}`,
  },
});

export const adminRoutes = router();

adminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/subscribers/{address}",
    summary: "Provision (or update) a subscriber",
    ...admin,
    request: { params: AddressParam, body: { content: { "application/json": { schema: ProvisionSchema } }, required: true } },
    responses: { 200: json(SubscriberSchema, "Updated"), 201: json(SubscriberSchema, "Provisioned"), ...errorResponses(400, 401, 413, 415) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    const { mno, deviceKey } = c.req.valid("json");
    const key = fromBase64url(deviceKey);
    if (!key) throw invalidInput("deviceKey");
    const { created, profile } = await c.env.SUBSCRIBERS.getByName(address).provision(address, mno, key);
    return created ? c.json(subscriberView(c, profile), 201) : c.json(subscriberView(c, profile), 200);
  },
);

adminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/subscribers/{address}",
    summary: "A provisioned subscriber and its twinning role",
    ...admin,
    request: { params: AddressParam },
    responses: { 200: json(SubscriberSchema, "The subscriber"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    const profile = await c.env.SUBSCRIBERS.getByName(address).profile();
    if (!profile) throw notFound("address", address);
    return c.json(subscriberView(c, profile), 200);
  },
);

adminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/subscribers/{address}",
    summary: "Remove a subscriber; its twinning relationships end on both sides",
    ...admin,
    request: { params: AddressParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { address } = c.req.valid("param");
    if (!(await c.env.SUBSCRIBERS.getByName(address).deprovision())) throw notFound("address", address);
    return c.body(null, 204);
  },
);

adminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/admin/v1/clients",
    summary: "Register an OAuth client application",
    description: `Scopes: ${Object.entries(SCOPES).map(([s, d]) => `\`${s}\`: ${d}`).join(" ")}`,
    ...admin,
    request: { body: { content: { "application/json": { schema: ClientRegistrationSchema } }, required: true } },
    responses: { 201: json(RegisteredClientSchema, "Registered; the secret is not shown again"), ...errorResponses(400, 401, 413, 415) },
  }),
  async (c) => {
    const { name, scopes } = c.req.valid("json");
    const clientId = `client-${randomToken(12)}`;
    const secret = randomToken(32);
    const unique = [...new Set(scopes.filter(isScope))];
    await c.env.OAUTH_CLIENTS.getByName(clientId).register(clientId, name, unique, secret);
    return c.json({ client_id: clientId, client_secret: secret, name, scopes: unique }, 201);
  },
);
