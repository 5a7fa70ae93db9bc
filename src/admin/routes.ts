// Operator admin API: provisioning subscribers and registering OAuth clients.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { requireAdmin } from "../http/auth";
import { fromBase64url, randomToken, sha256 } from "../http/crypto";
import type { JSONWebKeySet } from "jose";
import { ALL_GRANTS, GRANT, PUBLIC_CLIENT_GRANTS } from "../oauth/token-endpoint";
import { forgetKeys } from "../oauth/tokens";
import { clientMetadata, clientMetadataFields, clientMetadataView } from "../oauth/client-metadata";
import { newClientId } from "../oauth/object-names";
import { invalidInput, notFound } from "../http/errors";
import { errorResponses, json } from "../http/schemas";
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
const LOOPBACK = /^(localhost|127\.0\.0\.1|\[::1\])$/;
/** RFC 6749 §3.1.2, RFC 8252 §7: https, http on loopback, or a private-use (reverse-DNS) scheme; no fragment. */
const RedirectUriSchema = z
  .string()
  .max(2000)
  .refine((u) => {
    try {
      const url = new URL(u);
      if (url.hash || u.includes("#")) return false;
      if (url.protocol === "https:") return true;
      if (url.protocol === "http:") return LOOPBACK.test(url.hostname);
      return /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol);
    } catch {
      return false;
    }
  }, "an absolute https URL, http on loopback, or a private-use scheme, without fragment");
const JwksSchema = z
  .object({ keys: z.array(z.record(z.string(), z.unknown()).refine((k) => typeof k.kty === "string" && !("d" in k), "a public JWK")).min(1) })
  .openapi({ description: "The client's public keys, for private_key_jwt." });

const ClientRegistrationSchema = z
  .object({
    name: z.string().min(1).max(128),
    scopes: z.array(z.enum(scopeList)).min(1),
    redirect_uris: z.array(RedirectUriSchema).max(10).optional(),
    grant_types: z.array(z.enum(ALL_GRANTS as [string, ...string[]])).min(1).optional(),
    token_endpoint_auth_method: z.enum(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]).optional(),
    jwks: JwksSchema.optional(),
    ...clientMetadataFields,
  })
  .strict()
  .openapi("ClientRegistration", {
    description:
      "Without grant_types a client gets every grant its registration supports: authorization_code and refresh_token need redirect_uris; " +
      "a public client (token_endpoint_auth_method none) may use only authorization_code, refresh_token and device_code.",
  });
const RegisteredClientSchema = z
  .object({
    client_id: z.string(),
    client_secret: z.string().optional(),
    name: z.string(),
    scopes: z.array(z.string()),
    grant_types: z.array(z.string()),
    redirect_uris: z.array(z.string()),
    token_endpoint_auth_method: z.string(),
    ...clientMetadataFields,
  })
  .openapi("RegisteredClient", { description: "The secret is shown once; only its hash is stored." });

const admin = { middleware: requireAdmin, security: [{ adminToken: [] }], tags: ["Operator admin"] };

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
    const body = c.req.valid("json");
    const authMethod = body.token_endpoint_auth_method ?? "client_secret_basic";
    const redirectUris = body.redirect_uris ?? [];
    const supported = ALL_GRANTS.filter(
      (g) =>
        (redirectUris.length > 0 || (g !== GRANT.authorizationCode && g !== GRANT.refreshToken)) &&
        (authMethod !== "none" || PUBLIC_CLIENT_GRANTS.includes(g)),
    );
    const grantTypes = body.grant_types ?? supported;
    const unsupported = grantTypes.filter((g) => !supported.includes(g));
    if (unsupported.length) throw invalidInput("grant_types", `${unsupported.join(", ")} not possible with this registration`);
    if (authMethod === "private_key_jwt" && !body.jwks) throw invalidInput("jwks", "private_key_jwt needs the client's public keys");
    const clientId = await newClientId(c.env);
    const secret = authMethod === "client_secret_basic" || authMethod === "client_secret_post" ? randomToken(32) : undefined;
    const scopes = [...new Set(body.scopes.filter(isScope))];
    const client = await c.env.OAUTH_CLIENTS.getByName(clientId).register({
      clientId,
      name: body.name,
      scopes,
      grantTypes: [...new Set(grantTypes)],
      redirectUris,
      authMethod,
      ...(secret ? { secretHash: await sha256(secret) } : {}),
      ...(body.jwks ? { jwks: body.jwks as unknown as JSONWebKeySet } : {}),
      ...clientMetadata(body),
    });
    return c.json(
      {
        client_id: clientId,
        ...(secret ? { client_secret: secret } : {}),
        name: client.name,
        scopes: client.scopes,
        grant_types: client.grantTypes,
        redirect_uris: client.redirectUris,
        token_endpoint_auth_method: client.authMethod,
        ...clientMetadataView(client),
      },
      201,
      { "Cache-Control": "no-store" },
    );
  },
);

adminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/admin/v1/keys/rotate",
    summary: "Rotate the token-signing key",
    description: "A new ES256 key signs from now on (in every isolate within a minute); the old one stays in /oauth/jwks until its tokens have expired.",
    ...admin,
    responses: { 200: json(z.object({ kid: z.string() }), "The new key's id"), ...errorResponses(401) },
  }),
  async (c) => {
    const kid = await c.env.SIGNING_KEYS.getByName("signing-keys").rotate();
    forgetKeys();
    return c.json({ kid }, 200);
  },
);
