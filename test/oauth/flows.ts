// The authorization-code flow driven with plain HTTP, for tests that need a refresh token.
import { SELF } from "cloudflare:test";
import { SignJWT } from "jose";
import { expect } from "vitest";
import { ADMIN, basic, call, ORIGIN, provision, type Client, type Subscriber } from "../helpers";

export const REDIRECT = "https://app.example.com/callback";

export async function registerWebApp(extra: Record<string, unknown> = {}): Promise<Client> {
  const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Web app", scopes: ["twinning:primary"], redirect_uris: [REDIRECT], ...extra } });
  expect(res.status, res.text).toBe(201);
  return res.json;
}

/** A device-key assertion for a non-token endpoint (login_hint_token, device authorization). */
export const subscriberAssertion = (sub: Subscriber, clientId: string, aud: string) =>
  new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(clientId).setSubject(sub.address).setAudience(aud).setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID()).sign(sub.key);

async function challenge(verifier: string) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  return btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The consent page's URL for `sub` (with a fresh login_hint_token) and the PKCE verifier. */
export async function authorizeUrl(client: Client, sub: Subscriber, extra: Record<string, string> = {}) {
  const verifier = "v".repeat(11) + crypto.randomUUID().replace(/-/g, "");
  const url = new URL(`${ORIGIN}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: client.client_id,
    redirect_uri: REDIRECT,
    scope: "twinning:primary",
    state: "s1",
    code_challenge: await challenge(verifier),
    code_challenge_method: "S256",
    login_hint_token: await subscriberAssertion(sub, client.client_id, `${ORIGIN}/oauth/authorize`),
    ...extra,
  }).toString();
  return { url, verifier };
}

/** Opens the consent page, approves, redeems the code: the first access and refresh tokens. */
export async function codeGrant(client: Client, sub?: Subscriber) {
  const { url, verifier } = await authorizeUrl(client, sub ?? (await provision()));
  const html = await (await SELF.fetch(url, { redirect: "manual" })).text();
  const ticket = html.match(/name="consent" value="([^"]+)"/)?.[1];
  expect(ticket, html).toBeTruthy();
  const approved = await SELF.fetch(`${ORIGIN}/oauth/authorize`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ consent: ticket!, decision: "approve" }).toString(),
  });
  const code = new URL(approved.headers.get("location")!).searchParams.get("code")!;
  const res = await tokenRequest(client, { grant_type: "authorization_code", code, redirect_uri: REDIRECT, code_verifier: verifier });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  return res.json as { access_token: string; refresh_token: string };
}

export async function tokenRequest(client: Client, form: Record<string, string>) {
  const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
    method: "POST",
    headers: { Authorization: basic(client), "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

export async function introspect(client: Client, token: string) {
  const res = await SELF.fetch(`${ORIGIN}/oauth/introspect`, {
    method: "POST",
    headers: { Authorization: basic(client), "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token }).toString(),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { active: boolean; [k: string]: unknown };
}
