// What the README promises at /openapi.json and /docs, checked against `wrangler dev`:
// - the description passes `redocly lint` with its recommended rules: zero errors, and no example that
//   contradicts its schema (run offline: the network guard refuses any connection it tries);
// - /docs works in headless Chromium at desktop and phone widths: operations and named types on the
//   page, no horizontal scrolling at 390 px, nothing loaded from elsewhere, and "Authorize" with a bearer
//   token + "Try it out" calls the gateway and shows the curl for the call.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NETWORK_ATTEMPT_MARKER, PROJECT_ROOT, startDevServer, wranglerEnv, type DevServer } from "./dev-server";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };

/**
 * Swagger UI renders its long lists (operations, schemas) virtualised: only what is near the viewport is in the DOM.
 * Scroll the page through from the top and collect what `collect` sees at each step.
 */
async function collectWhileScrolling(page: Page, collect: () => Promise<string[]>): Promise<Set<string>> {
  const seen = new Set<string>();
  await page.evaluate("window.scrollTo(0, 0)");
  for (let step = 0; step < 3000; step++) {
    for (const x of await collect()) seen.add(x);
    if (await page.evaluate("window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2")) break;
    await page.evaluate("window.scrollBy(0, Math.round(window.innerHeight * 0.7))");
    await page.waitForTimeout(25);
  }
  for (const x of await collect()) seen.add(x);
  return seen;
}

/** The schema list has a virtualised scroller of its own: scroll the models into view, then that scroller (or the page), collecting names. */
async function collectModelNames(page: Page): Promise<Set<string>> {
  const seen = new Set<string>();
  await scrollUntilRendered(page, "section.models .models-virtual-item");
  for (let step = 0, still = 0; step < 3000 && still < 8; step++) {
    const before = seen.size;
    for (const t of await page.locator("section.models article[data-json-schema-level='0'] > .json-schema-2020-12-head .json-schema-2020-12__title").allInnerTexts()) seen.add(t.trim());
    still = seen.size === before ? still + 1 : 0;
    await page.evaluate(`(() => {
      let el = document.querySelector("section.models .models-virtual-item");
      while (el && !(el.scrollHeight > el.clientHeight + 2 && /auto|scroll/.test(getComputedStyle(el).overflowY))) el = el.parentElement;
      if (el) el.scrollBy(0, Math.max(50, Math.round(el.clientHeight * 0.7))); else window.scrollBy(0, Math.round(window.innerHeight * 0.7));
    })()`);
    await page.waitForTimeout(25);
  }
  return seen;
}

/** Scrolls down until `selector` is rendered (see collectWhileScrolling). */
async function scrollUntilRendered(page: Page, selector: string): Promise<void> {
  await page.evaluate("window.scrollTo(0, 0)");
  for (let step = 0; step < 3000 && (await page.locator(selector).count()) === 0; step++) {
    if (await page.evaluate("window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2")) break;
    await page.evaluate("window.scrollBy(0, Math.round(window.innerHeight * 0.7))");
    await page.waitForTimeout(25);
  }
  await page.locator(selector).first().scrollIntoViewIfNeeded();
}

describe("/openapi.json and /docs against wrangler dev", () => {
  let server: DevServer;
  let dir: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "oma-edge-docs-"));
    server = await startDevServer({ persistTo: join(dir, "state") });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("redocly lint (recommended rules) finds no error and no example that contradicts its schema, offline", async () => {
    const file = join(dir, "openapi.json");
    await writeFile(file, await (await fetch(`${server.url}/openapi.json`)).text());
    const redocly = join(PROJECT_ROOT, "node_modules", ".bin", "redocly");
    const run = spawnSync(redocly, ["lint", "--extends=recommended", "--format=json", file], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
      env: wranglerEnv({ REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" }),
    });
    expect(run.stdout + run.stderr).not.toContain(NETWORK_ATTEMPT_MARKER);
    const report = JSON.parse(run.stdout) as { totals: { errors: number }; problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[] };
    const errors = report.problems.filter((p) => p.severity === "error");
    expect(errors.map((p) => `${p.ruleId}: ${p.message} at ${p.location[0]?.pointer}`)).toEqual([]);
    expect(report.totals.errors).toBe(0);
    expect(report.problems.filter((p) => p.ruleId === "no-invalid-media-type-examples").map((p) => p.location[0]?.pointer)).toEqual([]);
    expect(report.problems.filter((p) => p.ruleId === "operation-operationId")).toEqual([]);
    expect(run.status).toBe(0);
  }, 180_000);

  describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("in headless Chromium", () => {
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      });
    });

    for (const [label, width, height] of [["desktop", 1280, 900], ["phone", 390, 844]] as const) {
      it(`at ${width} px (${label}): every operation and the named types are on the page, nothing comes from elsewhere, nothing scrolls sideways`, async () => {
        const context = await browser!.newContext({ viewport: { width, height } });
        const page = await context.newPage();
        const foreign: string[] = [];
        page.on("request", (r) => {
          if (!r.url().startsWith(server.url) && !r.url().startsWith("data:")) foreign.push(r.url());
        });
        // The page is ready when Swagger UI has drawn the operations; "load" (every resource loaded)
        // once took over 30 s on a loaded CI machine.
        await page.goto(`${server.url}/docs`, { waitUntil: "domcontentloaded", timeout: 60_000 });
        await page.waitForSelector(".opblock", { timeout: 60_000 });
        const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, object> };
        const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
        const opIds = await collectWhileScrolling(page, () => page.locator(".opblock").evaluateAll((els) => els.map((e) => e.id)));
        expect(opIds.size).toBe(operations);
        const doc31 = (await (await fetch(`${server.url}/openapi.json`)).json()) as { components: { schemas: Record<string, object> } };
        const seen = await collectModelNames(page);
        expect(seen).toContain("TwinActivationRequest");
        expect([...seen].sort()).toEqual(Object.keys(doc31.components.schemas).sort());
        // Open an operation and its schema: still no sideways scrolling on a phone.
        await scrollUntilRendered(page, "[id$='-postTwinningTwins'] .opblock-summary");
        await page.locator("[id$='-postTwinningTwins'] .opblock-summary").first().click();
        await page.waitForSelector("[id$='-postTwinningTwins'] .opblock-body");
        expect(await page.evaluate("document.documentElement.scrollWidth")).toBeLessThanOrEqual(width);
        expect(foreign).toEqual([]);
        await context.close();
      }, 90_000);
    }

    it("Authorize with a bearer token, then Try it out: the call reaches the gateway and the page shows its curl", async () => {
      // A twinning:primary token for a fresh subscriber, the way the README's walk-through gets one.
      const phone = `tel:+1555${String(Date.now()).slice(-7)}`;
      const key = randomBytes(32).toString("base64url");
      await fetch(`${server.url}/admin/v1/subscribers/${encodeURIComponent(phone)}`, { method: "PUT", headers: ADMIN, body: JSON.stringify({ mno: { mcc: "001", mnc: "01" }, deviceKey: key }) });
      const app = (await (await fetch(`${server.url}/admin/v1/clients`, { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "Docs", scopes: ["twinning:primary"] }) })).json()) as { client_id: string; client_secret: string };
      const assertion = spawnSync("node", [join(PROJECT_ROOT, "scripts", "device-assertion.mjs"), key, phone, app.client_id, `${server.url}/oauth/token`], { encoding: "utf8" }).stdout.trim();
      const tok = (await (await fetch(`${server.url}/oauth/token`, {
        method: "POST",
        headers: { Authorization: `Basic ${Buffer.from(`${app.client_id}:${app.client_secret}`).toString("base64")}`, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", scope: "twinning:primary", assertion }),
      })).json()) as { access_token: string };
      expect(tok.access_token).toBeTruthy();

      const context = await browser!.newContext({ viewport: { width: 390, height: 844 } });
      const page = await context.newPage();
      await page.goto(`${server.url}/docs`, { waitUntil: "domcontentloaded", timeout: 60_000 });
      await page.waitForSelector(".opblock");
      await page.locator("button.authorize").first().click();
      const bearer = page.locator(".auth-container").filter({ hasText: "bearerAuth" });
      await bearer.locator("input").fill(tok.access_token);
      await bearer.locator("button.authorize").click();
      await page.locator(".auth-btn-wrapper button.btn-done").first().click();

      await scrollUntilRendered(page, "[id$='-getTwinningTwins'] .opblock-summary");
      const op = page.locator("[id$='-getTwinningTwins']");
      await op.locator(".opblock-summary").first().click();
      // tryItOutEnabled: the operation opens ready to send (its button then reads "Cancel").
      const tryOut = op.locator("button.try-out__btn", { hasText: "Try it out" });
      if (await tryOut.count()) await tryOut.click();
      await op.locator("tr[data-param-name='userId'] input").fill("acr:Authorization");
      const answered = page.waitForResponse((r) => r.url().includes("/twinning/v1/acr%3AAuthorization/twins") || r.url().includes("/twinning/v1/acr:Authorization/twins"));
      await op.locator("button.execute").click();
      expect((await answered).status()).toBe(200);
      const curl = await op.locator(".curl-command, .request-snippets").first().innerText();
      expect(curl).toMatch(/curl/);
      expect(curl).toContain(`Authorization: Bearer ${tok.access_token}`);
      await expect.poll(() => op.locator(".live-responses-table tbody .response-col_status").first().innerText()).toContain("200");
      await context.close();
    }, 120_000);
  });
});
