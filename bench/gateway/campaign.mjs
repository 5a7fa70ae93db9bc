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
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { codec, DM_JOB, request, session, SessionError } from "./dm.mjs";
import { cpuMsOf, memoryOf } from "./runtime.mjs";

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

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
    const workerdCpuMs = cpuMsOf(pid) - cpu0;
    const self = process.cpuUsage(self0);
    const seconds = wallMs / 1000;
    const sorted = Float64Array.from(stats.total).sort();
    const dmSorted = Float64Array.from(stats.dm).sort();
    const nonOk = stats.requests - stats.ok;
    return {
      seconds,
      requests: stats.requests,
      ok: stats.ok,
      non2xx: nonOk,
      errors: Math.max(0, stats.errors - nonOk),
      timeouts: 0,
      statuses: stats.statuses,
      firstError: stats.firstError,
      rps: stats.ok / seconds,
      unitsPerSecond: stats.units / seconds,
      units: stats.units,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      mean: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
      dmP50: percentile(dmSorted, 50),
      dmP99: percentile(dmSorted, 99),
      workers: Math.min(connections, devices.length),
      devices: devices.length,
      misses: stats.misses,
      sessionsSeconds: sessionsMs / 1000,
      campaignCounts: counts,
      poolExhausted: true,
      workerdCpuUsPerRequest: stats.requests ? (workerdCpuMs * 1000) / stats.requests : NaN,
      workerdCpuUsPerUnit: stats.units ? (workerdCpuMs * 1000) / stats.units : NaN,
      workerdCpuPercent: (workerdCpuMs / wallMs) * 100,
      loadGeneratorCpuPercent: ((self.user + self.system) / 1000 / wallMs) * 100,
      workerdRssAfter: memoryOf(pid).rss,
      workerdOpenFilesAfter: readdirSync(`/proc/${pid}/fd`).length,
    };
  } finally {
    agent.destroy();
  }
}
