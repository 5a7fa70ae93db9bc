#!/usr/bin/env node
// `npm run bench` — the gateway against the runtime's own limits, measured in one run.
//
// Builds the Worker as `wrangler deploy` would (`wrangler deploy --dry-run --outdir`), starts the
// workerd that `wrangler dev` runs (wrangler's own Miniflare) with the gateway AND the reference
// Workers in one process, each on a direct loopback socket (no dev proxy, no Miniflare entry
// worker), seeds subscribers, a client, tokens and twins through the real HTTP API, then drives
// every benchmark with autocannon at a fixed connection count and duration (complete SyncML DM sessions,
// which must read each server package to answer it, with their own fixed-concurrency loop:
// bench/gateway/dm.mjs). Each gateway benchmark
// runs right after a fresh run of its reference and the ratio is taken per pair, because the
// machine is shared. After the workerd runs, the WBXML codec against libwbxml (bench/codec.mjs, when
// ../shared/bench/libwbxml-ref and libwbxml2-dev are there; skipped with the reason otherwise).
// See BENCHMARKS.md, "Gateway".
//
//   npm run bench                 full run: 3 rounds, 500 twinned pairs, then CPU profiles and
//                                 storage commits per unit on a second workerd (~8.5 minutes)
//   npm run bench -- --quick      CI smoke run (~1 minute)
//
// Exit status: non-zero on a crash, or when a benchmark is broken (more than 1% of its answers not
// 2xx: it measured errors, not the gateway); never because of a number.
//
// Options: --rounds N, --duration S, --warmup S, --connections N, --subscribers N,
//          --profile / --no-profile (CPU profiles), --syscalls / --no-syscalls (fsyncs per unit, needs strace),
//          --state DIR (where Durable Object storage lives; default /dev/shm, in memory; a disk
//          directory such as /tmp adds this machine's fsync, as `wrangler dev` has it),
//          --out FILE (default bench/results.json),
//          --log-level L (the gateway's LOG_LEVEL; default warn: no access log line per request),
//          --asset-router (put workerd's local emulation of the static-assets router in front of the
//          gateway, as `wrangler dev` has it; on Cloudflare it runs before the Worker, off its CPU),
//          --no-build-wasm (use the existing build/codec.wasm instead of `npm run build:wasm`),
//          --dm-devices N (DM devices, default 4 per connection), --campaign-devices N (devices per
//          campaign in the campaign row, default 1000, quick 300), --codec-seconds S (bench/codec.mjs
//          seconds per measurement; default 2, quick 0.5).
// Prints a table and writes bench/results.json; CPU profiles go to build/bench/*.cpuprofile.
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { build, PROJECT_ROOT, wranglerRequire } from "./gateway/build.mjs";
import { ADMIN_TOKEN, cpuMsOf, freePort, memoryOf, startRuntime } from "./gateway/runtime.mjs";
import { GatewayClient } from "./gateway/client.mjs";
import { seed, topUpActivationPool } from "./gateway/seed.mjs";
import { benchmarks, NOT_BUILT_YET, ROUND } from "./gateway/benchmarks.mjs";
import { measure } from "./gateway/load.mjs";
import { profileWhile, summarise } from "./gateway/profile.mjs";
import { countSyncs, straceAvailable } from "./gateway/syscalls.mjs";
import { printReport, summariseRounds } from "./gateway/report.mjs";
import { codecCostPerSession, verifyDmSession } from "./gateway/dm.mjs";
import { codecVsLibwbxml } from "./gateway/codec-ref.mjs";

const args = process.argv.slice(2);
const flag = (name) => args.includes(`--${name}`);
const value = (name) => (args.indexOf(`--${name}`) >= 0 ? args[args.indexOf(`--${name}`) + 1] : undefined);
const number = (name, fallback) => (value(name) !== undefined ? Number(value(name)) : fallback);
const quick = flag("quick");
const config = {
  mode: quick ? "quick" : "full",
  rounds: number("rounds", quick ? 1 : 3),
  warmup: number("warmup", quick ? 0.5 : 1),
  duration: number("duration", quick ? 2 : 5),
  connections: number("connections", 32),
  // Milliseconds between the starts of a run's connections (bench/gateway/load.mjs RAMP_MS); 0: all at once.
  rampMs: number("ramp-ms", 15),
  // Local workerd fails with SQLITE_NOMEM once ~3,300 SQLite-backed objects are live at once (the
  // bare reference alone shows it; objects leave memory after ~10 s idle). 500 twinned pairs keep
  // the read and toggle runs (1,000 subscriber objects + 500 reference objects) well below that.
  subscribers: number("subscribers", quick ? 100 : 500),
  hotTwins: 32,
  activationPrimaries: quick ? 50 : 250,
  // SyncML DM: devices split among the connections (4 each), so no device has two sessions at once.
  dmDevices: number("dm-devices", 4 * number("connections", 32)),
  // The campaign benchmark: devices in each measurement's campaign (one session each: the pool).
  campaignDevices: number("campaign-devices", quick ? 300 : 1000),
  // bench/codec.mjs seconds per measurement (the codec against libwbxml, after the workerd runs).
  codecSeconds: number("codec-seconds", quick ? 0.5 : 2),
  seedConcurrency: 32,
  // Every activation leaves a reservation alarm on the primary and a deadline alarm on the
  // secondary that fire 30 s later (ACTIVATION_DEADLINE_MS) and write. The full run lets that
  // wave pass after seeding and between rounds, so it does not land in another benchmark.
  settleSeconds: quick ? 0 : 33,
  // Before each measured run, workerd's CPU over this long with no request in flight: work left in the
  // background (alarms, deliveries of an earlier run) that the run's CPU per unit would otherwise absorb.
  idleSampleMs: quick ? 0 : 1000,
  profile: flag("profile") || (!quick && !flag("no-profile")),
  profileSeconds: 4,
  syscalls: (flag("syscalls") || (!quick && !flag("no-syscalls"))) && straceAvailable(),
  diagnosticSubscribers: 100,
  stateDir: value("state") ?? defaultStateDir(),
  logLevel: value("log-level") ?? "warn",
  assetRouter: flag("asset-router"),
  // Activation creates two objects per unit (the fresh secondary, the code); keep the live count
  // under local workerd's limit (see `subscribers`): a shorter run and a capped pool of secondaries.
  activationDuration: Math.min(number("duration", quick ? 2 : 5), 2),
  activationWarmup: 0.5,
  maxActivationPool: 700,
};

/**
 * Durable Object storage in memory (/dev/shm) when there is one: a commit then costs what the
 * runtime's SQLite layer costs, not this VM's disk flush, which other jobs on the machine
 * disturb. `--state DIR` puts it elsewhere (e.g. on disk, as `wrangler dev` does).
 */
function defaultStateDir() {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return "/dev/shm";
  } catch {
    return os.tmpdir();
  }
}
const outFile = value("out") ?? join(PROJECT_ROOT, "bench", "results.json");
/** Share of non-2xx answers above which a benchmark is broken (not slow): the run fails. */
const MAX_ERROR_SHARE = 0.01;

const started = Date.now();
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function machine() {
  const cpus = os.cpus();
  const miniflareDir = dirname(wranglerRequire.resolve("miniflare/package.json"));
  const version = (path) => {
    try {
      return JSON.parse(readFileSync(path, "utf8")).version;
    } catch {
      return "?";
    }
  };
  return {
    cpu: cpus[0]?.model ?? "?",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    workerd: version(join(miniflareDir, "..", "workerd", "package.json")),
    miniflare: version(join(miniflareDir, "package.json")),
    wrangler: version(join(miniflareDir, "..", "..", "package.json")),
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Waits until `seconds` have passed since `since` (ms), saying why. */
async function settle(since, why) {
  const left = since + config.settleSeconds * 1000 - Date.now();
  if (left <= 0) return;
  log(`waiting ${(left / 1000).toFixed(0)}s for ${why}`);
  await sleep(left);
}

/** workerd's CPU (percent of one core) over `ms` with nothing sent to it; undefined when not sampled. */
async function idleCpu(pid, ms) {
  if (!ms) return undefined;
  const cpu0 = cpuMsOf(pid);
  await sleep(ms);
  return (100 * (cpuMsOf(pid) - cpu0)) / ms;
}

function logResult(prefix, b, result) {
  const unit = b.unit ? ` (${result.unitsPerSecond.toFixed(0)} ${b.unit}s/s)` : "";
  log(
    `${prefix} ${b.id.padEnd(16)} ${result.rps.toFixed(0).padStart(6)} req/s${unit}  p50 ${result.p50.toFixed(2)} ms  p99 ${result.p99.toFixed(2)} ms  ` +
      `workerd ${result.workerdCpuPercent.toFixed(0)}% CPU, ${result.workerdCpuUsPerUnit.toFixed(0)} us/${b.unit ?? "req"}  load gen ${result.loadGeneratorCpuPercent.toFixed(0)}%  RSS ${mib(result.workerdRssAfter)}, ${result.workerdOpenFilesAfter} fds` +
      `${result.idleCpuPercentBefore !== undefined ? `  idle before ${result.idleCpuPercentBefore.toFixed(0)}%` : ""}` +
      `${result.non2xx ? `  non-2xx ${result.non2xx}` : ""}${result.errors ? `  errors ${result.errors}` : ""}${result.poolExhausted ? "  (pool used up: stopped early)" : ""}`,
  );
}

async function main() {
  const work = mkdtempSync(join(config.stateDir, "oma-edge-bench-"));
  let runtime;
  let failed = false;
  const cleanup = async () => {
    if (process.exitCode || failed) {
      const tail = runtime?.output().trim();
      if (tail) console.error(`--- workerd output (tail) ---\n${tail.slice(-8000)}\n---`);
    }
    await runtime?.dispose().catch(() => undefined);
    runtime = undefined;
    rmSync(work, { recursive: true, force: true });
  };
  process.once("SIGINT", () => void cleanup().finally(() => process.exit(130)));
  try {
    const info = machine();
    log(`${config.mode} run: ${config.rounds} round(s) x ${config.duration}s (+${config.warmup}s warm-up), ${config.connections} connections, ${config.subscribers} subscribers, storage in ${config.stateDir}`);

    const built = await build(join(work, "out"), { buildWasm: !flag("no-build-wasm") });
    log(`built: bundle ${(built.bundle.gzipBytes / 1024).toFixed(1)} KiB gzip (${(built.bundle.rawBytes / 1024).toFixed(1)} KiB raw)`);

    // ------------------------------------------------------------------ the measured runs
    runtime = await startRuntime({ build: built, persistDir: join(work, "state"), logLevel: config.logLevel, assetRouter: config.assetRouter });
    const memoryAtStart = memoryOf(runtime.pid);
    log(`workerd ${info.workerd} pid ${runtime.pid}, RSS ${mib(memoryAtStart.rss)}; direct sockets ${JSON.stringify(runtime.urls)}`);

    const gw = new GatewayClient(runtime.urls.gateway, ADMIN_TOKEN);
    let t = Date.now();
    const seeded = await seed(gw, { subscribers: config.subscribers, hotTwins: config.hotTwins, activationPrimaries: config.activationPrimaries, dmDevices: config.dmDevices, campaignDevices: config.campaignDevices, concurrency: config.seedConcurrency });
    const seededAt = Date.now();
    const memoryAfterSeed = memoryOf(runtime.pid);
    log(`seeded ${config.subscribers} twinned pairs, a hot primary with ${config.hotTwins} twins, ${config.activationPrimaries} activation primaries, ${config.dmDevices} DM devices in ${((seededAt - t) / 1000).toFixed(1)}s; workerd RSS ${mib(memoryAfterSeed.rss)}`);
    // One DM session checked end to end (job done, the Get's result in the tree); its messages
    // also serve the codec estimate after the run.
    let dmRecord;
    let dmVerifyError;
    try {
      dmRecord = await verifyDmSession({ url: runtime.urls.gateway, adminToken: ADMIN_TOKEN, device: seeded.dm.devices[0] });
      log(`DM session verified: WBXML packages of ${dmRecord.pkg1.length}, ${dmRecord.pkg2.length}, ${dmRecord.pkg3.length}, ${dmRecord.pkg4.length} bytes`);
    } catch (err) {
      dmVerifyError = err.message;
      log(`DM session check FAILED: ${err.message}`);
    }

    const list = benchmarks({ urls: runtime.urls, seed: seeded, subscribers: config.subscribers });
    const rounds = [];
    let activationRate = 300; // activations/s, a first guess; the pool is sized from the last round
    const poolSize = () =>
      Math.min(config.maxActivationPool, Math.ceil(activationRate * (config.activationWarmup + config.activationDuration) * 1.3) + 2 * config.connections);
    let lastActivation = seededAt;
    for (let r = 0; r < config.rounds; r++) {
      await settle(lastActivation, "the activation alarms (30 s deadlines) to fire before measuring");
      const round = [];
      const latest = {};
      for (const id of ROUND) {
        const b = list.find((x) => x.id === id);
        if (b.id === "activation") {
          t = Date.now();
          const added = await topUpActivationPool(gw, seeded, poolSize(), config.seedConcurrency);
          if (added) log(`activation pool: +${added} fresh secondaries in ${((Date.now() - t) / 1000).toFixed(1)}s`);
        }
        const poolBefore = seeded.activation.pool.length;
        const activation = b.id === "activation";
        const opts = {
          connections: config.connections,
          duration: activation ? config.activationDuration : config.duration,
          warmup: activation ? config.activationWarmup : config.warmup,
          pid: runtime.pid,
          rampMs: config.rampMs,
        };
        // A benchmark with its own load loop (DM sessions) runs itself; the rest are autocannon specs.
        const spec = b.run ? undefined : b.spec();
        const idleCpuPercent = await idleCpu(runtime.pid, config.idleSampleMs);
        const result = b.run ? await b.run(opts) : await measure({ ...spec, ...opts });
        if (idleCpuPercent !== undefined) result.idleCpuPercentBefore = idleCpuPercent;
        if (activation) Object.assign(result, { poolBefore, popped: spec.popped() });
        if (result.firstError) log(`${b.id}: first failed unit: ${result.firstError}`);
        if (Object.keys(result.statuses).some((s) => s >= "500")) result.workerdOutputTail = runtime.output().slice(-4000);
        if (spec?.exhausted?.()) {
          result.poolExhausted = true;
          result.non2xx -= spec.noops();
        }
        if (b.id === "activation") {
          if (result.units > 0) activationRate = Math.max(activationRate, result.unitsPerSecond);
          lastActivation = Date.now();
        }
        // The reference runs this one is compared with: the latest of this round (index in it).
        if (b.ref) result.refIndex = latest[b.ref];
        if (b.alsoRef) result.alsoRefIndex = latest[b.alsoRef];
        latest[b.id] = round.length;
        round.push({ id: b.id, ...result });
        logResult(`round ${r + 1}`, b, result);
      }
      rounds.push(round);
    }
    const memory = { ...memoryOf(runtime.pid), rssAtStart: memoryAtStart.rss, rssAfterSeeding: memoryAfterSeed.rss };
    log(`workerd peak RSS ${mib(memory.peakRss)} (${mib(memoryAtStart.rss)} at start, ${mib(memoryAfterSeed.rss)} after seeding)`);
    await runtime.dispose();
    runtime = undefined;

    // ------------------------------------------------------------------ the codec, alone on the machine
    // The server's codec work per DM session (the same WASM on Node), and the codec against libwbxml.
    const dmCodec = dmRecord ? await codecCostPerSession(dmRecord, quick ? 0.5 : 1) : undefined;
    if (dmCodec) log(`DM codec work per session (Node, same WASM): ${dmCodec.totalUs} us (decode pkg1 ${dmCodec.decodePkg1Us}, encode pkg2 ${dmCodec.encodePkg2Us}, decode pkg3 ${dmCodec.decodePkg3Us}, encode pkg4 ${dmCodec.encodePkg4Us})`);
    t = Date.now();
    const codecRef = codecVsLibwbxml(config.codecSeconds);
    if (codecRef.skipped) log(`codec vs libwbxml skipped: ${codecRef.skipped}`);
    else log(`codec vs libwbxml (${codecRef.command}, ${((Date.now() - t) / 1000).toFixed(0)}s): encode ${codecRef.encodeRatio}x, decode ${codecRef.decodeRatio}x (documents/s, ours / libwbxml)`);

    // ------------------------------------------------------------------ diagnostics
    let diagnostics = {};
    if (config.profile || config.syscalls) diagnostics = await diagnosticsRun(built, work);

    const summary = summariseRounds(list, rounds);
    const extra = args.filter((a) => a !== "--quick");
    const results = {
      generatedAt: new Date().toISOString(),
      command: `npm run bench${args.length ? ` -- ${quick ? "--quick" : ""}${quick && extra.length ? " " : ""}${extra.join(" ")}` : ""}`,
      config,
      machine: { ...info, loadAverageAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      bundle: { ...built.bundle, targetGzipBytes: 1_000_000, meetsTarget: built.bundle.gzipBytes < 1_000_000 },
      workerdMemory: memory,
      summary,
      notBuiltYet: NOT_BUILT_YET,
      dm: { verifyError: dmVerifyError, bytes: dmCodec?.bytes, codecPerSession: dmCodec, job: "queued inside the measured flow (POST /dm/v1/devices/{devId}/jobs, then 2 DM round trips)" },
      codecVsLibwbxml: codecRef,
      rounds,
      storageCommits: diagnostics.commits,
      profiles: diagnostics.profiles,
      wallSeconds: Math.round((Date.now() - started) / 1000),
    };
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
    printReport(results);
    log(`wrote ${outFile} (${results.wallSeconds}s in all)`);

    const broken = summary.filter((s) => s.errorShare > MAX_ERROR_SHARE);
    if (dmVerifyError) console.error(`BROKEN: dm-session: the checked session failed: ${dmVerifyError}`);
    if (dmVerifyError) process.exitCode = 1;
    if (broken.length) {
      for (const s of broken) console.error(`BROKEN: ${s.id}: ${(s.errorShare * 100).toFixed(1)}% of answers were not 2xx (${JSON.stringify(s.statuses)})`);
      process.exitCode = 1;
    }
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    await cleanup();
  }

  /**
   * A second workerd on fresh storage and a small seed, this time with the inspector and under
   * strace: both cost throughput, so no number in the table comes from it. It gives durable
   * storage commits (fsyncs) per unit of work, and CPU profiles of the gateway's isolate.
   */
  async function diagnosticsRun(built, work) {
    const inspectorPort = await freePort();
    runtime = await startRuntime({ build: built, persistDir: join(work, "diagnostics"), inspectorPort, logLevel: config.logLevel, assetRouter: config.assetRouter });
    const gw = new GatewayClient(runtime.urls.gateway, ADMIN_TOKEN);
    const n = Math.min(config.subscribers, config.diagnosticSubscribers);
    const seeded = await seed(gw, { subscribers: n, hotTwins: config.hotTwins, activationPrimaries: 20, dmDevices: config.dmDevices, concurrency: config.seedConcurrency });
    const seededAt = Date.now();
    log(`diagnostics: second workerd (inspector on), seeded ${n} pairs`);
    const list = benchmarks({ urls: runtime.urls, seed: seeded, subscribers: n });
    const run = (b, seconds) => {
      const opts = { connections: config.connections, duration: seconds, warmup: 0, pid: runtime.pid };
      return b.run ? b.run(opts) : measure({ ...b.spec(), ...opts });
    };
    const ensurePool = (seconds) => topUpActivationPool(gw, seeded, Math.min(config.maxActivationPool, Math.ceil(450 * seconds * 1.3) + 2 * config.connections), config.seedConcurrency);

    const commits = {};
    if (config.syscalls) {
      try {
        await countCommits();
      } catch (err) {
        log(`storage commits skipped: ${err.message}`);
        commits.skipped = err.message;
      }
    }
    async function countCommits() {
      await settle(seededAt, "the seeding's activation alarms before counting commits");
      for (const id of ["ref-do-write", "ref-do-write-hot", "read", "toggle", "toggle-hot", "token", "verify-cached", "dm-session", "activation"]) {
        const b = list.find((x) => x.id === id);
        if (id === "activation") await ensurePool(4);
        const warm = await run(b, 0.5);
        const { syncs, kinds, result } = await countSyncs(runtime.pid, () => run(b, 3));
        const per = (n) => Math.round((100 * n) / Math.max(1, result.units)) / 100;
        commits[id] = { syncs, units: result.units, perUnit: per(syncs), byKind: Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, per(n)])) };
        log(`storage commits ${id}: ${commits[id].perUnit} fsync per ${b.unit ?? "request"} (${syncs} / ${result.units}; ${JSON.stringify(commits[id].byKind)})`);
        if (id === "activation" && config.settleSeconds > 0) {
          // The alarms each activation leaves behind fire 30 s later: count their commits too.
          const units = warm.units + result.units;
          const { syncs: deferred, kinds } = await countSyncs(runtime.pid, () => sleep(config.settleSeconds * 1000));
          const per = (n) => Math.round((100 * n) / Math.max(1, units)) / 100;
          commits["activation-deferred"] = { syncs: deferred, units, perUnit: per(deferred), byKind: Object.fromEntries(Object.entries(kinds).map(([k, n]) => [k, per(n)])) };
          log(`storage commits activation, deferred (alarms, next ${config.settleSeconds}s): ${deferred} fsyncs`);
        }
      }
    }

    const profiles = {};
    if (config.profile) {
      const profileDir = join(PROJECT_ROOT, "build", "bench");
      mkdirSync(profileDir, { recursive: true });
      for (const id of ["read", "toggle", "toggle-hot", "token", "dm-session", "activation"]) {
        const b = list.find((x) => x.id === id);
        // Activation last, on an isolate warmed by the others: no warm-up run to eat the pool.
        const seconds = id === "activation" ? 1.2 : config.profileSeconds;
        if (id === "activation") await ensurePool(seconds);
        else await run(b, 1); // warm the isolate: the profile shows the steady state, not the first compile
        const { profile, result } = await profileWhile(inspectorPort, "gateway", () => run(b, seconds));
        const file = join(profileDir, `${id}.cpuprofile`);
        writeFileSync(file, JSON.stringify(profile));
        profiles[id] = { file, rpsWhileProfiling: Math.round(result.rps), unitsPerSecondWhileProfiling: Math.round(result.unitsPerSecond), ...summarise(profile, built.gatewayDir) };
        log(`profiled ${id}: ${profiles[id].sampledMs} ms sampled, ${profiles[id].rpsWhileProfiling} req/s while profiling -> ${file}`);
      }
    }
    await runtime.dispose();
    runtime = undefined;
    return { profiles: config.profile ? profiles : undefined, commits: config.syscalls ? commits : undefined };
  }
}

main().catch((err) => {
  console.error(err?.stack ?? err);
  process.exit(1);
});
