// Issue 16, "Done means": a campaign over 1,000 simulated DM 1.2 devices (test/dm/simulator.ts, each a
// real HTTP client) against `wrangler dev`, run by a service provider (an OAuth client with dm:manage,
// granted the devices' group), some devices offline until late, some failing, some losing their
// connection mid-session after executing the job (so it goes out again). Package 0 reaches online
// devices through the push connector (DM_PUSH_WEBHOOK, a loopback receiver here); offline devices read
// theirs from the outbox when they come online. Checked: waves, the success and error thresholds,
// pause/resume/cancel, the final counts, exactly one charging record per chargeable result, and the
// provider's signed webhooks (the first deliveries refused, so they are retried). The test waits on
// what happens (pushes, finished sessions, webhooks); it polls only for what nothing announces (the
// charging records reaching the ledger).
import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

// The simulator is typed for workerd (its fetch bodies are Web types); loaded by path, typed here as far as this test uses it.
const SIMULATOR = "../dm/simulator";
interface SessionResult {
  outcome: string;
  violations: string[];
  error?: string;
}
interface DmClient {
  startSession(options?: { package0?: string; drop?: { afterServerMessages: number; execute?: boolean } }): Promise<SessionResult>;
}
type DmClientClass = new (options: Record<string, unknown>) => DmClient;

const ADMIN = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };
const N = 1000;
const WAVE = 250;
/** Simulated devices in session at once (and admin calls at once while provisioning them). */
const PARALLEL = 24;
const enc = encodeURIComponent;
const FUMO = "./FUMO/Pkg1/DownloadAndUpdate";
const PHASE_LOG = process.env.CAMPAIGN_E2E_PHASES === "1";

// Who does what, by index in campaign order (waves of 250).
const failing = (i: number) => (i >= 500 && i < 580) || i % 100 === 7; // wave 3: 80 failures (32%), a few elsewhere
const offline = (i: number) => i < 500 && i % 10 === 3; // 50 devices of waves 1 and 2
const dropsOnce = (i: number) => i % 97 === 0 && !failing(i) && !offline(i); // loses its connection after executing the job: it goes out again
const FAILING = Array.from({ length: N }, (_, i) => i).filter(failing).length;
const FAILING_IN_WAVE_3 = Array.from({ length: WAVE }, (_, i) => 2 * WAVE + i).filter(failing).length;

interface SimDevice {
  i: number;
  devId: string;
  client: DmClient;
  dropped: boolean;
}

/** Something happened (a push, a finished session, a webhook): whoever waits for a state looks again. */
class Changes {
  private waiters: (() => void)[] = [];
  /** When the last thing happened. */
  last = Date.now();
  notify(): void {
    this.last = Date.now();
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  /** Resolves at the next change, or after `ms` at the latest (what the test waits for may change on the server alone). */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

async function pool<T>(items: T[], parallel: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
  });
}

describe("a campaign over 1,000 simulated DM 1.2 devices, run by a service provider (wrangler dev)", () => {
  let dev: DevServer;
  let dir: string;
  let receiver: { server: Server; url: string };
  const changes = new Changes();
  const pushes: string[] = [];
  /** Online devices that call in on their own (their polling interval): a push that did not reach them is not a device lost. */
  const checkIns = new Set<string>();
  const latestPush = new Map<string, string>();
  const hooks: { headers: Record<string, unknown>; body: string }[] = [];
  let refuseHooks = 3;

  beforeAll(async () => {
    // Durable Object storage in memory when the machine has /dev/shm (as the benchmark keeps it): a
    // commit then costs the runtime's SQLite work, not a disk flush that other jobs on the machine disturb.
    dir = await mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "oma-campaign-"));
    receiver = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url === "/push") {
          const devId = String(req.headers["x-dm-device-id"]);
          latestPush.set(devId, Buffer.concat(chunks).toString("base64"));
          pushes.push(devId);
          changes.notify();
          return res.writeHead(204).end();
        }
        if (refuseHooks > 0) {
          refuseHooks -= 1;
          return res.writeHead(503).end();
        }
        hooks.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        changes.notify();
        res.writeHead(204).end();
      });
    });
    // LOG_LEVEL warn: no access-log line for each of the ~5,000 requests (as the benchmark runs it).
    dev = await startDevServer({ persistTo: dir, readyTimeoutMs: 180_000, args: ["--var", `DM_PUSH_WEBHOOK:${receiver.url}/push`, "--var", "LOG_LEVEL:warn"] });
  }, 240_000);

  afterAll(async () => {
    await dev?.stop();
    receiver?.server.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("waves, the success and error thresholds, pause/resume/cancel and the final counts are right; one charging record per result; webhooks arrive signed", async () => {
    const base = dev.url;
    const t0 = Date.now();
    const phase = (what: string) => PHASE_LOG && console.log(`campaign e2e: ${what} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const request = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined, text };
    };
    const admin = (method: string, path: string, body?: unknown) => request(method, path, ADMIN, body);

    // ---- the service provider: an OAuth client with dm:manage, granted a group of the 1,000 devices
    const reg = await admin("POST", "/admin/v1/clients", { name: "Campaign FOTA", scopes: ["dm:manage"], grant_types: ["client_credentials"] });
    expect(reg.status, reg.text).toBe(201);
    const tokenRes = await fetch(`${base}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${Buffer.from(`${reg.json.client_id}:${reg.json.client_secret}`).toString("base64")}` },
      body: "grant_type=client_credentials&scope=dm%3Amanage",
    });
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;
    const provider = (method: string, path: string, body?: unknown) => request(method, path, { Authorization: `Bearer ${token}`, "Content-Type": "application/json" }, body);

    // ---- 1,000 devices, provisioned through the admin API
    const { DmClient } = (await import(/* @vite-ignore */ SIMULATOR)) as { DmClient: DmClientClass };
    const run = randomBytes(3).toString("hex");
    const devices: SimDevice[] = Array.from({ length: N }, (_, i) => {
      const devId = `IMEI:35${run}${String(i).padStart(6, "0")}`.slice(0, 20);
      const client = new DmClient({
        devId, serverUrl: `${base}/dm`, encoding: i % 2 ? "wbxml" : "xml", authType: "syncml:auth-basic", username: `camp-${run}-${i}`,
        password: `device-secret-${i}`, serverId: "oma-edge", serverPassword: `server-secret-${i}`, fetch: (url: string, init: RequestInit) => fetch(url, init),
        tree: { [FUMO]: "", "./Vendor/Setting": "0" }, exec: { [FUMO]: () => ({ status: failing(i) ? "500" : "200" }) },
      });
      return { i, devId, client, dropped: false };
    });
    const byId = new Map(devices.map((d) => [d.devId, d]));
    await pool(devices, PARALLEL, async (d) => {
      const r = await admin("PUT", `/admin/v1/devices/${enc(d.devId)}`, { serverId: "oma-edge", authType: "syncml:auth-basic", clientUsername: `camp-${run}-${d.i}`, clientPassword: `device-secret-${d.i}`, serverPassword: `server-secret-${d.i}` });
      expect(r.status, r.text).toBe(201);
    });
    const group = `campaign-${run}`;
    expect((await admin("PUT", `/admin/v1/dm-groups/${group}`, { devices: devices.map((d) => d.devId) })).status).toBeLessThan(300);
    const granted = await admin("PUT", `/admin/v1/dm-providers/${enc(reg.json.client_id)}/grants`, { grants: [{ group, subtrees: ["./Vendor/Setting", "./FUMO/Pkg1"], operations: ["write", "exec"] }] });
    expect(granted.status, granted.text).toBe(200);
    phase("devices provisioned");

    // ---- the fleet: online devices answer each push with a session
    const problems: string[] = [];
    const restarts: string[] = [];
    /** What wrangler said about restarts and errors, for a failure message. */
    const serverLog = () => dev.output().split("\n").filter((l) => /restart|reload|error|exception/i.test(l)).slice(-10).join(" | ");
    let busy = 0;
    let running = true;
    const check = (d: SimDevice, s: SessionResult, outcome: string) => {
      if (s.outcome !== outcome || s.violations.length) problems.push(`${d.devId}: ${s.outcome} ${s.error ?? ""} ${s.violations.join("; ")}`);
    };
    /** A session, called again (client-initiated) when the gateway answers 503 (e.g. its worker was restarted), as a device does. */
    const attempt = async (d: SimDevice, options: { package0?: string; drop?: { afterServerMessages: number; execute: boolean } }) => {
      for (let tries = 1; ; tries++) {
        const s = await d.client.startSession(options);
        if (!(s.outcome === "http-error" && /HTTP 503/.test(s.error ?? "")) || tries === 3) return s;
        restarts.push(`${d.devId}: ${s.error}`);
        options = { ...(options.drop ? { drop: options.drop } : {}) };
      }
    };
    const session = async (d: SimDevice, package0?: string) => {
      if (dropsOnce(d.i) && !d.dropped) {
        // Loses the connection after executing package 2, then calls again: the job goes out again and is counted (and charged) once.
        d.dropped = true;
        check(d, await attempt(d, { ...(package0 ? { package0 } : {}), drop: { afterServerMessages: 1, execute: true } }), "dropped");
        check(d, await attempt(d, {}), "completed");
        return;
      }
      check(d, await attempt(d, package0 ? { package0 } : {}), "completed");
    };
    const onlinePushed = () => pushes.some((id) => !offline(byId.get(id)!.i));
    const fleet = Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (running) {
        const devId = pushes.shift();
        const d = devId ? byId.get(devId) : undefined;
        if (!d || offline(d.i)) {
          if (!devId) await changes.next(1000);
          continue;
        }
        busy += 1;
        try {
          await session(d, checkIns.delete(d.devId) ? undefined : latestPush.get(d.devId));
        } catch (err) {
          problems.push(`${d.devId}: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          busy -= 1;
          changes.notify();
        }
      }
    }));
    /** Every online device that was pushed has had its session. */
    const idle = async () => {
      while (onlinePushed() || busy > 0) await changes.next(1000);
    };
    /**
     * When nothing happened for a while, the online devices that still have the campaign's job call in
     * by themselves, as a device whose push got lost does at its next polling interval (a push that
     * does not arrive, under load, is a device that does not call: src/dm/push-connector.ts).
     */
    const callIn = async (id: string) => {
      if (busy > 0 || onlinePushed() || Date.now() - changes.last < 5_000) return;
      const list = (await provider("GET", `/dmws/v1/campaigns/${id}/devices?state=inProgress&limit=1000`)).json.deviceList as { devId: string }[];
      const late = list.map((x) => byId.get(x.devId)!).filter((d) => !offline(d.i));
      for (const d of late) {
        checkIns.add(d.devId);
        pushes.push(d.devId);
      }
      if (late.length) changes.notify();
    };
    /**
     * Waits for a state of a campaign: looked at again after a push, a session or a webhook, at most
     * twice a second (each look is a request the gateway serves besides the devices'), or every 2 s.
     */
    const until = async (id: string, what: string, test: (c: any) => boolean) => {
      const end = Date.now() + 300_000;
      for (let last = 0; ;) {
        const gap = last + 500 - Date.now();
        if (gap > 0) await new Promise((r) => setTimeout(r, gap));
        last = Date.now();
        const c = (await provider("GET", `/dmws/v1/campaigns/${id}`)).json.campaign;
        if (test(c)) return c;
        if (Date.now() > end) throw new Error(`never: ${what}: ${JSON.stringify({ state: c.state, reason: c.reason, currentWave: c.currentWave, counts: c.counts })}; ${problems.slice(0, 5).join(" | ")}; retried after 503: ${restarts.length}; wrangler: ${serverLog()}`);
        await callIn(id);
        await changes.next(2000);
      }
    };

    // ---- the campaign, the provider's
    const created = await provider("POST", "/dmws/v1/campaigns", {
      name: "firmware 2.1", target: { group },
      operation: { commands: [{ kind: "Replace", target: "./Vendor/Setting", data: "21" }, { kind: "Exec", target: FUMO }] },
      waves: { size: WAVE }, successThreshold: 80, errorThreshold: { percent: 25, action: "pause" },
      callbackReference: { notifyURL: `${receiver.url}/hooks`, callbackData: "fw-2.1" }, start: true,
    });
    expect(created.status, created.text).toBe(201);
    expect(created.json.campaign).toMatchObject({ owner: reg.json.client_id, counts: { total: N } });
    const id: string = created.json.campaign.campaignId;
    const secret: string = created.json.signingSecret;
    try {
      // Wave 2 starts once 80% of wave 1 succeeded (its offline and failing devices are below 20%); paused by request right away.
      await until(id, "wave 2 started", (c) => c.currentWave >= 2);
      const paused = (await provider("POST", `/dmws/v1/campaigns/${id}/pause`)).json.campaign;
      expect(paused).toMatchObject({ state: "paused", pausedBy: "request", currentWave: 2 });
      phase("wave 2 started, paused");
      await idle();
      const held = (await provider("GET", `/dmws/v1/campaigns/${id}`)).json.campaign;
      // Every device that had its job finished it, and nobody else started: a paused campaign starts nobody.
      expect(held).toMatchObject({ state: "paused", currentWave: 2 });
      expect(held.counts.pending).toBe(paused.counts.pending);
      expect(held.counts.pending).toBeGreaterThan(2 * WAVE);

      expect((await provider("POST", `/dmws/v1/campaigns/${id}/resume`)).json.campaign.state).toBe("running");
      // Wave 3's failures (32%) reach the error threshold (25%).
      const byErrors = await until(id, "paused by the error threshold", (c) => c.state === "paused" && c.pausedBy === "errorThreshold");
      expect(byErrors).toMatchObject({ currentWave: 3 });
      expect(byErrors.waveCounts[2].failed).toBeGreaterThanOrEqual(0.25 * WAVE);
      phase("paused by the error threshold");
      expect((await provider("POST", `/dmws/v1/campaigns/${id}/resume`)).json.campaign.state).toBe("running");
      // Wave 3 ends with about two thirds succeeded: below the success threshold, so it pauses again instead of starting wave 4.
      const bySuccess = await until(id, "paused by the success threshold", (c) => c.state === "paused" && c.pausedBy === "successThreshold");
      expect(bySuccess).toMatchObject({ currentWave: 3, waveCounts: expect.arrayContaining([expect.objectContaining({ wave: 3, succeeded: WAVE - FAILING_IN_WAVE_3, failed: FAILING_IN_WAVE_3, inProgress: 0 })]) });
      expect(bySuccess.waveCounts[3]).toMatchObject({ pending: WAVE });
      phase("paused by the success threshold");
      expect((await provider("POST", `/dmws/v1/campaigns/${id}/resume`)).json.campaign.state).toBe("running");
      await until(id, "wave 4 done but for the offline devices", (c) => c.currentWave === 4 && c.counts.pending === 0 && c.counts.inProgress === 50);
      await idle();
      phase("wave 4 done but for the offline devices");

      // The offline devices come online late, each with the package 0 waiting in its outbox (the operator's view of it).
      await pool(devices.filter((d) => offline(d.i)), PARALLEL, async (d) => {
        const outbox = (await admin("GET", `/dm/v1/devices/${enc(d.devId)}/notifications`)).json.notificationList;
        expect(outbox.length).toBeGreaterThanOrEqual(1);
        await session(d, outbox.at(-1).package0);
      });
      const done = await until(id, "completed", (c) => c.state === "completed");
      expect(problems, `wrangler: ${serverLog()}`).toEqual([]);
      if (restarts.length) console.warn(`campaign e2e: ${restarts.length} sessions called again after a 503: ${restarts.slice(0, 3).join(" | ")}; wrangler: ${serverLog()}`);
      expect(done.counts).toEqual({ pending: 0, inProgress: 0, succeeded: N - FAILING, failed: FAILING, timedOut: 0, cancelled: 0, total: N });
      expect(done.waveCounts.map((w: any) => w.succeeded + w.failed)).toEqual([WAVE, WAVE, WAVE, WAVE]);
      const failedList = (await provider("GET", `/dmws/v1/campaigns/${id}/devices?state=failed&limit=1000`)).json.deviceList;
      expect(failedList.map((d: any) => d.devId).sort()).toEqual(devices.filter((d) => failing(d.i)).map((d) => d.devId).sort());
      expect(failedList[0]).toMatchObject({ statuses: ["200", "500"] });
      phase("completed");

      // ---- charging: exactly one record per chargeable result (every device's final result), whatever was retried
      const records = async () => {
        const res = await fetch(`${base}/admin/v1/dm-providers/${enc(reg.json.client_id)}/charging-records?format=ndjson&operationId=${id}`, { headers: ADMIN });
        expect(res.status).toBe(200);
        return (await res.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
      };
      // Records reach the provider's ledger from each device's alarm, shortly after the result.
      let recs = await records();
      for (const end = Date.now() + 60_000; recs.length < N && Date.now() < end; recs = await records()) await new Promise((r) => setTimeout(r, 500));
      expect(recs).toHaveLength(N);
      expect(new Set(recs.map((r) => r.devId)).size).toBe(N);
      expect(new Set(recs.map((r) => r.recordId)).size).toBe(N);
      expect(recs.filter((r) => r.outcome === "failure").map((r) => r.devId).sort()).toEqual(failedList.map((d: any) => d.devId).sort());
      expect(recs.every((r) => r.provider === reg.json.client_id && r.operation === "campaign.commands")).toBe(true);
      const retried = devices.filter((d) => dropsOnce(d.i));
      expect(retried.length).toBeGreaterThan(5);
      expect(recs.filter((r) => retried.some((d) => d.devId === r.devId))).toHaveLength(retried.length);
      phase("charging records counted");

      // ---- cancel: a second campaign over 10 of the devices, 5 per minute; cancelled after the first 5 started
      const second = await provider("POST", "/dmws/v1/campaigns", { target: { devices: devices.slice(600, 610).map((d) => d.devId) }, operation: { commands: [{ kind: "Exec", target: FUMO }] }, maxPerMinute: 5, start: true });
      expect(second.status, second.text).toBe(201);
      const sid = second.json.campaign.campaignId;
      await until(sid, "the first 5 started", (c) => c.counts.pending <= 5);
      const cancelled = (await provider("POST", `/dmws/v1/campaigns/${sid}/cancel`)).json.campaign;
      expect(cancelled).toMatchObject({ state: "cancelled", counts: { pending: 0 } });
      expect(cancelled.counts.cancelled).toBeGreaterThanOrEqual(5);
      await idle();
      const ended = await until(sid, "the cancelled campaign finished", (c) => c.finishedAt !== undefined);
      expect(ended.counts.inProgress + ended.counts.pending).toBe(0);
      expect(ended.counts.succeeded + ended.counts.failed + ended.counts.cancelled).toBe(10);
      phase("second campaign cancelled");

      // ---- webhooks: signed, retried past the refusals; each event once by notificationId
      const finished = () => hooks.some((h) => JSON.parse(h.body).campaignNotification.event === "finished" && JSON.parse(h.body).campaignNotification.campaignId === id);
      for (const end = Date.now() + 120_000; !finished() && Date.now() < end;) await changes.next(1000);
      expect(finished(), hooks.map((h) => JSON.parse(h.body).campaignNotification.event).join(",")).toBe(true);
      const notes = new Map<string, any>();
      for (const h of hooks) {
        const sig = String(h.headers["x-notification-signature"]);
        const t = /t=(\d+)/.exec(sig)![1];
        expect(sig).toBe(`t=${t},v1=${createHmac("sha256", secret).update(`${t}.${h.body}`).digest("hex")}`);
        const n = JSON.parse(h.body).campaignNotification;
        notes.set(n.notificationId, n);
      }
      const events = [...notes.values()].filter((n) => n.campaignId === id);
      expect(events.map((n) => n.event)).toEqual(["started", "waveStarted", "waveStarted", "paused", "resumed", "waveStarted", "paused", "resumed", "paused", "resumed", "waveStarted", "finished"]);
      expect(events.at(-1)).toMatchObject({ state: "completed", callbackData: "fw-2.1", counts: done.counts });
      phase("webhooks checked");
    } finally {
      running = false;
      changes.notify();
      await fleet;
    }
  }, 600_000);
});
