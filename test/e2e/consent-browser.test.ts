// The consent page of /oauth/authorize in a real browser (Debian's chromium through
// playwright-core): open it, read what it names, press Allow or Deny, land on the client's
// redirect URI. The gateway runs under `wrangler dev`; the client's redirect target is a tiny
// HTTP server of the test's own on loopback.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startDevServer, type DevServer } from "./dev-server";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };
const b64url = (b: Buffer) => b.toString("base64url");
const OPERATOR_LOGO = `data:image/svg+xml;base64,${Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="32"><rect width="64" height="32" fill="#c00"/></svg>').toString("base64")}`;

// CI installs chromium (.ci/run); a developer machine without it skips rather than fails.
describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("Consent page in headless Chromium", () => {
  let server: DevServer;
  let persist: string;
  let browser: Browser;
  let callback: Server;
  let redirectUri: string;
  const callbacks: URL[] = [];
  let client: { client_id: string; client_secret: string };
  const subscriber = { address: `tel:+1555${Date.now() % 10_000_000}`.slice(0, 16), key: randomBytes(32) };

  beforeAll(async () => {
    persist = await mkdtemp(join(tmpdir(), "oma-edge-consent-"));
    // The operator's branding as an operator would configure it (a data: logo: the test has no network).
    server = await startDevServer({ persistTo: persist, args: ["--var", `OPERATOR_NAME:Example Mobile`, "--var", `OPERATOR_LOGO_URL:${OPERATOR_LOGO}`] });
    const port = await freePort();
    redirectUri = `http://127.0.0.1:${port}/callback`;
    callback = createServer((req, res) => {
      callbacks.push(new URL(req.url ?? "/", redirectUri));
      res.writeHead(200, { "Content-Type": "text/html" }).end("<title>Back in the app</title><p>done</p>");
    });
    await new Promise<void>((r) => callback.listen(port, "127.0.0.1", r));
    const put = await fetch(`${server.url}/admin/v1/subscribers/${encodeURIComponent(subscriber.address)}`, {
      method: "PUT", headers: ADMIN, body: JSON.stringify({ mno: { mcc: "001", mnc: "01" }, deviceKey: b64url(subscriber.key) }),
    });
    expect(put.status).toBe(201);
    const reg = await fetch(`${server.url}/admin/v1/clients`, {
      method: "POST", headers: ADMIN, body: JSON.stringify({
        name: "Acme Messages", scopes: ["twinning:primary", "twinning:secondary"], redirect_uris: [redirectUri],
        publisher: "Acme Messaging Inc.", client_uri: "https://acme.example/", policy_uri: "https://acme.example/privacy", tos_uri: "https://acme.example/terms",
      }),
    });
    client = (await reg.json()) as typeof client;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => callback?.close(r));
    await server?.stop();
    if (persist) await rm(persist, { recursive: true, force: true });
  });

  async function authorizeUrl(state: string, verifier: string) {
    const loginHint = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(subscriber.address)
      .setAudience(`${server.url}/oauth/authorize`).setIssuedAt().setExpirationTime("2m").setJti(randomUUID())
      .sign(subscriber.key);
    const q = new URLSearchParams({
      response_type: "code", client_id: client.client_id, redirect_uri: redirectUri, scope: "twinning:primary", state,
      code_challenge: b64url(createHash("sha256").update(verifier).digest()), code_challenge_method: "S256", login_hint_token: loginHint,
    });
    return `${server.url}/oauth/authorize?${q}`;
  }

  it("shows the application and each scope; Allow lands on the redirect URI with a code that redeems with the PKCE verifier", async () => {
    const state = randomUUID();
    const verifier = b64url(randomBytes(32));
    const page = await browser.newPage();
    await page.goto(await authorizeUrl(state, verifier));
    expect(await page.textContent("#client-name")).toBe("Acme Messages");
    expect(await page.textContent("#subscriber")).toBe(subscriber.address);
    expect(await page.textContent("#scopes")).toContain("twinning:primary");
    await page.screenshot({ path: join(tmpdir(), "oma-edge-consent.png") });
    await Promise.all([page.waitForURL((u) => u.pathname === "/callback"), page.click("#approve")]);
    const landed = new URL(page.url());
    expect(landed.searchParams.get("state")).toBe(state);
    expect(landed.searchParams.get("iss")).toBe(server.url);
    const code = landed.searchParams.get("code");
    expect(code).toBeTruthy();
    await page.close();

    const token = await fetch(`${server.url}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "authorization_code", code: code!, redirect_uri: redirectUri, code_verifier: verifier }),
    });
    expect(token.status).toBe(200);
    const body = (await token.json()) as { access_token: string; refresh_token: string; scope: string };
    expect(body.scope).toBe("twinning:primary");
    const twins = await fetch(`${server.url}/twinning/v1/acr:Authorization/twins`, { headers: { Authorization: `Bearer ${body.access_token}` } });
    expect(twins.status).toBe(200);
  });

  it("Deny lands on the redirect URI with error=access_denied and the state, and no code", async () => {
    const state = randomUUID();
    const page = await browser.newPage();
    await page.goto(await authorizeUrl(state, b64url(randomBytes(32))));
    await Promise.all([page.waitForURL((u) => u.pathname === "/callback"), page.click("#deny")]);
    const landed = new URL(page.url());
    expect(landed.searchParams.get("error")).toBe("access_denied");
    expect(landed.searchParams.get("state")).toBe(state);
    expect(landed.searchParams.get("code")).toBeNull();
    await page.close();
  });

  it("names the operator (name and logo), the publisher and its links, each scope in words with its id; a reload shows the same page and Allow still works", async () => {
    const state = randomUUID();
    const verifier = b64url(randomBytes(32));
    const page = await browser.newPage();
    await page.goto(await authorizeUrl(state, verifier));
    const check = async () => {
      expect(await page.textContent("#operator-name")).toBe("Example Mobile");
      expect(await page.$eval("#operator-logo", (img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(64);
      expect(await page.textContent("#publisher")).toBe("Acme Messaging Inc.");
      expect(await page.getAttribute("#policy-uri", "href")).toBe("https://acme.example/privacy");
      expect(await page.getAttribute("#tos-uri", "href")).toBe("https://acme.example/terms");
      expect(await page.getAttribute("#client-uri", "href")).toBe("https://acme.example/");
      expect(await page.textContent("#scopes .what")).toMatch(/^Twin watches, cars and other devices with your line/);
      expect(await page.textContent("#scopes .scope-id")).toBe("twinning:primary");
    };
    await check();
    await page.screenshot({ path: join(tmpdir(), "oma-edge-consent-branded.png"), fullPage: true });
    const reloaded = await page.reload();
    expect(reloaded?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe("/oauth/authorize");
    await check();
    await Promise.all([page.waitForURL((u) => u.pathname === "/callback"), page.click("#approve")]);
    const landed = new URL(page.url());
    expect(landed.searchParams.get("state")).toBe(state);
    expect(landed.searchParams.get("code")).toBeTruthy();
    await page.close();
  });

  it("Not you? explains, and declining as not-my-line lands on the redirect URI with access_denied", async () => {
    const state = randomUUID();
    const page = await browser.newPage();
    await page.goto(await authorizeUrl(state, b64url(randomBytes(32))));
    expect(await page.isVisible("#not-me")).toBe(false);
    await page.click("#not-you summary");
    expect(await page.textContent("#not-you")).toContain(subscriber.address);
    await Promise.all([page.waitForURL((u) => u.pathname === "/callback"), page.click("#not-me")]);
    const landed = new URL(page.url());
    expect(landed.searchParams.get("error")).toBe("access_denied");
    expect(landed.searchParams.get("error_description")).toBe("the subscriber did not recognise the line the request came from");
    expect(landed.searchParams.get("state")).toBe(state);
    await page.close();
  });
});
