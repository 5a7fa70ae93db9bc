// The operator's admin API for OAuth clients (admin token): registering, listing, reading,
// removing them, rotating a client's secret, and rotating the token-signing key.
import { createRoute, z } from "@hono/zod-openapi";
import type { JSONWebKeySet } from "jose";
import { adminRoute, listed, page, PageFields, PageQuery, unlisted } from "../admin/gate";
import { router } from "../http/app";
import { randomToken, sha256 } from "../http/crypto";
import { invalidInput, notFound } from "../http/errors";
import { errorResponses, json } from "../http/schemas";
import { clientMetadata, clientMetadataFields, clientMetadataView } from "./client-metadata";
import type { RegisteredClient } from "./client-object";
import { newClientId } from "./object-names";
import { ALL_GRANTS, GRANT, PUBLIC_CLIENT_GRANTS } from "./token-endpoint";
import { forgetKeys, isScope, SCOPES } from "./tokens";

const NO_STORE = { "Cache-Control": "no-store" };

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

const clientView = (client: RegisteredClient) => ({
  client_id: client.clientId,
  name: client.name,
  scopes: client.scopes,
  grant_types: client.grantTypes,
  redirect_uris: client.redirectUris,
  token_endpoint_auth_method: client.authMethod,
  ...clientMetadataView(client),
});

export const clientAdminRoutes = router();
clientAdminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/admin/v1/clients",
    summary: "Register an OAuth client application",
    description: `Scopes: ${Object.entries(SCOPES).map(([s, d]) => `\`${s}\`: ${d}`).join(" ")}`,
    ...adminRoute,
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
    await listed(c.env, "clients", clientId, { name: client.name });
    return c.json({ ...clientView(client), ...(secret ? { client_secret: secret } : {}) }, 201, NO_STORE);
  },
);

clientAdminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/admin/v1/keys/rotate",
    summary: "Rotate the token-signing key",
    description: "A new ES256 key signs from now on (in every isolate within a minute); the old one stays in /oauth/jwks until its tokens have expired.",
    ...adminRoute,
    responses: { 200: json(z.object({ kid: z.string() }), "The new key's id"), ...errorResponses(401) },
  }),
  async (c) => {
    const kid = await c.env.SIGNING_KEYS.getByName("signing-keys").rotate();
    forgetKeys();
    return c.json({ kid }, 200);
  },
);

const ClientIdParam = z.object({ clientId: z.string().min(1).max(200).openapi({ param: { name: "clientId", in: "path" } }) });
const ClientSchema = RegisteredClientSchema.omit({ client_secret: true }).openapi("Client");
const ClientListSchema = z.object({ clients: z.array(ClientSchema), ...PageFields }).openapi("ClientList");
const RotatedSecretSchema = z.object({ client_id: z.string(), client_secret: z.string() }).openapi("RotatedClientSecret", { description: "The new secret, shown once; the old one no longer authenticates." });

clientAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/clients",
    summary: "The registered OAuth clients, in client_id order, a page at a time",
    ...adminRoute,
    request: { query: PageQuery },
    responses: { 200: json(ClientListSchema, "One page"), ...errorResponses(400, 401) },
  }),
  async (c) => {
    const { entries, cursor } = await page(c.env, "clients", c.req.valid("query"));
    const infos = await Promise.all(entries.map((e) => c.env.OAUTH_CLIENTS.getByName(e.id).info()));
    return c.json({ clients: infos.flatMap((i) => (i ? [clientView(i)] : [])), ...(cursor ? { cursor } : {}) }, 200);
  },
);

clientAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/clients/{clientId}",
    summary: "A registered OAuth client (never its secret)",
    ...adminRoute,
    request: { params: ClientIdParam },
    responses: { 200: json(ClientSchema, "The client"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { clientId } = c.req.valid("param");
    const info = await c.env.OAUTH_CLIENTS.getByName(clientId).info();
    if (!info) throw notFound("clientId", clientId);
    return c.json(clientView(info), 200);
  },
);

clientAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/clients/{clientId}",
    summary: "Remove an OAuth client",
    description:
      "From now on it authenticates nowhere: no new tokens, no refresh, its authorization codes are gone. Access tokens it already holds stay valid until they expire " +
      "(at most ACCESS_TOKEN_TTL_SECONDS); revoke a subscriber's grants with DELETE /admin/v1/subscribers/{address}/tokens/{familyId} to end them at once.",
    ...adminRoute,
    request: { params: ClientIdParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { clientId } = c.req.valid("param");
    const existed = await c.env.OAUTH_CLIENTS.getByName(clientId).deregister();
    await unlisted(c.env, "clients", clientId);
    if (!existed) throw notFound("clientId", clientId);
    return c.body(null, 204);
  },
);

clientAdminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/admin/v1/clients/{clientId}/secret",
    summary: "Rotate a client's secret: the old one stops working at once, the new one is shown once",
    description: "For clients that authenticate with a secret (client_secret_basic, client_secret_post); 404 for others.",
    ...adminRoute,
    request: { params: ClientIdParam },
    responses: { 200: json(RotatedSecretSchema, "The new secret (not shown again)"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { clientId } = c.req.valid("param");
    const secret = randomToken(32);
    const client = await c.env.OAUTH_CLIENTS.getByName(clientId).rotateSecret(await sha256(secret));
    if (!client) throw notFound("clientId", clientId, "(a client with a secret)");
    return c.json({ client_id: clientId, client_secret: secret }, 200, NO_STORE);
  },
);
