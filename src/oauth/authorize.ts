// The authorization endpoint (RFC 6749 §4.1) with its consent page. PKCE S256 is required
// (RFC 7636, RFC 9700 §2.1.1); redirect URIs match exactly; the subscriber is identified by the
// network (subscriber-identity.ts), never by a password typed into the page.
//
// GET shows the page. The page carries the validated request as a short-lived "consent ticket"
// signed with the gateway's key, so the POST that approves or denies needs no server-side session,
// and each ticket yields at most one code.
import { z } from "@hono/zod-openapi";
import { SignJWT, jwtVerify } from "jose";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { escapeHtml } from "../http/html";
import type { RegisteredClient } from "./client-object";
import { grantedScopes, registeredClient } from "./client-auth";
import { OAuthError, readForm } from "./errors";
import { identifySubscriber } from "./subscriber-identity";
import { GRANT } from "./token-endpoint";
import { issuerOf, keyFor, SCOPES, isScope, signingKey } from "./tokens";

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
}

const PAGE_HEADERS = {
  "Cache-Control": "no-store",
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
};

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{font-size:1.3rem}.scopes li{margin:.4rem 0}.who{color:#555}
.actions{display:flex;gap:1rem;margin-top:1.5rem}
button{flex:1;font-size:1rem;padding:.7rem;border-radius:6px;border:1px solid #888;background:#fff;cursor:pointer}
button.approve{background:#1f5fbf;color:#fff;border-color:#1f5fbf}
</style></head><body>${body}</body></html>`;
}

/** A problem with client_id or redirect_uri: shown to the user, never redirected (RFC 6749 §4.1.2.1). */
function errorPage(c: Ctx, status: 400 | 403, message: string): Response {
  return c.html(page("Authorization failed", `<h1>This request cannot be authorised</h1><p id="error">${escapeHtml(message)}</p>`), status, PAGE_HEADERS);
}

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

/** What each scope lets the application do, in the subscriber's words rather than the developer's. */
const CONSENT_TEXT: Record<string, string> = {
  "twinning:primary": "Twin watches, cars and other devices with your line, list them, switch them on or off, and remove them.",
  "twinning:secondary": "Twin this device with your phone's line, see its twinning status, switch it on or off, and end it.",
};

function consentPage(client: RegisteredClient, ticket: string, subscriber: string, scopes: string[]): string {
  const items = scopes
    .map((s) => `<li><strong>${escapeHtml(s)}</strong>: ${escapeHtml(CONSENT_TEXT[s] ?? (isScope(s) ? SCOPES[s] : s))}</li>`)
    .join("");
  return page(
    `Authorise ${client.name}`,
    `<h1><span id="client-name">${escapeHtml(client.name)}</span> asks for access</h1>
<p class="who">For your line <span id="subscriber">${escapeHtml(subscriber)}</span>, the application asks to:</p>
<ul class="scopes" id="scopes">${items}</ul>
<form method="post" action="/oauth/authorize">
  <input type="hidden" name="consent" value="${escapeHtml(ticket)}">
  <div class="actions">
    <button type="submit" name="decision" value="deny" id="deny">Deny</button>
    <button type="submit" name="decision" value="approve" id="approve" class="approve">Allow</button>
  </div>
</form>`,
  );
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
  const issuer = issuerOf(c.env, c.req.url);
  const who = await identifySubscriber(c, client.clientId, q.login_hint_token, [`${issuer}/oauth/authorize`, issuer]);
  if ("problem" in who) return fail("access_denied", who.problem);

  const ticket = await signTicket(c, {
    client_id: client.clientId,
    redirect_uri: redirectUri,
    scope: scopes.join(" "),
    ...(q.state !== undefined ? { state: q.state } : {}),
    code_challenge: q.code_challenge!,
    sub: who.subscriber,
    jti: crypto.randomUUID(),
  });
  return c.html(consentPage(client, ticket, who.subscriber, scopes), 200, PAGE_HEADERS);
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
  if (decision === "deny") return redirectTo(c, ticket.redirect_uri, { error: "access_denied", error_description: "the subscriber denied the request", state: ticket.state });
  if (decision !== "approve") return errorPage(c, 400, "No decision was made.");
  const code = await c.env.OAUTH_CLIENTS.getByName(ticket.client_id).createAuthCode({
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
    "with `code`, `state` and `iss` (RFC 9207); denying with `error=access_denied`.",
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
