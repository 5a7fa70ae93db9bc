// Issue 11, against real `wrangler dev`: receivers that fail at random (503, or a reset after they
// took the notification) still get every notification, in order, exactly once after de-duplication
// by notificationId. Retries run on the subscriber objects' alarms, as in production.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

const ADMIN = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };
const enc = encodeURIComponent;
const TOGGLES = 20;

interface Taken {
  id: string;
  status: string;
}

/** A receiver per box that answers 503 to 15 % of requests and resets the connection after taking 10 %. */
function flakyReceiver(): Promise<{ server: Server; url: string; taken: Map<string, Taken[]>; attempts: () => number }> {
  const taken = new Map<string, Taken[]>();
  let attempts = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      attempts++;
      const box = (req.url ?? "/").slice(1);
      const roll = Math.random();
      if (roll < 0.15) return res.writeHead(503).end();
      const n = JSON.parse(Buffer.concat(chunks).toString("utf8")).twinningNotification;
      taken.set(box, [...(taken.get(box) ?? []), { id: n.notificationId, status: n.status }]);
      // Took it, but the sender never hears so: it must retry, and the receiver sees it twice.
      if (roll < 0.25) return res.socket?.destroy();
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, taken, attempts: () => attempts })),
  );
}

async function call(base: string, method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}

describe("Notification delivery under failing receivers (issue 11, wrangler dev)", () => {
  let persistTo: string | undefined;
  let dev: DevServer | undefined;
  let receiver: Server | undefined;

  afterAll(async () => {
    await dev?.stop();
    receiver?.close();
    if (persistTo) await rm(persistTo, { recursive: true, force: true });
  });

  it("every notification arrives, in order, exactly once after de-duplication by notificationId", async () => {
    persistTo = await mkdtemp(join(tmpdir(), "oma-edge-soak-"));
    dev = await startDevServer({ persistTo });
    const flaky = await flakyReceiver();
    receiver = flaky.server;
    const base = dev.url;

    const reg = await call(base, "POST", "/admin/v1/clients", ADMIN, { name: "soak", scopes: ["twinning:primary", "twinning:secondary"] });
    expect(reg.status, reg.text).toBe(201);
    const client = reg.json as { client_id: string; client_secret: string };
    const basic = `Basic ${Buffer.from(`${enc(client.client_id)}:${enc(client.client_secret)}`).toString("base64")}`;

    const subscriber = async (n: number) => {
      const address = `tel:+1556${String(Date.now() % 1_000_000).padStart(6, "0")}${n}${String(process.pid % 100).padStart(2, "0")}`;
      const key = new Uint8Array(randomBytes(32));
      const put = await call(base, "PUT", `/admin/v1/subscribers/${enc(address)}`, ADMIN, { mno: { mcc: "001", mnc: "01" }, deviceKey: Buffer.from(key).toString("base64url") });
      expect(put.status, put.text).toBe(201);
      const assertion = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(address)
        .setAudience(`${base}/oauth/token`).setIssuedAt().setExpirationTime("2m").setJti(randomUUID()).sign(key);
      const tok = await fetch(`${base}/oauth/token`, {
        method: "POST",
        headers: { Authorization: basic, "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString(),
      });
      const token = ((await tok.json()) as { access_token: string }).access_token;
      return { address, auth: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" } };
    };
    const [p, s] = [await subscriber(1), await subscriber(2)];
    const code = await call(base, "POST", `/twinning/v1/${enc(s.address)}/activationCodes`, s.auth, {});
    expect(code.status, code.text).toBe(201);
    const twin = await call(base, "POST", `/twinning/v1/${enc(p.address)}/twins`, p.auth, { activationCode: code.json.activationCode.code, name: "w" });
    expect(twin.status, twin.text).toBe(201);
    for (const [who, box] of [[p, "primary"], [s, "secondary"]] as const) {
      const sub = await call(base, "POST", `/twinning/v1/${enc(who.address)}/subscriptions`, who.auth, { subscription: { callbackReference: { notifyURL: `${flaky.url}/${box}` } } });
      expect(sub.status, sub.text).toBe(201);
    }

    // Toggles from both sides, one after another, as fast as the gateway answers.
    const statuses = Array.from({ length: TOGGLES }, (_, i) => (i % 2 === 0 ? "Off" : "On"));
    for (const [i, status] of statuses.entries()) {
      const res = i % 3 === 0
        ? await call(base, "PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, s.auth, { status })
        : await call(base, "PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, p.auth, { status });
      expect(res.status, res.text).toBe(200);
    }

    // De-duplicated by notificationId, in order of first arrival: exactly the toggles, in order.
    const firstArrivals = (box: string) => {
      const seen = new Set<string>();
      return (flaky.taken.get(box) ?? []).filter((t) => !seen.has(t.id) && seen.add(t.id)).map((t) => t.status);
    };
    const deadline = Date.now() + 45_000;
    while ((firstArrivals("primary").length < TOGGLES || firstArrivals("secondary").length < TOGGLES) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`soak: ${flaky.attempts()} delivery attempts for ${2 * TOGGLES} notifications`);
    for (const box of ["primary", "secondary"]) {
      expect(firstArrivals(box), box).toEqual(statuses);
      const ids = (flaky.taken.get(box) ?? []).map((t) => t.id);
      expect(new Set(ids).size, box).toBe(TOGGLES);
    }
  });
});
