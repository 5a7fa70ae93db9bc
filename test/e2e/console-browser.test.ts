// Issue 18, "An operator console": /console in headless Chromium (Debian's chromium through
// playwright-core) against `wrangler dev`, at desktop (1280 px) and phone (390 px) widths: sign in with
// the admin token, find a subscriber and end its twin, register a client and rotate its secret, see a
// device and queue a DM job for it, follow a campaign and pause, resume and cancel it, read the audit log. What the page did is checked through the API.
// Screenshots go to CONSOLE_SCREENS when set (`CONSOLE_SCREENS=docs/screens npx vitest run --project e2e
// test/e2e/console-browser.test.ts` refreshes the README's), else to a temporary directory.
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SignJWT } from "jose";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, startDevServer, type DevServer } from "./dev-server";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN_TOKEN = "dev-admin-token";
const ADMIN = { Authorization: `Bearer ${ADMIN_TOKEN}`, "Content-Type": "application/json" };

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("Operator console in headless Chromium", () => {
  let server: DevServer;
  let dir: string;
  let screens: string;
  let browser: Browser;
  const stem = `tel:+1666${String(Date.now() % 1_000_000).padStart(6, "0")}`;
  const primary = { address: `${stem}01`, key: randomBytes(32) };
  const secondary = { address: `${stem}02`, key: randomBytes(32) };
  const devId = `IMEI:66${String(Date.now() % 1e10).padStart(10, "0")}`;
  let app: { client_id: string; client_secret: string };

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as any) : undefined };
  };
  const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64")}`;
  const tokenFor = async (sub: { address: string; key: Buffer }) => {
    const assertion = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(app.client_id).setSubject(sub.address)
      .setAudience(`${server.url}/oauth/token`).setIssuedAt().setExpirationTime("2m").setJti(randomUUID()).sign(sub.key);
    const res = await fetch(`${server.url}/oauth/token`, {
      method: "POST",
      headers: { Authorization: basic(app.client_id, app.client_secret), "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  };
  const clientCredentials = (id: string, secret: string) =>
    fetch(`${server.url}/oauth/token`, { method: "POST", headers: { Authorization: basic(id, secret), "Content-Type": "application/x-www-form-urlencoded" }, body: "grant_type=client_credentials" });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "oma-edge-console-"));
    screens = process.env.CONSOLE_SCREENS ? resolve(PROJECT_ROOT, process.env.CONSOLE_SCREENS) : join(dir, "screens");
    await mkdir(screens, { recursive: true });
    server = await startDevServer({ persistTo: join(dir, "state") });
    for (const s of [primary, secondary]) {
      expect((await admin("PUT", `/admin/v1/subscribers/${encodeURIComponent(s.address)}`, { mno: { mcc: "001", mnc: "01" }, deviceKey: s.key.toString("base64url") })).status).toBe(201);
    }
    app = (await admin("POST", "/admin/v1/clients", { name: "Family Watch", scopes: ["twinning:primary", "twinning:secondary"] })).json;
    const [p, s] = [await tokenFor(primary), await tokenFor(secondary)];
    const code = await fetch(`${server.url}/twinning/v1/acr:Authorization/activationCodes`, { method: "POST", headers: { Authorization: `Bearer ${s}`, "Content-Type": "application/json" }, body: "{}" });
    expect(code.status).toBe(201);
    const { activationCode } = (await code.json()) as { activationCode: { code: string } };
    const twin = await fetch(`${server.url}/twinning/v1/acr:Authorization/twins`, { method: "POST", headers: { Authorization: `Bearer ${p}`, "Content-Type": "application/json" }, body: JSON.stringify({ activationCode: activationCode.code, name: "Watch" }) });
    expect(twin.status).toBe(201);
    expect((await admin("PUT", `/admin/v1/devices/${encodeURIComponent(devId)}`, { serverId: "oma-edge", authType: "syncml:auth-md5", clientUsername: "watch", clientPassword: "device-secret", serverPassword: "server-secret", subscriber: secondary.address })).status).toBe(201);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A page of its own at `width`, signed in; every request it makes is recorded. */
  async function signedIn(width: number) {
    const context = await browser.newContext({ viewport: { width, height: width > 600 ? 900 : 844 } });
    const page = await context.newPage();
    const requested: string[] = [];
    page.on("request", (r) => requested.push(r.url()));
    page.on("dialog", (d) => void d.accept());
    page.on("pageerror", (e) => console.error(`console page error: ${e.message}`));
    await page.goto(`${server.url}/console`);
    await page.fill("#admin-token", "not-the-token");
    await page.click("button[type=submit]");
    await page.getByText("That is not the admin token.").waitFor();
    await page.fill("#admin-token", ADMIN_TOKEN);
    await page.click("button[type=submit]");
    await page.locator("#view-subscribers").waitFor();
    return { page, context, requested };
  }
  const noSidewaysScroll = async (page: Page, width: number) => expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(width);

  it("at 1280 px: sign in with the admin token (kept in sessionStorage only), find a subscriber, see its twin and end it on both sides", async () => {
    const { page, context, requested } = await signedIn(1280);
    expect(await page.evaluate("sessionStorage.getItem('oma-edge.adminToken')")).toBe(ADMIN_TOKEN);
    expect(await page.evaluate("localStorage.length")).toBe(0);
    await page.fill("#subscriber-search", stem);
    await page.click("form[role=search] button");
    await page.getByRole("link", { name: primary.address }).click();
    await page.getByRole("cell", { name: "Watch" }).waitFor();
    expect(await page.textContent("#view-subscribers")).toContain(secondary.address);
    await page.screenshot({ path: join(screens, "console-subscriber-desktop.png"), fullPage: true });
    await page.click(`[data-end-twin="${secondary.address}"]`);
    await page.getByText("Twin Watch ended.").waitFor();
    await page.getByText("No twins.").waitFor();
    expect((await admin("GET", `/admin/v1/subscribers/${encodeURIComponent(primary.address)}/twins`)).json.twins).toEqual([]);
    expect((await admin("GET", `/admin/v1/subscribers/${encodeURIComponent(secondary.address)}/twins`)).json.relationship).toBeUndefined();
    await noSidewaysScroll(page, 1280);
    expect(requested.filter((u) => !u.startsWith(server.url))).toEqual([]);
    await context.close();
  });

  it("at 1280 px: register a client (its secret shown once), rotate the secret (the old one stops working) and remove the client", async () => {
    const { page, context } = await signedIn(1280);
    await page.click("nav >> text=Clients");
    await page.fill("#client-name", "Console app");
    await page.check("input[value='twinning:primary']");
    await page.click("#new-client button[type=submit]");
    const first = (await page.textContent(".secret [data-secret]"))!;
    const clientId = (await page.textContent(".secret p"))!.match(/Client (\S+) registered/)![1]!;
    expect((await clientCredentials(clientId, first)).status).not.toBe(401);
    await page.screenshot({ path: join(screens, "console-clients-desktop.png"), fullPage: true });
    await page.click(`[data-rotate="${clientId}"]`);
    await page.getByText(`New secret of ${clientId}:`).waitFor();
    const second = (await page.textContent(".secret [data-secret]"))!;
    expect(second).not.toBe(first);
    expect((await clientCredentials(clientId, first)).status).toBe(401);
    expect((await clientCredentials(clientId, second)).status).not.toBe(401);
    await page.click(`[data-delete="${clientId}"]`);
    await page.getByText("Console app removed.").waitFor();
    expect((await admin("GET", `/admin/v1/clients/${encodeURIComponent(clientId)}`)).status).toBe(404);
    await context.close();
  });

  it("at 1280 px: a device's DM job is queued from the console and shown with its state; the audit log lists what the console did", async () => {
    const { page, context } = await signedIn(1280);
    await page.click("nav >> text=Devices");
    await page.getByText(devId).waitFor();
    await page.click(`a.button[href*="${encodeURIComponent(devId)}"]`);
    await page.locator("#view-jobs").waitFor();
    expect(await page.inputValue("#job-device")).toBe(devId);
    await page.click("#new-job button[type=submit]");
    await page.locator("[data-state=queued]").waitFor();
    await page.click("nav >> text=Audit log");
    await page.getByText("DELETE /admin/v1/subscribers/:address/twins/:twinId").first().waitFor();
    const audit = (await page.textContent("#view-audit"))!;
    expect(audit).toContain("POST /admin/v1/clients/:clientId/secret");
    expect(audit).not.toContain(ADMIN_TOKEN);
    await page.screenshot({ path: join(screens, "console-audit-desktop.png"), fullPage: true });
    await context.close();
  });

  it("at 1280 px: the campaigns view lists each campaign with its devices per state; pause, resume and cancel act on it", async () => {
    const created = await admin("POST", "/dmws/v1/campaigns", { name: "Console rollout", target: { devices: [devId] }, operation: { commands: [{ kind: "Get", target: "./DevInfo/Mod" }] }, start: true });
    expect(created.status).toBe(201);
    const id: string = created.json.campaign.campaignId;
    const state = async () => (await admin("GET", `/dmws/v1/campaigns/${id}`)).json.campaign.state;
    expect(await state()).toBe("running");
    const { page, context } = await signedIn(1280);
    await page.click("nav >> text=Campaigns");
    await page.locator("#view-campaigns").waitFor();
    await page.getByRole("link", { name: "Console rollout" }).waitFor();
    expect(await page.textContent(`[data-campaign-state="${id}"]`)).toBe("running");
    // Its one device is counted: waiting for its wave's start or with its job on the device.
    expect(await page.textContent(`[data-counts="${id}"]`)).toMatch(/^1: (Pending|In progress) 1$/);
    await page.screenshot({ path: join(screens, "console-campaigns-desktop.png"), fullPage: true });
    await page.click(`[data-campaign-action="pause:${id}"]`);
    await page.getByText("Campaign Console rollout: paused.").waitFor();
    expect(await state()).toBe("paused");
    expect(await page.textContent(`[data-campaign-state="${id}"]`)).toMatch(/^paused/);
    await page.click(`[data-campaign-action="resume:${id}"]`);
    await page.getByText("Campaign Console rollout: running.").waitFor();
    expect(await state()).toBe("running");
    // The campaign's own page: counts per wave and its devices; cancel from there.
    await page.getByRole("link", { name: "Console rollout" }).click();
    await page.getByRole("cell", { name: devId }).waitFor();
    await page.click(`[data-campaign-action="cancel:${id}"]`);
    await page.getByText("Campaign Console rollout: cancelled.").waitFor();
    expect(await state()).toBe("cancelled");
    expect((await admin("GET", `/dmws/v1/campaigns/${id}`)).json.campaign.counts).toMatchObject({ cancelled: 1, total: 1 });
    await noSidewaysScroll(page, 1280);
    await context.close();
  });

  it("at 390 px (phone): every section reads without sideways scrolling", async () => {
    const { page, context } = await signedIn(390);
    await noSidewaysScroll(page, 390);
    await page.goto(`${server.url}/console#subscriber/${encodeURIComponent(secondary.address)}`);
    await page.getByText(`Twinned as a secondary`).or(page.getByText("No twins.")).first().waitFor();
    await noSidewaysScroll(page, 390);
    await page.screenshot({ path: join(screens, "console-subscriber-phone.png"), fullPage: true });
    for (const [section, view] of [["Clients", "#view-clients"], ["Devices", "#view-devices"], ["DM jobs", "#view-jobs"], ["Campaigns", "#view-campaigns"], ["Audit log", "#view-audit"]] as const) {
      await page.click(`nav >> text=${section}`);
      await page.locator(view).waitFor();
      await noSidewaysScroll(page, 390);
      if (section === "Devices") await page.screenshot({ path: join(screens, "console-devices-phone.png"), fullPage: true });
      if (section === "Campaigns") {
        await page.getByRole("link", { name: "Console rollout" }).click();
        await page.getByText("Devices per state").waitFor();
        await noSidewaysScroll(page, 390);
        await page.screenshot({ path: join(screens, "console-campaign-phone.png"), fullPage: true });
      }
    }
    await page.click("#logout");
    await page.locator("#admin-token").waitFor();
    expect(await page.evaluate("sessionStorage.getItem('oma-edge.adminToken')")).toBeNull();
    await context.close();
  });
});
