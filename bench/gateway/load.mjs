// The load generator: autocannon on loopback at a fixed connection count and duration, with
// latencies taken from autocannon's own per-response timer (float ms, 2xx only) and the CPU time
// workerd and this process used during the run.
import { createRequire } from "node:module";
import { PROJECT_ROOT } from "./build.mjs";
import { cpuMsOf, memoryOf } from "./runtime.mjs";
import { join } from "node:path";
import { readdirSync } from "node:fs";

/** Open file descriptors of workerd: about 3 per live SQLite-backed Durable Object. */
const openFiles = (pid) => readdirSync(`/proc/${pid}/fd`).length;

const autocannon = createRequire(join(PROJECT_ROOT, "package.json"))("autocannon");

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/**
 * Connections that start in the same millisecond reach the same objects in step and can stay bunched
 * for the whole run, where a call costs workerd about twice as much (BENCHMARKS.md, "bimodal"): each
 * connection of a run is its own autocannon instance, started RAMP_MS after the previous one. The
 * references get the same load shape. `rampMs: 0` starts them together as one instance.
 */
export const RAMP_MS = 15;

async function fireRamped(opts, rampMs, onResponse) {
  const runs = [];
  for (let k = 0; k < opts.connections; k++) {
    if (k) await new Promise((r) => setTimeout(r, rampMs));
    runs.push(fire({ ...opts, connections: 1 }, onResponse));
  }
  const results = await Promise.all(runs);
  const sum = (f) => results.reduce((a, r) => a + f(r), 0);
  return {
    // Each connection ran `duration`: the rate is that of `connections` running together that long.
    duration: Math.max(...results.map((r) => r.duration)),
    "2xx": sum((r) => r["2xx"]),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    requests: { total: sum((r) => r.requests.total) },
  };
}

function fire(opts, onResponse) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (onResponse) instance.on("response", onResponse);
    opts.onInstance?.(instance);
  });
}

/**
 * One measured run. `spec`: { url, method, path, headers, body, requests, connections, duration,
 * warmup (s), pid (workerd), units(result) -> completed units (default: 2xx responses),
 * unitLatencies -> array the spec fills itself (for multi-request units) }.
 */
export async function measure(spec) {
  const base = {
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    timeout: 30,
    // autocannon ends a run (at its duration, or on stop()) at the next sample tick: 100 ms
    // ticks keep 0.5 s warm-ups and an activation run stopped early (pool used up) accurate.
    sampleInt: 100,
    method: spec.method ?? "GET",
    headers: spec.headers,
    body: spec.body,
    requests: spec.requests,
  };
  // A spec that stops its own run (onInstance: the activation pool) keeps one instance.
  const rampMs = spec.onInstance ? 0 : (spec.rampMs ?? RAMP_MS);
  const launch = (opts, onResponse) => (rampMs > 0 && opts.connections > 1 ? fireRamped(opts, rampMs, onResponse) : fire({ ...opts, onInstance: spec.onInstance }, onResponse));
  if (spec.warmup > 0) {
    spec.onPhase?.("warmup");
    await launch({ ...base, duration: spec.warmup });
  }
  spec.onPhase?.("measure");
  const latencies = [];
  const statuses = {};
  const cpu0 = cpuMsOf(spec.pid);
  const self0 = process.cpuUsage();
  const wall0 = performance.now();
  const result = await launch({ ...base, duration: spec.duration }, (_client, status, _bytes, ms) => {
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status >= 200 && status < 300) latencies.push(ms);
  });
  const wallMs = performance.now() - wall0;
  const workerdCpuMs = cpuMsOf(spec.pid) - cpu0;
  const self = process.cpuUsage(self0);
  const seconds = result.duration; // actual, shorter when the run stopped early
  const ok = result["2xx"];
  const total = result.requests.total;
  const sample = spec.unitLatencies ?? latencies;
  const sorted = Float64Array.from(sample).sort();
  const units = spec.units ? spec.units() : ok;
  return {
    seconds,
    requests: total,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statuses,
    rps: ok / seconds,
    unitsPerSecond: units / seconds,
    units,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
    workerdCpuUsPerRequest: total ? (workerdCpuMs * 1000) / total : NaN,
    workerdCpuUsPerUnit: units ? (workerdCpuMs * 1000) / units : NaN,
    workerdCpuPercent: (workerdCpuMs / wallMs) * 100,
    loadGeneratorCpuPercent: ((self.user + self.system) / 1000 / wallMs) * 100,
    workerdRssAfter: memoryOf(spec.pid).rss,
    workerdOpenFilesAfter: openFiles(spec.pid),
  };
}
