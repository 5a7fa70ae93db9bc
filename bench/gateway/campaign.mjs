// The campaign benchmark: device sessions per second while a campaign runs (src/dmws/campaigns/).
//
// Per measurement a fresh campaign (POST /dmws/v1/campaigns, one wave, no rate limit) puts the DM
// benchmark's 3-command job (bench/gateway/dm.mjs DM_JOB) on each of the campaign devices; once it
// has started every device (counts.pending 0), `connections` workers run one complete WBXML session
// per device (packages 1 and 3, 2 DM round trips, no job POST: the campaign queued it). Each session
// ends with the job done on the device, whose object then reports it to the campaign object (an
// outbox row in the session's transaction, delivered by the device's alarm), which counts it once.
// The clock stops when the campaign has counted every session (GET, polled), so the rate includes the
// campaign's side, not just the sessions. A device whose job is not on it yet (package 2 without
// commands) goes to the back of the queue (a miss, not a unit).
//
// The pool is the campaign's devices (each has one job per campaign): a run ends when they are used
// up (marked † in the table, as activation is), so more devices give a longer run, not more load.
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { codec, DM_JOB, request, session, SessionError, sessionSummary } from "./dm.mjs";
import { cpuMsOf } from "./runtime.mjs";

export async function measureCampaignSessions({ url, adminToken, devices, connections, pid }) {
  const c = await codec();
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections + 1 });
  const api = async (method, path, body) => {
    const res = await request(agent, `${url}${path}`, method, { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" }, body ? Buffer.from(JSON.stringify(body)) : undefined);
    return { status: res.status, json: JSON.parse(res.body.toString() || "null"), text: res.body.toString() };
  };
  try {
    const created = await api("POST", "/dmws/v1/campaigns", { name: "bench", target: { devices: devices.map((d) => d.devId) }, operation: DM_JOB, maxPerMinute: 100_000, start: true });
    if (created.status !== 201) throw new Error(`campaign POST: HTTP ${created.status} ${created.text.slice(0, 300)}`);
    const id = created.json.campaign.campaignId;
    const campaign = async () => (await api("GET", `/dmws/v1/campaigns/${id}`)).json.campaign;
    for (let i = 0; (await campaign()).counts.pending > 0; i++) {
      if (i > 6000) throw new Error("the campaign never started every device");
      await sleep(20);
    }

    const stats = { requests: 0, ok: 0, statuses: {}, errors: 0, units: 0, misses: 0, total: [], dm: [], firstError: undefined };
    const queue = [...devices];
    const cpu0 = cpuMsOf(pid);
    const self0 = process.cpuUsage();
    const wall0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(connections, devices.length) }, async () => {
      for (let device = queue.shift(); device; device = queue.shift()) {
        try {
          const r = await session(c, agent, url, adminToken, device, stats, undefined, { postJob: false });
          if (r.noJob) {
            stats.misses += 1;
            queue.push(device);
            await sleep(5);
            continue;
          }
          stats.units += 1;
          stats.total.push(r.total);
          stats.dm.push(r.dm);
        } catch (err) {
          stats.errors += 1;
          stats.firstError ??= err.message;
          if (!(err instanceof SessionError)) await sleep(10);
        }
      }
    }));
    const sessionsMs = performance.now() - wall0;
    // Counted: every completed session is a succeeded device of the campaign.
    let counts;
    for (let i = 0; ; i++) {
      counts = (await campaign()).counts;
      if (counts.succeeded >= stats.units) break;
      if (i > 3000) throw new Error(`the campaign counted ${counts.succeeded} of ${stats.units} sessions`);
      await sleep(5);
    }
    const wallMs = performance.now() - wall0;
    const workers = Math.min(connections, devices.length);
    const summary = sessionSummary({ stats, wallMs, workerdCpuMs: cpuMsOf(pid) - cpu0, self: process.cpuUsage(self0), workers, devices: devices.length, pid });
    return { ...summary, misses: stats.misses, sessionsSeconds: sessionsMs / 1000, campaignCounts: counts, poolExhausted: true };
  } finally {
    agent.destroy();
  }
}
