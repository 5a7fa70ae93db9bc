// The token endpoint (RFC 6749 §3.2) with the jwt-bearer grant (RFC 7523), and the JWKS.
// Errors here follow RFC 6749 §5.2, not the OMA envelope: OAuth clients expect that shape.
import { z } from "@hono/zod-openapi";
import { decodeJwt } from "jose";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { TEL_URI } from "../twinning/schemas";
import type { RegisteredClient } from "./client-object";
import { SCOPES, isScope, issueAccessToken, issuerOf, publicJwks } from "./tokens";

export const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

type OAuthErrorCode = "invalid_request" | "invalid_client" | "invalid_grant" | "unauthorized_client" | "unsupported_grant_type" | "invalid_scope";

class OAuthError extends Error {
  constructor(readonly code: OAuthErrorCode, readonly description: string) {
    super(description);
  }
}

const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

function oauthError(c: Context<AppEnv>, err: OAuthError): Response {
  const status = err.code === "invalid_client" ? 401 : 400;
  const headers: Record<string, string> = { ...NO_STORE };
  if (status === 401) headers["WWW-Authenticate"] = 'Basic realm="oma-edge", charset="UTF-8"';
  return c.json({ error: err.code, error_description: err.description }, status, headers);
}

/** client_secret_basic (RFC 6749 §2.3.1, form-urlencoded id and secret) or client_secret_post. */
async function authenticateClient(c: Context<AppEnv>, form: URLSearchParams): Promise<RegisteredClient> {
  const header = c.req.header("authorization");
  let id: string | undefined;
  let secret: string | undefined;
  if (header) {
    const m = header.match(/^Basic\s+([A-Za-z0-9+/]+=*)$/i);
    if (!m) throw new OAuthError("invalid_client", "unsupported Authorization scheme");
    let decoded: string;
    try {
      decoded = atob(m[1]!);
    } catch {
      throw new OAuthError("invalid_client", "malformed Basic credentials");
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new OAuthError("invalid_client", "malformed Basic credentials");
    try {
      id = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "));
      secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "));
    } catch {
      throw new OAuthError("invalid_client", "malformed Basic credentials");
    }
    if (form.has("client_secret")) throw new OAuthError("invalid_request", "more than one client authentication method");
  } else if (form.has("client_id") && form.has("client_secret")) {
    id = form.get("client_id")!;
    secret = form.get("client_secret")!;
  }
  if (!id || !secret) throw new OAuthError("invalid_client", "client authentication required");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new OAuthError("invalid_client", "unknown client or wrong secret");
  const client = await c.env.OAUTH_CLIENTS.getByName(id).authenticate(secret);
  if (!client) throw new OAuthError("invalid_client", "unknown client or wrong secret");
  return client;
}

/** RFC 6749 §3.3: the requested scopes, all of which the client must be registered for. */
function grantedScopes(client: RegisteredClient, requested: string | null): string[] {
  if (requested === null || requested.trim() === "") return client.scopes;
  const scopes = [...new Set(requested.split(" ").filter(Boolean))];
  const unknown = scopes.filter((s) => !isScope(s));
  if (unknown.length) throw new OAuthError("invalid_scope", `unknown scope ${unknown.join(" ")}`);
  const notAllowed = scopes.filter((s) => !client.scopes.includes(s));
  if (notAllowed.length) throw new OAuthError("invalid_scope", `client is not registered for ${notAllowed.join(" ")}`);
  return scopes;
}

const MAX_FORM_BYTES = 16 * 1024;

async function readForm(c: Context<AppEnv>): Promise<URLSearchParams> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) throw new OAuthError("invalid_request", "body must be application/x-www-form-urlencoded");
  const bytes = await c.req.arrayBuffer();
  if (bytes.byteLength > MAX_FORM_BYTES) throw new OAuthError("invalid_request", "request body too large");
  const form = new URLSearchParams(new TextDecoder().decode(bytes));
  for (const key of new Set(form.keys())) {
    if (form.getAll(key).length > 1) throw new OAuthError("invalid_request", `parameter ${key} repeated`);
  }
  return form;
}

async function tokenEndpoint(c: Context<AppEnv>): Promise<Response> {
  try {
    const form = await readForm(c);
    const client = await authenticateClient(c, form);
    const grantType = form.get("grant_type");
    if (!grantType) throw new OAuthError("invalid_request", "grant_type missing");
    if (grantType !== JWT_BEARER) throw new OAuthError("unsupported_grant_type", `grant_type ${grantType} is not supported`);
    const assertion = form.get("assertion");
    if (!assertion) throw new OAuthError("invalid_request", "assertion missing");
    let subject: unknown;
    try {
      subject = decodeJwt(assertion).sub;
    } catch {
      throw new OAuthError("invalid_grant", "assertion is not a JWT");
    }
    if (typeof subject !== "string" || !TEL_URI.test(subject)) throw new OAuthError("invalid_grant", "assertion sub must be a tel: URI");
    const scopes = grantedScopes(client, form.get("scope"));
    const issuer = issuerOf(c.env, c.req.url);
    const tokenEndpointUrl = `${issuer}/oauth/token`;
    const verdict = await c.env.SUBSCRIBERS.getByName(subject).verifyDeviceAssertion(assertion, client.clientId, tokenEndpointUrl);
    if (!verdict.ok) throw new OAuthError("invalid_grant", verdict.reason);
    const { token, expiresIn } = await issueAccessToken(c.env, issuer, { sub: subject, client_id: client.clientId, scope: scopes.join(" ") });
    return c.json({ access_token: token, token_type: "Bearer", expires_in: expiresIn, scope: scopes.join(" ") }, 200, NO_STORE);
  } catch (err) {
    if (err instanceof OAuthError) return oauthError(c, err);
    throw err;
  }
}

export const oauthRoutes = router();

oauthRoutes.post("/oauth/token", tokenEndpoint);
oauthRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/token",
  summary: "Token endpoint (RFC 6749): the jwt-bearer grant (RFC 7523)",
  description:
    "Client authentication: client_secret_basic or client_secret_post. The assertion is an HS256 JWT signed with the subscriber's device key: " +
    "`iss` = client_id, `sub` = the subscriber's tel: URI, `aud` = this endpoint's URL, `exp` at most 5 minutes ahead, `jti` never reused. " +
    `The answer is an RFC 9068 JWT access token signed ES256. Scopes: ${Object.keys(SCOPES).join(", ")}.`,
  tags: ["OAuth"],
  request: {
    body: {
      required: true,
      content: {
        "application/x-www-form-urlencoded": {
          schema: z.object({ grant_type: z.literal(JWT_BEARER), assertion: z.string(), scope: z.string().optional() }),
        },
      },
    },
  },
  responses: {
    200: {
      description: "Access token",
      content: {
        "application/json": {
          schema: z.object({ access_token: z.string(), token_type: z.literal("Bearer"), expires_in: z.number(), scope: z.string() }),
        },
      },
    },
    400: { description: "RFC 6749 §5.2 error", content: { "application/json": { schema: z.object({ error: z.string(), error_description: z.string() }) } } },
    401: { description: "invalid_client", content: { "application/json": { schema: z.object({ error: z.string(), error_description: z.string() }) } } },
  },
});

oauthRoutes.get("/oauth/jwks", async (c) => c.json(await publicJwks(c.env), 200, { "Cache-Control": "public, max-age=300" }));
oauthRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/oauth/jwks",
  summary: "The public keys that verify access tokens (RFC 7517)",
  tags: ["OAuth"],
  responses: { 200: { description: "JWK set", content: { "application/json": { schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }) } } } },
});
