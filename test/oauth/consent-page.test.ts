// The consent page as a subscriber would trust it (issue 18): operator name, the application's
// publisher and links from its registration, scopes in words with their ids secondary, "not you?",
// and a reload that shows the page again instead of failing.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ORIGIN, provision } from "../helpers";
import { authorizeUrl, REDIRECT, registerWebApp } from "./flows";

const about = {
  publisher: "Acme Wearables Ltd",
  client_uri: "https://acme.example/",
  logo_uri: "https://cdn.acme.example/logo.png",
  policy_uri: "https://acme.example/privacy",
  tos_uri: "https://acme.example/terms",
};

async function open(url: URL, cookie?: string) {
  const res = await SELF.fetch(url, { redirect: "manual", headers: cookie ? { Cookie: cookie } : {} });
  return { res, html: await res.text() };
}
const cookieOf = (res: Response) => res.headers.get("set-cookie")?.split(";")[0];
const decide = (ticket: string, decision: string, cookie?: string) =>
  SELF.fetch(`${ORIGIN}/oauth/authorize`, {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...(cookie ? { Cookie: cookie } : {}) },
    body: new URLSearchParams({ consent: ticket, decision }).toString(),
  });
const ticketOf = (html: string) => html.match(/name="consent" value="([^"]+)"/)?.[1];

describe("The consent page names who asks, for what, in words", () => {
  it("operator name, the application's name, logo, publisher and links, each scope in words with its id secondary", async () => {
    const client = await registerWebApp({ name: "Acme Watch", scopes: ["twinning:primary"], ...about });
    const sub = await provision();
    const { res, html } = await open((await authorizeUrl(client, sub)).url);
    expect(res.status).toBe(200);
    expect(html).toContain('<span id="operator-name">Example Mobile</span>');
    expect(html).toContain('<span id="client-name">Acme Watch</span>');
    expect(html).toContain('by <span id="publisher">Acme Wearables Ltd</span>');
    expect(html).toContain('<img id="client-logo" src="https://cdn.acme.example/logo.png"');
    for (const [id, href] of [["client-uri", about.client_uri], ["policy-uri", about.policy_uri], ["tos-uri", about.tos_uri]]) {
      expect(html).toContain(`<a id="${id}" href="${href}" target="_blank" rel="noopener noreferrer">`);
    }
    expect(html).toContain('<span class="what">Twin watches, cars and other devices with your line, list them, switch them on or off, and remove them.</span><code class="scope-id">twinning:primary</code>');
    expect(html).toContain(`<strong id="subscriber">${sub.address}</strong>`);
    expect(html).toContain('id="not-you"');
    // Images only from the logo's origin; no script at all.
    expect(res.headers.get("content-security-policy")).toContain("img-src https://cdn.acme.example;");
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("an application registered without a publisher says so instead of inventing one; bad registration URLs are refused", async () => {
    const client = await registerWebApp();
    const { html } = await open((await authorizeUrl(client, await provision())).url);
    expect(html).toContain('id="publisher-unknown"');
    const bad = await SELF.fetch(`${ORIGIN}/admin/v1/clients`, {
      method: "POST",
      headers: { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" },
      body: JSON.stringify({ name: "X", scopes: ["twinning:primary"], redirect_uris: [REDIRECT], logo_uri: "javascript:alert(1)" }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).requestError.serviceException.variables[0]).toBe("logo_uri");
  });
});

describe("Reloading the consent page", () => {
  it("a reload in the same browser shows the same page again, and Allow still works once", async () => {
    const client = await registerWebApp();
    const { url } = await authorizeUrl(client, await provision());
    const first = await open(url);
    const cookie = cookieOf(first.res);
    expect(cookie).toMatch(/^consent_/);
    expect(first.res.headers.get("set-cookie")).toMatch(/HttpOnly/i);
    expect(first.res.headers.get("set-cookie")).toMatch(/Path=\/oauth\/authorize/);
    const reload = await open(url, cookie);
    expect(reload.res.status).toBe(200);
    expect(ticketOf(reload.html)).toBe(ticketOf(first.html));
    const approved = await decide(ticketOf(reload.html)!, "approve", cookie);
    expect(approved.status).toBe(303);
    expect(new URL(approved.headers.get("location")!).searchParams.get("code")).toBeTruthy();
    expect(approved.headers.get("set-cookie")).toMatch(/^consent_[^=]+=;.*Max-Age=0/);
  });

  it("without the cookie (another browser, a replay) the used assertion is still refused; a cookie for another request does not help", async () => {
    const client = await registerWebApp();
    const sub = await provision();
    const { url } = await authorizeUrl(client, sub);
    const first = await open(url);
    const replay = await open(url);
    expect(replay.res.status).toBe(302);
    expect(new URL(replay.res.headers.get("location")!).searchParams.get("error")).toBe("access_denied");
    // The same cookie with the request altered (another state): refused, not re-shown.
    const altered = new URL(url);
    altered.searchParams.set("state", "other");
    const tampered = await open(altered, cookieOf(first.res));
    expect(tampered.res.status).toBe(302);
  });
});

describe("Not you?", () => {
  it("declining as not-my-line returns access_denied to the application, saying so, and issues no code", async () => {
    const client = await registerWebApp();
    const first = await open((await authorizeUrl(client, await provision())).url);
    const res = await decide(ticketOf(first.html)!, "not-me");
    expect(res.status).toBe(303);
    const location = new URL(res.headers.get("location")!);
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("error_description")).toBe("the subscriber did not recognise the line the request came from");
    expect(location.searchParams.get("state")).toBe("s1");
    expect(location.searchParams.get("code")).toBeNull();
  });
});
