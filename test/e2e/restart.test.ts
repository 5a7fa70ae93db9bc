// HLF-TE-001 (the enabler keeps the twinning relationships) and HLF-TE-002 (a status change
// persists), checked the way an operator sees them: `wrangler dev` stopped and started again on
// the same --persist-to directory, everything over real HTTP.
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { afterAll, describe, expect, it } from "vitest";
import { networkAttempts, startDevServer, type DevServer } from "./dev-server";

const ADMIN = { Authorization: "Bearer dev-admin-token" };
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const enc = encodeURIComponent;

interface Reply {
  status: number;
  json: any;
  text: string;
}

async function call(base: string, method: string, path: string, opts: { token?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** A unique E.164 address per run, so a reused persist dir never collides. */
function newAddress(n: number): string {
  return `tel:+1555${String(Date.now() % 1_000_000).padStart(6, "0")}${n}${String(process.pid % 100).padStart(2, "0")}`;
}

interface Subscriber {
  address: string;
  key: Uint8Array;
}

async function provision(base: string, address: string): Promise<Subscriber> {
  const key = new Uint8Array(randomBytes(32));
  const deviceKey = Buffer.from(key).toString("base64url");
  const res = await call(base, "PUT", `/admin/v1/subscribers/${enc(address)}`, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey } });
  expect(res.status, res.text).toBe(201);
  return { address, key };
}

async function accessToken(base: string, client: { client_id: string; client_secret: string }, sub: Subscriber): Promise<string> {
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(client.client_id)
    .setSubject(sub.address)
    .setAudience(`${base}/oauth/token`)
    .setIssuedAt()
    .setExpirationTime("2m")
    .setJti(randomUUID())
    .sign(sub.key);
  const basic = Buffer.from(`${enc(client.client_id)}:${enc(client.client_secret)}`).toString("base64");
  const res = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { Authorization: `Basic ${basic}`, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString(),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return (JSON.parse(text) as { access_token: string }).access_token;
}

describe("wrangler dev (e2e)", () => {
  let persistTo: string | undefined;
  const servers: DevServer[] = [];

  afterAll(async () => {
    for (const server of servers) await server.stop();
    if (persistTo) await rm(persistTo, { recursive: true, force: true });
  });

  it("HLF-TE-001/TE-002: relationships, status and queued DM jobs survive a restart of the dev server", async () => {
    persistTo = await mkdtemp(join(tmpdir(), "oma-edge-e2e-"));
    const t0 = Date.now();

    // ------------------------------------------------------------ first run: twin and toggle Off
    const first = await startDevServer({ persistTo });
    servers.push(first);
    const base = first.url;
    console.log(`wrangler dev #1 ready on ${base} after ${Date.now() - t0} ms`);

    const primary = await provision(base, newAddress(1));
    const secondary = await provision(base, newAddress(2));

    const reg = await call(base, "POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "e2e restart", scopes: ["twinning:primary", "twinning:secondary"] } });
    expect(reg.status, reg.text).toBe(201);
    const client = reg.json as { client_id: string; client_secret: string };

    const primaryToken = await accessToken(base, client, primary);
    const secondaryToken = await accessToken(base, client, secondary);

    const code = await call(base, "POST", `/twinning/v1/${enc(secondary.address)}/activationCodes`, { token: secondaryToken, body: {} });
    expect(code.status, code.text).toBe(201);
    const activationCode: string = code.json.activationCode.code;

    const twin = await call(base, "POST", `/twinning/v1/${enc(primary.address)}/twins`, { token: primaryToken, body: { activationCode, name: "my-watch" } });
    expect(twin.status, twin.text).toBe(201);
    expect(twin.json.twin).toMatchObject({ secondary: secondary.address, name: "my-watch", status: "On" });

    const off = await call(base, "PUT", `/twinning/v1/${enc(primary.address)}/twins/my-watch/status`, { token: primaryToken, body: { status: "Off" } });
    expect(off.status, off.text).toBe(200);
    expect(off.json.twin.status).toBe("Off");

    // A device-management job queued before the restart must still be there after it.
    const devId = `IMEI:${Date.now()}${process.pid % 100}`;
    const dev = await call(base, "PUT", `/admin/v1/devices/${enc(devId)}`, {
      headers: ADMIN, body: { serverId: "oma-edge", authType: "syncml:auth-md5", clientUsername: devId, clientPassword: "device-secret", serverPassword: "server-secret" },
    });
    expect(dev.status, dev.text).toBe(201);
    const job = await call(base, "POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands: [{ kind: "Get", target: "./DevInfo/Mod" }] } });
    expect(job.status, job.text).toBe(201);

    const firstOutput = first.output();
    await first.stop();
    await expect(fetch(`${base}/openapi.json`, { signal: AbortSignal.timeout(2_000) }), "the first server is really down").rejects.toThrow();

    // ------------------------------------------------------------ second run: same persist dir, same port
    const t1 = Date.now();
    const second = await startDevServer({ persistTo, port: first.port });
    servers.push(second);
    console.log(`wrangler dev #2 ready on ${second.url} after ${Date.now() - t1} ms`);
    expect(second.url).toBe(base);

    // Tokens issued before the restart still verify: the ES256 signing keys live in the
    // SIGNING_KEYS Durable Object, not in isolate memory.
    const twins = await call(base, "GET", `/twinning/v1/${enc(primary.address)}/twins`, { token: primaryToken });
    expect(twins.status, twins.text).toBe(200);
    expect(twins.json.twinList.twin).toHaveLength(1);
    expect(twins.json.twinList.twin[0]).toMatchObject({ secondary: secondary.address, name: "my-watch", status: "Off", statusChangedBy: expect.anything() });

    const rel = await call(base, "GET", `/twinning/v1/${enc(secondary.address)}/relationship`, { token: secondaryToken });
    expect(rel.status, rel.text).toBe(200);
    expect(rel.json.relationship).toMatchObject({ primary: primary.address, name: "my-watch", status: "Off" });

    // The subscriber's role survived too, and a fresh token can still be minted with the old client.
    const profile = await call(base, "GET", `/admin/v1/subscribers/${enc(primary.address)}`, { headers: ADMIN });
    expect(profile.status, profile.text).toBe(200);
    expect(profile.json.subscriber.role).toBe("primary");
    const freshToken = await accessToken(base, client, secondary);
    const relAgain = await call(base, "GET", `/twinning/v1/${enc(secondary.address)}/relationship`, { token: freshToken });
    expect(relAgain.status, relAgain.text).toBe(200);
    expect(relAgain.json.relationship.status).toBe("Off");

    const jobAfter = await call(base, "GET", `/dm/v1/devices/${enc(devId)}/jobs/${job.json.job.jobId}`, { headers: ADMIN });
    expect(jobAfter.status, jobAfter.text).toBe(200);
    expect(jobAfter.json.job).toMatchObject({ state: "queued", commands: [{ kind: "Get", target: "./DevInfo/Mod" }] });

    // Neither start-up tried to reach the internet (update check, cf.json, telemetry): the
    // network guard preloaded into wrangler reports any non-loopback connection or DNS lookup.
    const secondOutput = second.output();
    expect(networkAttempts(firstOutput), firstOutput).toEqual([]);
    expect(networkAttempts(secondOutput), secondOutput).toEqual([]);
    expect(firstOutput).toMatch(/Ready on http:\/\/127\.0\.0\.1:\d+/);

    await second.stop();
  });
});
