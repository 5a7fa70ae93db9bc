// The authorization endpoint (RFC 6749 §4.1) with its consent page. PKCE S256 is required
// (RFC 7636, RFC 9700 §2.1.1); redirect URIs match exactly; the subscriber is identified by the
// network (subscriber-identity.ts), never by a password typed into the page.
//
// GET shows the page (consent-page.ts). The page carries the validated request as a short-lived
// "consent ticket" signed with the gateway's key, so the POST that approves or denies needs no
// server-side session, and each ticket yields at most one code.
//
// Reloading the page: its URL carries a one-time device-key assertion (login_hint_token), so the
// same GET cannot be identified twice. The first GET hands the browser its ticket in a cookie bound
// to that assertion (its SHA-256, `ah`); a reload that brings the cookie back with the same
// assertion and the same request is shown the same page again. Without the cookie (another
// browser, a replay by someone else) the used assertion is refused, as before.
import { z } from "@hono/zod-openapi";
import { SignJWT, jwtVerify } from "jose";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { config } from "../config";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { base64url, sha256 } from "../http/crypto";
import type { RegisteredClient } from "./client-object";
import { grantedScopes, registeredClient } from "./client-auth";
import { consentPage, errorPage as renderError, pageHeaders, type Operator } from "./consent-page";
import { OAuthError, readForm } from "./errors";
import { identifySubscriber } from "./subscriber-identity";
import { GRANT } from "./token-endpoint";
import { issuerOf, keyFor, signingKey } from "./tokens";

type Ctx = Context<AppEnv>;
export const authorizeRoutes = router();

const CONSENT_TICKET_TTL_S = 600;
const CODE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

interface ConsentTicket {
  client_id: string;
  redirect_uri: string;
  scope: string;
  state?: string;
  code_challenge: string;
  sub: string;
  jti: string;
  /** SHA-256 (base64url) of the login_hint_token the subscriber was identified by, if any. */
  ah?: string;
}

function operatorOf(c: Ctx): Operator {
  const { OPERATOR_NAME, OPERATOR_LOGO_URL } = config(c.env);
  return { name: OPERATOR_NAME, ...(OPERATOR_LOGO_URL ? { logoUrl: OPERATOR_LOGO_URL } : {}) };
}

/** A problem with client_id or redirect_uri: shown to the user, never redirected (RFC 6749 §4.1.2.1). */
function errorPage(c: Ctx, status: 400 | 403, message: string): Response {
  const operator = operatorOf(c);
  return c.html(renderError(operator, message), status, pageHeaders([operator.logoUrl]));
}

const cookieName = (ah: string) => `consent_${ah.slice(0, 22)}`;

function redirectTo(c: Ctx, redirectUri: string, params: Record<string, string | undefined>): Response {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  url.searchParams.set("iss", issuerOf(c.env, c.req.url)); // RFC 9207
  return c.redirect(url.toString(), c.req.method === "POST" ? 303 : 302);
}

async function signTicket(c: Ctx, ticket: ConsentTicket): Promise<string> {
  const { key, kid } = await signingKey(c.env);
  const issuer = issuerOf(c.env, c.req.url);
  return new SignJWT({ ...ticket })
    .setProtectedHeader({ alg: "ES256", typ: "consent+jwt", kid })
    .setIssuer(issuer)
    .setAudience(`${issuer}/oauth/authorize`)
    .setIssuedAt()
    .setExpirationTime(`${CONSENT_TICKET_TTL_S}s`)
    .sign(key);
}

async function readTicket(c: Ctx, ticket: string): Promise<ConsentTicket | undefined> {
  const issuer = issuerOf(c.env, c.req.url);
  try {
    const { payload } = await jwtVerify(ticket, (header) => keyFor(c.env, header.kid), {
      algorithms: ["ES256"],
      typ: "consent+jwt",
      issuer,
      audience: `${issuer}/oauth/authorize`,
    });
    return payload as unknown as ConsentTicket;
  } catch {
    return undefined;
  }
}

function showPage(c: Ctx, client: RegisteredClient, ticketJwt: string, ticket: ConsentTicket): Response {
  const operator = operatorOf(c);
  if (ticket.ah) {
    setCookie(c, cookieName(ticket.ah), ticketJwt, {
      path: "/oauth/authorize",
      httpOnly: true,
      sameSite: "Lax",
      secure: new URL(c.req.url).protocol === "https:",
      maxAge: CONSENT_TICKET_TTL_S,
    });
  }
  const html = consentPage(operator, client, ticketJwt, ticket.sub, ticket.scope.split(" "));
  return c.html(html, 200, pageHeaders([operator.logoUrl, client.about?.logo_uri]));
}

/** The ticket this browser was given for this very request (a reload), if it brought it back. */
async function reloadedTicket(c: Ctx, ah: string, expected: Omit<ConsentTicket, "sub" | "jti" | "ah">): Promise<{ jwt: string; ticket: ConsentTicket } | undefined> {
  const jwt = getCookie(c, cookieName(ah));
  const ticket = jwt ? await readTicket(c, jwt) : undefined;
  if (!jwt || !ticket || ticket.ah !== ah) return undefined;
  const same = ticket.client_id === expected.client_id && ticket.redirect_uri === expected.redirect_uri && ticket.scope === expected.scope &&
    ticket.state === expected.state && ticket.code_challenge === expected.code_challenge;
  return same ? { jwt, ticket } : undefined;
}

async function showConsent(c: Ctx): Promise<Response> {
  const q = c.req.query();
  const clientId = q.client_id ?? "";
  const client = await (await registeredClient(c.env, clientId))?.info();
  if (!client) return errorPage(c, 400, "Unknown application (client_id).");
  const redirectUri = q.redirect_uri ?? (client.redirectUris.length === 1 ? client.redirectUris[0] : undefined);
  if (!redirectUri || !client.redirectUris.includes(redirectUri)) return errorPage(c, 400, "The redirect_uri is not one registered for this application.");

  const fail = (error: string, description: string) => redirectTo(c, redirectUri, { error, error_description: description, state: q.state });
  if (!client.grantTypes.includes(GRANT.authorizationCode)) return fail("unauthorized_client", "client is not registered for authorization_code");
  if (q.response_type !== "code") return fail("unsupported_response_type", "response_type must be code");
  if (q.code_challenge_method !== "S256" || !CODE_CHALLENGE.test(q.code_challenge ?? "")) {
    return fail("invalid_request", "PKCE with code_challenge_method S256 is required");
  }
  let scopes: string[];
  try {
    scopes = grantedScopes(client, q.scope ?? null, ["twinning:primary", "twinning:secondary"]);
  } catch (err) {
    if (err instanceof OAuthError) return fail(err.code, err.description);
    throw err;
  }
  const request = {
    client_id: client.clientId,
    redirect_uri: redirectUri,
    scope: scopes.join(" "),
    ...(q.state !== undefined ? { state: q.state } : {}),
    code_challenge: q.code_challenge!,
  };
  const ah = q.login_hint_token ? base64url(await sha256(q.login_hint_token)) : undefined;
  if (ah) {
    const reloaded = await reloadedTicket(c, ah, request);
    if (reloaded) return showPage(c, client, reloaded.jwt, reloaded.ticket);
  }
  const issuer = issuerOf(c.env, c.req.url);
  const who = await identifySubscriber(c, client.clientId, q.login_hint_token, [`${issuer}/oauth/authorize`, issuer]);
  if ("problem" in who) return fail("access_denied", who.problem);

  const ticket: ConsentTicket = { ...request, sub: who.subscriber, jti: crypto.randomUUID(), ...(ah ? { ah } : {}) };
  return showPage(c, client, await signTicket(c, ticket), ticket);
}

async function decide(c: Ctx): Promise<Response> {
  let form: URLSearchParams;
  try {
    form = await readForm(c);
  } catch {
    return errorPage(c, 400, "The consent form was not submitted correctly.");
  }
  const ticket = await readTicket(c, form.get("consent") ?? "");
  if (!ticket) return errorPage(c, 400, "This consent page has expired or was altered. Start again from the application.");
  const decision = form.get("decision");
  // Decided: the page is done with; a reload now starts again from the application.
  if (ticket.ah && (decision === "deny" || decision === "not-me" || decision === "approve")) deleteCookie(c, cookieName(ticket.ah), { path: "/oauth/authorize" });
  if (decision === "deny") return redirectTo(c, ticket.redirect_uri, { error: "access_denied", error_description: "the subscriber denied the request", state: ticket.state });
  if (decision === "not-me") {
    return redirectTo(c, ticket.redirect_uri, { error: "access_denied", error_description: "the subscriber did not recognise the line the request came from", state: ticket.state });
  }
  if (decision !== "approve") return errorPage(c, 400, "No decision was made.");
  const code = await (await registeredClient(c.env, ticket.client_id))?.createAuthCode({
    sub: ticket.sub,
    scope: ticket.scope,
    redirectUri: ticket.redirect_uri,
    codeChallenge: ticket.code_challenge,
    consentId: ticket.jti,
  });
  if (!code) return errorPage(c, 400, "This consent was already given. Start again from the application.");
  return redirectTo(c, ticket.redirect_uri, { code, state: ticket.state });
}

authorizeRoutes.get("/oauth/authorize", showConsent);
authorizeRoutes.post("/oauth/authorize", decide);
authorizeRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/oauth/authorize",
  summary: "Authorization endpoint (RFC 6749 §4.1): the subscriber's consent page",
  description:
    "response_type=code with PKCE (code_challenge_method=S256 required). The subscriber is identified by the network: `login_hint_token` is a device-key JWT " +
    "(iss = client_id, sub = tel: URI, aud = this URL), or the operator's edge sets the trusted header. Approving redirects to the exact registered redirect_uri " +
    "with `code`, `state` and `iss` (RFC 9207); denying with `error=access_denied`. The page names the operator (OPERATOR_NAME, OPERATOR_LOGO_URL), " +
    "the application with its publisher and links (client registration), and each scope in words. Reloading it in the same browser shows it again " +
    "(a cookie bound to the one-time login_hint_token); anywhere else a used login_hint_token is refused.",
  tags: ["OAuth"],
  request: {
    query: z.object({
      response_type: z.literal("code"),
      client_id: z.string(),
      redirect_uri: z.string().optional(),
      scope: z.string().optional(),
      state: z.string().optional(),
      code_challenge: z.string(),
      code_challenge_method: z.literal("S256"),
      login_hint_token: z.string().optional(),
    }),
  },
  responses: {
    200: { description: "The consent page (HTML) naming the application and each scope, with Allow and Deny", content: { "text/html": { schema: z.string() } } },
    302: { description: "An error redirect to the client (error, error_description, state, iss)" },
    400: { description: "Unknown client or redirect_uri not registered (shown, not redirected)", content: { "text/html": { schema: z.string() } } },
  },
});
authorizeRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/oauth/authorize",
  summary: "The subscriber's decision on the consent page",
  description:
    "Posted by the consent page's form: `consent` is the page's signed ticket (10 minutes, one code at most), `decision` is `approve`, `deny`, or `not-me` " +
    "(the subscriber does not recognise the line). Approving redirects (303) to the registered redirect_uri with `code`, `state` and `iss`; deny and not-me with `error=access_denied`.",
  tags: ["OAuth"],
  request: {
    body: {
      required: true,
      content: { "application/x-www-form-urlencoded": { schema: z.object({ consent: z.string(), decision: z.enum(["approve", "deny", "not-me"]) }) } },
    },
  },
  responses: {
    303: { description: "Back to the application: code and state, or error=access_denied" },
    400: { description: "An expired or altered page, a consent already given, or no decision (shown, not redirected)", content: { "text/html": { schema: z.string() } } },
  },
});
