// The authorization server's HTTP surface: discovery (RFC 8414), JWKS, token (RFC 6749), device
// authorization (RFC 8628), revocation (RFC 7009) and introspection (RFC 7662). The authorization
// endpoint with its consent page is in authorize.ts.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { echo } from "../http/errors";
import { MnoSchema } from "../http/schemas";
import { authenticateClient, CLIENT_ASSERTION_TYPE, grantedScopes } from "./client-auth";
import { enforceOAuthRateLimit, NO_STORE, OAuthError, oauthEndpoint, readForm } from "./errors";
import { clientRequests, deviceAuthorizations } from "./rate-limits";
import { requireSubscriber } from "./subscriber-identity";
import { familyOf, looksLikeRefreshToken } from "./object-names";
import { isAccessTokenLive, tokenOwner } from "./token-liveness";
import { oauthHooks } from "./hooks";
import { ALL_GRANTS, GRANT, tokenEndpoint } from "./token-endpoint";
import { InvalidTokenError, issuerOf, publicJwks, SCOPES, tokenRef, verifyAccessToken, type AccessTokenClaims } from "./tokens";

type Ctx = Context<AppEnv>;
export const oauthRoutes = router();

const errorSchema = z.object({ error: z.string(), error_description: z.string() }).openapi("OAuthError");
const oauthErrors = {
  400: { description: "RFC 6749 §5.2 error", content: { "application/json": { schema: errorSchema } } },
  401: { description: "invalid_client, with WWW-Authenticate", content: { "application/json": { schema: errorSchema } } },
  429: {
    description: "temporarily_unavailable, with Retry-After: over a rate limit, or too many wrong client secrets from this address",
    content: { "application/json": { schema: errorSchema } },
  },
};
const form = (schema: z.ZodType) => ({ body: { required: true, content: { "application/x-www-form-urlencoded": { schema } } } });
const clientAuthFields = {
  client_id: z.string().optional(),
  client_secret: z.string().optional(),
  client_assertion_type: z.literal(CLIENT_ASSERTION_TYPE).optional(),
  client_assertion: z.string().optional(),
};

// ------------------------------------------------------------------ discovery

export function metadata(issuer: string) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/authorize`,
    token_endpoint: `${issuer}/oauth/token`,
    device_authorization_endpoint: `${issuer}/oauth/device_authorization`,
    revocation_endpoint: `${issuer}/oauth/revoke`,
    introspection_endpoint: `${issuer}/oauth/introspect`,
    jwks_uri: `${issuer}/oauth/jwks`,
    scopes_supported: Object.keys(SCOPES),
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ALL_GRANTS,
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
    token_endpoint_auth_signing_alg_values_supported: ["ES256", "RS256", "PS256", "EdDSA"],
    revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
    introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "private_key_jwt"],
    code_challenge_methods_supported: ["S256"],
    authorization_response_iss_parameter_supported: true,
    access_token_signing_alg_values_supported: ["ES256"],
    service_documentation: `${issuer}/docs`,
  };
}

oauthRoutes.get("/.well-known/oauth-authorization-server", (c) => c.json(metadata(issuerOf(c.env, c.req.url)), 200, { "Cache-Control": "public, max-age=300" }));
oauthRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/.well-known/oauth-authorization-server",
  summary: "Authorization server metadata (RFC 8414)",
  tags: ["OAuth"],
  responses: { 200: { description: "Every endpoint, grant, client authentication method and scope", content: { "application/json": { schema: z.record(z.string(), z.unknown()) } } } },
});

oauthRoutes.get("/oauth/jwks", async (c) => c.json(await publicJwks(c.env), 200, { "Cache-Control": "public, max-age=60" }));
oauthRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/oauth/jwks",
  summary: "The public keys that verify access tokens (RFC 7517), each with its kid; retired keys stay until their tokens expire",
  tags: ["OAuth"],
  responses: { 200: { description: "JWK set", content: { "application/json": { schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) } } } },
});

// ------------------------------------------------------------------ token

oauthRoutes.post("/oauth/token", (c) => oauthEndpoint(c, () => tokenEndpoint(c)));
oauthRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/token",
  summary: "Token endpoint (RFC 6749 §3.2)",
  description:
    "Grants: `urn:ietf:params:oauth:grant-type:jwt-bearer` (RFC 7523: an HS256 assertion signed with the subscriber's device key, iss = client_id, sub = tel: URI, aud = this URL, exp ≤ 5 min, jti once), " +
    "`client_credentials`, `authorization_code` (PKCE S256 required), `refresh_token` (rotated; reuse revokes the family), " +
    "`urn:ietf:params:oauth:grant-type:device_code` (RFC 8628: the device_code of an activation-code request; answers authorization_pending, slow_down, expired_token, access_denied), " +
    "`urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693: a twinned secondary's relationship token for a `twinning:delegated` token with sub = the primary and act = the secondary, HLF-SD-009). " +
    "Client authentication: client_secret_basic, client_secret_post, private_key_jwt, or none for public clients. Answers carry `Cache-Control: no-store`.",
  tags: ["OAuth"],
  request: {
    ...form(
      z.object({
        grant_type: z.enum(ALL_GRANTS as [string, ...string[]]),
        scope: z.string().optional(),
        assertion: z.string().optional(),
        code: z.string().optional(),
        redirect_uri: z.string().optional(),
        code_verifier: z.string().optional(),
        refresh_token: z.string().optional(),
        device_code: z.string().optional(),
        subject_token: z.string().optional(),
        subject_token_type: z.string().optional(),
        ...clientAuthFields,
      }),
    ),
  },
  responses: {
    200: {
      description: "RFC 9068 JWT access token (ES256)",
      content: {
        "application/json": {
          schema: z.object({ access_token: z.string(), token_type: z.literal("Bearer"), expires_in: z.number(), scope: z.string(), refresh_token: z.string().optional() }),
        },
      },
    },
    ...oauthErrors,
  },
});

// ------------------------------------------------------------------ device authorization (RFC 8628 §3.1)

async function deviceAuthorization(c: Ctx): Promise<Response> {
  const body = await readForm(c);
  const issuer = issuerOf(c.env, c.req.url);
  const endpoint = `${issuer}/oauth/device_authorization`;
  const client = await authenticateClient(c, body, [endpoint, `${issuer}/oauth/token`, issuer]);
  await enforceOAuthRateLimit(clientRequests(c.env), client.clientId);
  if (!client.grantTypes.includes(GRANT.deviceCode)) throw new OAuthError("unauthorized_client", `client is not registered for ${GRANT.deviceCode}`);
  const scope = grantedScopes(client, body.get("scope"), ["twinning:secondary"]);
  const who = await requireSubscriber(c, client.clientId, body.get("assertion"), [endpoint, issuer]);
  await enforceOAuthRateLimit(deviceAuthorizations(c.env), who);
  const authorize = oauthHooks().authorizeDevice;
  if (!authorize) throw new OAuthError("unsupported_grant_type", "no capability issues user codes here");
  const issued = await authorize({ env: c.env, issuer, subject: who, clientId: client.clientId, scope: scope.join(" "), form: body });
  return c.json(
    {
      device_code: issued.deviceCode,
      user_code: issued.userCode,
      verification_uri: issued.verificationUri,
      expires_in: Math.max(1, Math.round((issued.expiresAt - Date.now()) / 1000)),
      interval: issued.interval,
      ...issued.extra,
    },
    200,
    NO_STORE,
  );
}

oauthRoutes.post("/oauth/device_authorization", (c) => oauthEndpoint(c, () => deviceAuthorization(c)));
oauthRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/device_authorization",
  summary: "Device authorization (RFC 8628 §3.1) for a secondary device",
  description:
    "The same as an activation-code request (HLF-SD-001): the user_code is the six-digit activation code, entered on the primary device " +
    "(POST /twinning/v1/{userId}/twins). The subscriber is identified by the network: `assertion` is a device-key JWT (aud = this URL), or the operator's trusted header.",
  tags: ["OAuth"],
  request: { ...form(z.object({ scope: z.string().optional(), assertion: z.string().optional(), primary_mno: z.string().optional(), ...clientAuthFields })) },
  responses: {
    200: {
      description: "RFC 8628 §3.2 device authorization response, plus the MNO that generated the code (HLF-SD-003)",
      content: {
        "application/json": {
          schema: z.object({ device_code: z.string(), user_code: z.string(), verification_uri: z.string(), expires_in: z.number(), interval: z.number(), mno: MnoSchema }),
        },
      },
    },
    ...oauthErrors,
  },
});

// ------------------------------------------------------------------ revocation and introspection

/** The claims of one of our access tokens, or undefined when it is not one (or has expired). */
async function accessClaims(c: Ctx, token: string): Promise<AccessTokenClaims | undefined> {
  try {
    return await verifyAccessToken(c.env, issuerOf(c.env, c.req.url), token);
  } catch (err) {
    if (err instanceof InvalidTokenError) return undefined;
    throw err;
  }
}

async function revoke(c: Ctx): Promise<Response> {
  const body = await readForm(c);
  const issuer = issuerOf(c.env, c.req.url);
  const client = await authenticateClient(c, body, [`${issuer}/oauth/revoke`, `${issuer}/oauth/token`, issuer]);
  const token = body.get("token");
  if (!token) throw new OAuthError("invalid_request", "token missing");
  const hint = body.get("token_type_hint");
  if (hint && hint !== "access_token" && hint !== "refresh_token") throw new OAuthError("unsupported_token_type", `token_type_hint ${echo(hint)} is not supported`);
  if (looksLikeRefreshToken(token)) {
    const familyId = await familyOf(c.env, token);
    if (!familyId) return c.body(null, 200, NO_STORE);
    const family = c.env.TOKEN_FAMILIES.getByName(familyId);
    const owner = await family.clientId();
    if (owner !== undefined && owner !== client.clientId) throw new OAuthError("unauthorized_client", "the token was issued to another client");
    if (owner !== undefined && (await family.introspect(token))) await family.revoke();
  } else {
    const claims = await accessClaims(c, token);
    if (claims) {
      if (claims.client_id !== client.clientId) throw new OAuthError("unauthorized_client", "the token was issued to another client");
      await tokenOwner(c.env, claims.sub, claims.client_id).revoke([{ jti: claims.jti, exp: claims.exp }]);
    }
  }
  // RFC 7009 §2.2: 200 whether or not the token was known, so nothing is learned by probing.
  return c.body(null, 200, NO_STORE);
}

async function introspect(c: Ctx): Promise<Response> {
  const body = await readForm(c);
  const issuer = issuerOf(c.env, c.req.url);
  const client = await authenticateClient(c, body, [`${issuer}/oauth/introspect`, `${issuer}/oauth/token`, issuer]);
  if (!client.confidential) throw new OAuthError("invalid_client", "introspection needs client authentication");
  const token = body.get("token");
  if (!token) throw new OAuthError("invalid_request", "token missing");
  const inactive = () => c.json({ active: false }, 200, NO_STORE);
  // RFC 7662 §4: the answer tells only the token's own client, or a registered resource server.
  const mayLearn = (clientId: string) => clientId === client.clientId || client.resourceServer === true;
  if (looksLikeRefreshToken(token)) {
    const familyId = await familyOf(c.env, token);
    const grant = familyId ? await c.env.TOKEN_FAMILIES.getByName(familyId).introspect(token) : undefined;
    if (!grant || !mayLearn(grant.clientId)) return inactive();
    return c.json({ active: true, token_type: "refresh_token", client_id: grant.clientId, sub: grant.sub, scope: grant.scope, exp: grant.exp, iss: issuer }, 200, NO_STORE);
  }
  const claims = await accessClaims(c, token);
  if (!claims || !mayLearn(claims.client_id) || !(await isAccessTokenLive(c.env, claims))) return inactive();
  const { sub, client_id, scope, exp, iat, iss, aud, jti, act, twin_id } = claims;
  return c.json({ active: true, token_type: "Bearer", sub, client_id, scope, exp, iat, iss, aud, jti, ...(act ? { act } : {}), ...(twin_id ? { twin_id } : {}) }, 200, NO_STORE);
}

oauthRoutes.post("/oauth/revoke", (c) => oauthEndpoint(c, () => revoke(c)));
oauthRoutes.post("/oauth/introspect", (c) => oauthEndpoint(c, () => introspect(c)));
oauthRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/revoke",
  summary: "Token revocation (RFC 7009)",
  description: "Revoking a refresh token revokes its whole grant, access tokens included. Access tokens fail at once on every API and in introspection.",
  tags: ["OAuth"],
  request: { ...form(z.object({ token: z.string(), token_type_hint: z.enum(["access_token", "refresh_token"]).optional(), ...clientAuthFields })) },
  responses: { 200: { description: "Revoked, or not a token of this client's (the same answer)" }, ...oauthErrors },
});
oauthRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/introspect",
  summary: "Token introspection (RFC 7662), for authenticated clients such as resource servers",
  tags: ["OAuth"],
  request: { ...form(z.object({ token: z.string(), token_type_hint: z.string().optional(), ...clientAuthFields })) },
  responses: {
    200: {
      description: "`active` and, when active, the token's claims",
      content: { "application/json": { schema: z.object({ active: z.boolean() }).catchall(z.unknown()) } },
    },
    ...oauthErrors,
  },
});

