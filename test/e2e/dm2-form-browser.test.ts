// The DM 2.0 device registration form in a real browser (Debian's chromium through playwright-core):
// the browser's 401 login with the DM account's credentials, a bad form that shows its errors and
// keeps everything typed, then a good one whose device appears in GET /dm/v2/devices. The screens
// are saved under docs/screens/ (linked from the README).
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, startDevServer, type DevServer } from "./dev-server";

const CHROMIUM = "/usr/bin/chromium";
const SCREENS = join(PROJECT_ROOT, "docs", "screens");
const ADMIN = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("DM 2.0 registration form in headless Chromium", () => {
  let server: DevServer;
  let persist: string;
  let browser: Browser;
  // A fresh storage per run, so the same names make the same screens.
  const account = { username: "acme-fleet", password: "acme fleet password 1" };
  const devId = "IMEI:490154203237518";

  beforeAll(async () => {
    persist = await mkdtemp(join(tmpdir(), "oma-edge-dm2-form-"));
    await mkdir(SCREENS, { recursive: true });
    server = await startDevServer({ persistTo: persist });
    const put = await fetch(`${server.url}/admin/v1/dm-accounts/${account.username}`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ password: account.password }) });
    expect(put.status).toBe(201);
    // launch() gives the browser a fresh profile directory of its own (playwright refuses --user-data-dir here).
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (persist) await rm(persist, { recursive: true, force: true });
  });

  it("without credentials the browser gets 401 with the Digest and Basic challenges (its login dialog)", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const challenged = page.waitForResponse((r) => r.url().endsWith("/dm/v2/devices/new"));
    // Headless Chromium has no dialog to show: with nobody to type the password it ends the navigation.
    await page.goto(`${server.url}/dm/v2/devices/new`).catch((err: Error) => expect(err.message).toMatch(/ERR_INVALID_AUTH_CREDENTIALS|401/));
    const res = await challenged;
    expect(res.status()).toBe(401);
    const challenge = (await res.allHeaders())["www-authenticate"] ?? "";
    expect(challenge).toContain('Digest realm="oma-edge DM"');
    expect(challenge).toContain("algorithm=SHA-256");
    expect(challenge).toContain('Basic realm="oma-edge DM"');
    await context.close();
  });

  it("logs in, shows errors on a bad form without losing what was typed, registers on a good one; the device is listed", async () => {
    const context = await browser.newContext({ httpCredentials: account, viewport: { width: 720, height: 900 } });
    const page = await context.newPage();
    const form = await page.goto(`${server.url}/dm/v2/devices/new`);
    expect(form!.status()).toBe(200);
    expect(await page.textContent("#account")).toBe(account.username);
    expect(await page.getAttribute("#devId", "aria-describedby")).toBe("devId-hint");
    await page.screenshot({ path: join(SCREENS, "dm2-registration-form.png"), fullPage: true });

    // a bad form: a device ID with a space, a name too long; the rest must come back as typed
    const longName = "Kitchen tablet on the fridge door of the second floor flat, by the window";
    await page.fill("#devId", "IMEI 4901542032");
    await page.fill("#name", `${longName}!!`);
    await page.check("#protocol-both");
    await page.fill("#manufacturer", "Acme <Devices>");
    await page.fill("#model", "T-100");
    const [bad] = await Promise.all([page.waitForNavigation(), page.click("#register")]);
    expect(bad!.status()).toBe(400);
    expect(await page.isVisible("#error-summary")).toBe(true);
    expect(await page.textContent("#devId-error")).toContain("without spaces");
    expect(await page.textContent("#name-error")).toContain("64");
    expect(await page.getAttribute("#devId", "aria-invalid")).toBe("true");
    expect(await page.inputValue("#devId")).toBe("IMEI 4901542032");
    expect(await page.inputValue("#name")).toBe(`${longName}!!`);
    expect(await page.isChecked("#protocol-both")).toBe(true);
    expect(await page.inputValue("#manufacturer")).toBe("Acme <Devices>");
    expect(await page.inputValue("#model")).toBe("T-100");
    await page.screenshot({ path: join(SCREENS, "dm2-registration-errors.png"), fullPage: true });

    // corrected: registered, and the browser lands on the device's page
    await page.fill("#devId", devId);
    await page.fill("#name", "Kitchen tablet");
    await Promise.all([page.waitForURL((u) => u.pathname === `/dm/v2/devices/${encodeURIComponent(devId)}`), page.click("#register")]);
    expect(await page.textContent("#dev-id")).toBe(devId);
    expect(await page.textContent("#info-name")).toBe("Kitchen tablet");
    expect(await page.inputValue("#model")).toBe("T-100");
    await page.screenshot({ path: join(SCREENS, "dm2-device-page.png"), fullPage: true, mask: [page.locator("#device-info dd:nth-of-type(5)"), page.locator("#device-info dd:nth-of-type(6)")] });

    // the update form on the device page
    await page.fill("#name", "Fridge tablet");
    await Promise.all([page.waitForURL((u) => u.searchParams.get("saved") === "1"), page.click("#update")]);
    expect(await page.textContent("#info-name")).toBe("Fridge tablet");
    await context.close();

    const list = await fetch(`${server.url}/dm/v2/devices`, { headers: { Authorization: `Basic ${Buffer.from(`${account.username}:${account.password}`).toString("base64")}` } });
    expect(((await list.json()) as any).deviceList).toEqual([expect.objectContaining({ devId, name: "Fridge tablet", protocol: "both", manufacturer: "Acme <Devices>", model: "T-100" })]);
  });
});
