#!/usr/bin/env node
// `npm run bench:unit -- toggle,toggle-hot,read` — workerd CPU per unit of a few benchmarks, for an A/B
// between two commits of the code (run it on each): a fresh workerd with 100 pairs, 16 connections, 2 s
// warm-up, 4 s measured, one line per benchmark id (ids as in bench/gateway/benchmarks.mjs: ref-do-read,
// ref-do-write, read, toggle, toggle-hot, token, ...). A diagnostic beside `npm run bench`, not a benchmark:
// no references run in the same pairs, so compare CPU per unit of runs made on a quiet machine.
// `--slices N` measures the ids in turn instead, N short slices each, for ratios in the same machine state.
// `--profile` also writes build/bench/unit-<id>.cpuprofile and prints the top self time by origin.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, PROJECT_ROOT } from "./gateway/build.mjs";
import { ADMIN_TOKEN, freePort, startRuntime } from "./gateway/runtime.mjs";
import { GatewayClient } from "./gateway/client.mjs";
import { seed, topUpActivationPool } from "./gateway/seed.mjs";
import { benchmarks } from "./gateway/benchmarks.mjs";
import { measure } from "./gateway/load.mjs";
import { profileWhile, summarise } from "./gateway/profile.mjs";

const args = process.argv.slice(2);
/** Fresh secondaries made before each activation run (each activation uses one up; see seed.mjs on local workerd's object limit). */
const ACTIVATION_POOL = 600;
const profiling = args.includes("--profile");
const ids = (args.find((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--")) ?? "read,toggle").split(",");
const fail = (msg) => {
  throw new Error(msg);
};
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
// --subscribers N: the pairs seeded (100; the full bench seeds 500), --connections N (16), --seconds N (4).
const subscribers = option("--subscribers", 100);
const connections = option("--connections", 16);
const seconds = option("--seconds", 4);
// --ramp-ms N: milliseconds between the starts of a run's connections (15, as the full bench; 0: all at once).
const rampMs = option("--ramp-ms", 15);
// The rest of the full bench's population, to measure a unit among as many live objects as there:
// --hot-twins N (8; full: 32), --activation-primaries N (4; full: 250), --dm-devices N (0; full: 128),
// --campaign-devices N (0; full: 1000).
const population = {
  hotTwins: option("--hot-twins", 8),
  activationPrimaries: option("--activation-primaries", 4),
  dmDevices: option("--dm-devices", 0),
  campaignDevices: option("--campaign-devices", 0),
};
const work = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : "/tmp", "oma-unit-"));
const built = await build(join(work, "out"), { buildWasm: false });
const inspectorPort = profiling ? await freePort() : undefined;
const runtime = await startRuntime({ build: built, persistDir: join(work, "state"), inspectorPort, logLevel: "warn" });
try {
  const gw = new GatewayClient(runtime.urls.gateway, ADMIN_TOKEN);
  const seeded = await seed(gw, { subscribers, ...population, concurrency: 8 });
  const list = benchmarks({ urls: runtime.urls, seed: seeded, subscribers });
  // --settle N: seconds with no request after seeding, as the full bench waits 33 s for activation alarms.
  const settle = option("--settle", 0);
  if (settle) await new Promise((r) => setTimeout(r, settle * 1000));
  // --slices N (--slice-seconds S, 1.5): the ids measured in turn, N times each, S seconds a slice after
  // 0.5 s of warm-up, one line per turn with the CPU per unit of each and its ratio to the first id (the
  // reference) in the same turn; then the median ratio. Slices next to each other share the machine's
  // state, so the ratio holds where the absolute CPU of a run drifts (see BENCHMARKS.md: "bimodal").
  const slices = option("--slices", 0);
  if (slices) {
    const specs = ids.map((id) => list.find((x) => x.id === id) ?? fail(`no benchmark ${id}`));
    if (specs.some((b) => b.run || b.id === "activation")) fail("--slices takes autocannon benchmarks only (not activation, dm-session, campaign)");
    const sliceSeconds = option("--slice-seconds", 1.5);
    const ratios = specs.map(() => []);
    for (let turn = 0; turn < slices; turn++) {
      const cpu = [];
      for (const b of specs) cpu.push((await measure({ ...b.spec(), connections, duration: sliceSeconds, warmup: 0.5, pid: runtime.pid, rampMs })).workerdCpuUsPerUnit);
      cpu.forEach((us, k) => ratios[k].push(cpu[0] / us));
      console.log(`turn ${turn + 1}: ${ids.map((id, k) => `${id} ${Math.round(cpu[k])} µs${k ? ` (${Math.round((100 * cpu[0]) / cpu[k])}%)` : ""}`).join(", ")}`);
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    for (const [k, id] of ids.entries()) if (k) console.log(`${id}: median ${Math.round(100 * median(ratios[k]))}% of ${ids[0]}'s CPU per unit, range ${Math.round(100 * Math.min(...ratios[k]))}–${Math.round(100 * Math.max(...ratios[k]))}%`);
  }
  for (const [i, id] of (slices ? [] : ids).entries()) {
    const b = list.find((x) => x.id === id);
    if (!b) throw new Error(`no benchmark ${id}: one of ${list.map((x) => x.id).join(", ")}`);
    // Filled before a run (and before its profile starts), so that provisioning is not measured.
    // Local workerd keeps an object ~10 s after its last request and fails past ~1,800 live ones
    // (seed.mjs): the previous run's secondaries are let go first.
    let filled = false;
    const fill = async () => {
      if (id !== "activation") return;
      if (filled) await new Promise((r) => setTimeout(r, 12_000));
      filled = true;
      await topUpActivationPool(gw, seeded, ACTIVATION_POOL, 8);
    };
    const run = (seconds) => {
      const opts = { connections, duration: seconds, warmup: 0, pid: runtime.pid, rampMs };
      return b.run ? b.run(opts) : measure({ ...b.spec(), ...opts });
    };
    await fill();
    await run(2);
    await fill();
    const r = await run(seconds);
    console.log(`${id}: ${Math.round(r.unitsPerSecond)}/s, workerd ${Math.round(r.workerdCpuUsPerUnit)} µs CPU per ${b.unit ?? "request"}, p99 ${r.p99.toFixed(1)} ms`);
    if (!profiling) continue;
    const worker = id.startsWith("ref-do") ? "bare" : id === "ref-empty" ? "empty" : "gateway";
    await fill();
    const { profile } = await profileWhile(inspectorPort, worker, () => run(seconds));
    const dir = join(PROJECT_ROOT, "build", "bench");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `unit-${id}${ids.indexOf(id) === i ? "" : `-${i}`}.cpuprofile`), JSON.stringify(profile));
    const s = summarise(profile, built.gatewayDir);
    console.log(`  self time by origin: ${s.selfByCategory.slice(0, 10).map((x) => `${x.what} ${x.percent}%`).join(", ")}`);
  }
} finally {
  await runtime.dispose();
  // --keep-state: leave the Durable Objects' SQLite files for a look afterwards (the path is printed).
  if (args.includes("--keep-state")) console.log(`state kept in ${join(work, "state")}`);
  else rmSync(work, { recursive: true, force: true });
}
