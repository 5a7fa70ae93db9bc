// The token endpoint (RFC 6749 §3.2) and its grants. Each grant checks what the RFC asks and
// hands a grant (subject, scopes, bindings) to one issuing function.
import { listed } from "../admin/directory";
import { decodeJwt } from "jose";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { echo } from "../http/errors";
import { TEL_URI } from "../http/schemas";
import { authenticateClient, grantedScopes, type AuthenticatedClient } from "./client-auth";
import { enforceOAuthRateLimit, NO_STORE, OAuthError, readForm } from "./errors";
import { clientRequests } from "./rate-limits";
import { familyOf, newFamilyId, openName } from "./object-names";
import { oauthHooks, type ExchangedToken } from "./hooks";
import { isAccessTokenLive } from "./token-liveness";
import { issueAccessToken, issuerOf, newAccessTokenId, tokenRef, verifyAccessToken, InvalidTokenError, type AccessTokenClaims, type AccessTokenId } from "./tokens";
import { subscriberStub } from "../residency";

export const GRANT = {
  jwtBearer: "urn:ietf:params:oauth:grant-type:jwt-bearer",
  clientCredentials: "client_credentials",
  authorizationCode: "authorization_code",
  refreshToken: "refresh_token",
  deviceCode: "urn:ietf:params:oauth:grant-type:device_code",
  tokenExchange: "urn:ietf:params:oauth:grant-type:token-exchange",
} as const;
export const ALL_GRANTS: string[] = Object.values(GRANT);
/** Grants a public client (no credentials) may use: those bound by PKCE, a device code, or rotation. */
export const PUBLIC_CLIENT_GRANTS: readonly string[] = [GRANT.authorizationCode, GRANT.refreshToken, GRANT.deviceCode];
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

/** Scopes that only make sense for a given grant. */
const SUBSCRIBER_SCOPES = ["twinning:primary", "twinning:secondary", "webrtc:call"] as const;

interface Grant {
  sub: string;
  scope: string[];
  twinId?: string;
  act?: { sub: string };
  /** The access token's id, when its owner already recorded it (a token family). */
  accessId?: AccessTokenId;
  /** The family the access token belongs to, and the refresh token to hand out with it. */
  familyId?: string;
  refreshToken?: string;
  /** A new family to start beside the access token (authorization_code of a refresh-capable client). */
  startFamily?: string;
  /** RFC 9068 `auth_time`: when the subscriber authorised a grant older than this request (code, refresh). */
  authTime?: number;
  /** A token response obtained elsewhere (token exchange toward a foreign audience), handed back as it is. */
  exchanged?: ExchangedToken;
}

type Ctx = Context<AppEnv>;
const required = (form: URLSearchParams, name: string) => {
  const value = form.get(name);
  if (!value) throw new OAuthError("invalid_request", `${name} missing`);
  return value;
};

async function jwtBearer(c: Ctx, form: URLSearchParams, client: AuthenticatedClient, issuer: string): Promise<Grant> {
  const assertion = required(form, "assertion");
  let subject: unknown;
  try {
    subject = decodeJwt(assertion).sub;
  } catch {
    throw new OAuthError("invalid_grant", "assertion is not a JWT");
  }
  if (typeof subject !== "string" || !TEL_URI.test(subject)) throw new OAuthError("invalid_grant", "assertion sub must be a tel: URI");
  const scope = grantedScopes(client, form.get("scope"), SUBSCRIBER_SCOPES);
  const verdict = await subscriberStub(c.env, subject).verifyDeviceAssertion(assertion, client.clientId, [`${issuer}/oauth/token`, issuer]);
  if (!verdict.ok) throw new OAuthError("invalid_grant", verdict.reason);
  return { sub: subject, scope };
}

async function clientCredentials(_c: Ctx, form: URLSearchParams, client: AuthenticatedClient): Promise<Grant> {
  // 2-legged: the client acts for itself, so subscriber scopes would name nobody's resources.
  const scope = grantedScopes(client, form.get("scope"));
  return { sub: client.clientId, scope };
}

async function authorizationCode(c: Ctx, form: URLSearchParams, client: AuthenticatedClient): Promise<Grant> {
  const code = required(form, "code");
  const redirectUri = required(form, "redirect_uri");
  const verifier = required(form, "code_verifier");
  if (!/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) throw new OAuthError("invalid_grant", "code_verifier is not an RFC 7636 verifier");
  // The family is named before the code is spent, so that a replay of the code can revoke it.
  const startFamily = client.grantTypes.includes(GRANT.refreshToken) ? await newFamilyId(c.env) : undefined;
  const result = await c.env.OAUTH_CLIENTS.getByName(client.clientId).redeemAuthCode(code, redirectUri, verifier, startFamily);
  if (!result.ok) {
    if (result.familyToRevoke) await c.env.TOKEN_FAMILIES.getByName(result.familyToRevoke).revoke(true);
    throw new OAuthError("invalid_grant", result.reason);
  }
  return { sub: result.sub, scope: result.scope.split(" "), authTime: result.authTime, ...(startFamily ? { startFamily } : {}) };
}

async function refreshToken(c: Ctx, form: URLSearchParams, client: AuthenticatedClient): Promise<Grant> {
  const token = required(form, "refresh_token");
  const familyId = await familyOf(c.env, token);
  if (!familyId) throw new OAuthError("invalid_grant", "unknown refresh token");
  // Recorded by the family in the same step as the rotation: a racing reuse revokes it too.
  const accessId = newAccessTokenId(c.env);
  // RFC 6749 §6: a narrower scope may be asked for, never a wider one (checked by the family before it spends the token).
  const requested = form.get("scope");
  const asked = requested ? [...new Set(requested.split(" ").filter(Boolean))] : undefined;
  const rotation = await c.env.TOKEN_FAMILIES.getByName(familyId).rotate(token, client.clientId, accessId, asked);
  if (!rotation.ok) throw new OAuthError(rotation.error ?? "invalid_grant", rotation.error ? echo(rotation.reason) : rotation.reason);
  const scope = asked ?? rotation.grant.scope.split(" ");
  return { sub: rotation.grant.sub, scope, familyId, refreshToken: rotation.refreshToken, accessId, ...(rotation.grant.authTime !== undefined ? { authTime: rotation.grant.authTime } : {}) };
}

async function deviceCode(c: Ctx, form: URLSearchParams, client: AuthenticatedClient): Promise<Grant> {
  const code = required(form, "device_code");
  const address = await openName(c.env, code.split(".")[0] ?? "");
  if (!address || !TEL_URI.test(address)) throw new OAuthError("invalid_grant", "unknown device_code");
  const poll = await subscriberStub(c.env, address).pollDeviceGrant(code, client.clientId);
  if (!poll.ok) throw new OAuthError(poll.error, poll.description);
  return { sub: poll.sub, scope: poll.scope.split(" "), twinId: poll.twinId };
}

/**
 * HLF-SD-009 through RFC 8693: a twinned secondary presents its relationship-bound token and gets
 * one whose subject is the primary, with itself as the actor. It lives as long as the relationship.
 */
async function tokenExchange(c: Ctx, form: URLSearchParams, client: AuthenticatedClient, issuer: string): Promise<Grant> {
  const subjectToken = required(form, "subject_token");
  if (required(form, "subject_token_type") !== ACCESS_TOKEN_TYPE) throw new OAuthError("invalid_request", "subject_token_type must be an access token");
  const requestedType = form.get("requested_token_type");
  if (requestedType && requestedType !== ACCESS_TOKEN_TYPE) throw new OAuthError("invalid_request", "only access tokens are issued");
  const audience = form.get("audience");
  const foreign = audience !== null && audience !== issuer;
  const scope = foreign ? grantedScopes(client, form.get("scope") ?? "twinning:delegated") : grantedScopes(client, form.get("scope") ?? "twinning:delegated", ["twinning:delegated"]);
  let claims;
  try {
    claims = await verifyAccessToken(c.env, issuer, subjectToken);
  } catch (err) {
    if (err instanceof InvalidTokenError) throw new OAuthError("invalid_grant", `subject_token: ${err.message}`);
    throw err;
  }
  if (foreign) return { sub: claims.sub, scope, exchanged: await exchangeForForeignAudience(c, claims, audience, scope, client) };
  if (!TEL_URI.test(claims.sub) || !claims.twin_id) throw new OAuthError("invalid_grant", "subject_token is not a twinned secondary's relationship token");
  const delegation = await subscriberStub(c.env, claims.sub).delegation(tokenRef(claims));
  if (!delegation) throw new OAuthError("invalid_grant", "the twinning relationship of subject_token has ended");
  // A primary served by a peer operator ("peer:<mcc>-<mnc>:tel:+..."): only its own issuer can speak for it.
  if (!TEL_URI.test(delegation.primary)) throw new OAuthError("invalid_target", "the primary is served by another operator: ask with audience = its issuer");
  return { sub: delegation.primary, scope, twinId: delegation.twinId, act: { sub: claims.sub } };
}

/** RFC 8693 toward another issuer: the registered hook (hooks.ts) answers, or nobody serves that audience. */
async function exchangeForForeignAudience(c: Ctx, subject: AccessTokenClaims, audience: string, scope: string[], client: AuthenticatedClient): Promise<ExchangedToken> {
  if (!(await isAccessTokenLive(c.env, subject))) throw new OAuthError("invalid_grant", "subject_token was revoked or its relationship has ended");
  const handler = oauthHooks().exchangeForForeignAudience;
  const answer = handler ? await handler({ subject, audience, scope, client, env: c.env }) : null;
  if (!answer) throw new OAuthError("invalid_target", `no token can be obtained here for the audience ${echo(audience)}`);
  return answer;
}

const GRANTS: Record<string, (c: Ctx, form: URLSearchParams, client: AuthenticatedClient, issuer: string) => Promise<Grant>> = {
  [GRANT.jwtBearer]: jwtBearer,
  [GRANT.clientCredentials]: clientCredentials,
  [GRANT.authorizationCode]: authorizationCode,
  [GRANT.refreshToken]: refreshToken,
  [GRANT.deviceCode]: deviceCode,
  [GRANT.tokenExchange]: tokenExchange,
};

export async function tokenEndpoint(c: Ctx): Promise<Response> {
  const form = await readForm(c);
  const issuer = issuerOf(c.env, c.req.url);
  const grantType = form.get("grant_type");
  const client = await authenticateClient(c, form, [`${issuer}/oauth/token`, issuer]);
  await enforceOAuthRateLimit(clientRequests(c.env), client.clientId);
  if (!grantType) throw new OAuthError("invalid_request", "grant_type missing");
  const grantFn = GRANTS[grantType];
  if (!grantFn) throw new OAuthError("unsupported_grant_type", `grant_type ${echo(grantType)} is not supported`);
  if (!client.grantTypes.includes(grantType)) throw new OAuthError("unauthorized_client", `client is not registered for ${grantType}`);
  if (!client.confidential && !PUBLIC_CLIENT_GRANTS.includes(grantType)) throw new OAuthError("unauthorized_client", `${grantType} needs client authentication`);

  const grant = await grantFn(c, form, client, issuer);
  if (grant.exchanged) return c.json(grant.exchanged, 200, NO_STORE);
  const scope = grant.scope.join(" ");
  const accessId = grant.accessId ?? newAccessTokenId(c.env);
  let refresh = grant.refreshToken;
  if (grant.startFamily) {
    refresh = await c.env.TOKEN_FAMILIES.getByName(grant.startFamily).start(grant.startFamily, { clientId: client.clientId, sub: grant.sub, scope, ...(grant.authTime !== undefined ? { authTime: grant.authTime } : {}) }, accessId);
    if (!refresh) throw new OAuthError("invalid_grant", "authorization code was already used");
  }
  const [access] = await Promise.all([
    issueAccessToken(
      c.env,
      issuer,
      { sub: grant.sub, client_id: client.clientId, scope, ...(grant.authTime !== undefined ? { auth_time: grant.authTime } : {}), ...(grant.twinId ? { twin_id: grant.twinId } : {}), ...(grant.act ? { act: grant.act } : {}) },
      accessId,
    ),
    // The subscriber's grants, for the operator (GET /admin/v1/subscribers/{address}/tokens).
    grant.startFamily ? listed(c.env, `token-families:${grant.sub}`, grant.startFamily, { clientId: client.clientId }) : undefined,
  ]);
  const body: Record<string, unknown> = { access_token: access.token, token_type: "Bearer", expires_in: access.expiresIn, scope };
  if (grantType === GRANT.tokenExchange) body.issued_token_type = ACCESS_TOKEN_TYPE;
  if (refresh) body.refresh_token = refresh;
  return c.json(body, 200, NO_STORE);
}
