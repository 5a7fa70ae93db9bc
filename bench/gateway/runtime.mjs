// The runtime under test: the workerd that `wrangler dev` runs, started through wrangler's own
// Miniflare (node_modules/wrangler/node_modules/miniflare) with the Worker options wrangler derives
// from wrangler.toml, so bindings, compatibility date and SQLite Durable Objects match `wrangler dev`.
// Every Worker gets a direct socket on loopback: requests go straight to workerd, with neither
// wrangler's dev proxy nor Miniflare's entry worker in front. The gateway and the reference Workers
// run in ONE workerd process, so their numbers share the machine's state of the moment.
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { wranglerRequire, PROJECT_ROOT } from "./build.mjs";

export const ADMIN_TOKEN = "bench-admin-token";

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The Worker options `wrangler dev` would use for wrangler.toml (bindings, DO classes, vars). */
async function gatewayWorkerOptions() {
  // wrangler prints a line when it reads .dev.vars; the admin token is replaced below anyway.
  const log = console.log;
  console.log = () => {};
  // Offline and quiet, as in test/e2e/dev-server.ts (no telemetry, no cf.json download).
  Object.assign(process.env, { WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true" });
  try {
    const wrangler = await import(wranglerRequire.resolve("wrangler"));
    return wrangler.unstable_getMiniflareWorkerOptions(join(PROJECT_ROOT, "wrangler.toml")).workerOptions;
  } finally {
    console.log = log;
  }
}

/**
 * Starts workerd with the gateway (built by `wrangler deploy --dry-run`) and the reference Workers.
 * Returns the direct URL of each Worker and the workerd pid.
 */
export async function startRuntime({ build, persistDir, inspectorPort, ports: given, logLevel = "warn", assetRouter = false }) {
  const { Miniflare, NoOpLog } = wranglerRequire("miniflare");
  const base = await gatewayWorkerOptions();
  // The same ports on a restart: access tokens name the gateway's origin as their issuer.
  const ports = given ?? { gateway: await freePort(), empty: await freePort(), bare: await freePort(), verify: await freePort() };
  const gatewayOrigin = `http://127.0.0.1:${ports.gateway}`;
  const direct = (name) => [{ host: "127.0.0.1", port: ports[name] }];
  const wasm = readdirSync(build.gatewayDir).filter((f) => f.endsWith(".wasm"));
  const reference = (name, path, extra = {}) => ({
    name,
    modules: [{ type: "ESModule", path, contents: readFileSync(path) }],
    modulesRoot: build.referenceDir,
    compatibilityDate: base.compatibilityDate,
    compatibilityFlags: base.compatibilityFlags,
    unsafeDirectSockets: direct(name),
    ...extra,
  });
  // Static assets: on Cloudflare the asset router runs in the edge in front of the Worker, not in the
  // Worker's isolate and not on its CPU; locally workerd emulates it with two more Workers (router and
  // asset Worker) on every request. The references have none, so by default the gateway runs without
  // it too (no benchmark asks for an asset); --asset-router puts it back to measure what it costs here.
  const { modulesRules: _rules, assets, ...bindingsAndMore } = base;
  const gateway = {
    ...bindingsAndMore,
    name: "gateway",
    modulesRoot: build.gatewayDir,
    modules: [
      { type: "ESModule", path: join(build.gatewayDir, "index.js"), contents: readFileSync(join(build.gatewayDir, "index.js")) },
      ...wasm.map((f) => ({ type: "CompiledWasm", path: join(build.gatewayDir, f), contents: readFileSync(join(build.gatewayDir, f)) })),
    ],
    // Codes live an hour instead of 5 minutes, so the code objects' clean-up alarms (expiry + 60 s)
    // do not fire in the middle of a run. The per-request access log line (src/ops/observe.ts, at
    // LOG_LEVEL info) is off unless --log-level info: the references log nothing, and that line alone
    // was a third of the read path's CPU (see BENCHMARKS.md). Everything else is wrangler.toml's.
    bindings: { ...base.bindings, ADMIN_TOKEN, ACTIVATION_CODE_TTL_SECONDS: "3600", LOG_LEVEL: logLevel },
    // The bench drives one client and a few subscribers far past the production rate limits (which
    // have their own tests): the limiters keep their bindings but get limits no run can reach.
    ratelimits: Object.fromEntries(
      Object.entries(base.ratelimits ?? {}).map(([name, cfg]) => [name, { ...cfg, simple: { limit: 1_000_000_000, period: cfg.simple?.period ?? 60 } }]),
    ),
    unsafeDirectSockets: direct("gateway"),
    ...(assetRouter ? { assets } : {}),
  };
  // workerd's output (the Workers' console, uncaught errors) stays out of the table; its tail is
  // kept for the report when something breaks.
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-64 * 1024);
  };
  const mf = new Miniflare({
    log: new NoOpLog(),
    handleRuntimeStdio: (stdout, stderr) => {
      stdout.setEncoding("utf8").on("data", keep);
      stderr.setEncoding("utf8").on("data", keep);
    },
    durableObjectsPersist: join(persistDir, "do"),
    ...(inspectorPort !== undefined ? { inspectorPort } : {}),
    workers: [
      gateway,
      reference("empty", build.references.empty),
      reference("bare", build.references.bare, { durableObjects: { BARE: { className: "BareObject", useSQLite: true } } }),
      reference("verify", build.references.verify, {
        durableObjects: { SIGNING_KEYS: { className: "SigningKeysObject", scriptName: "gateway", useSQLite: true } },
        bindings: { ISSUER: gatewayOrigin, ACCESS_TOKEN_TTL_SECONDS: "3600" },
      }),
    ],
  });
  await mf.ready;
  const urls = {};
  for (const name of Object.keys(ports)) urls[name] = `http://127.0.0.1:${ports[name]}`;
  const pid = findWorkerdPid();
  return { mf, urls, ports, pid, gatewayOrigin, output: () => output, dispose: () => mf.dispose() };
}

/** The workerd child of this process (Miniflare spawns it directly). */
export function findWorkerdPid() {
  const candidates = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && comm.startsWith("workerd")) candidates.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  if (candidates.length !== 1) throw new Error(`expected one workerd child of ${process.pid}, found ${candidates.length}`);
  return candidates[0];
}

/** Peak and current resident memory of a process, in bytes (VmHWM is the kernel's high-water mark). */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key) => Number(status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, "m"))?.[1] ?? NaN) * 1024;
  return { peakRss: kb("VmHWM"), rss: kb("VmRSS") };
}

const CLK_TCK = 100; // USER_HZ on Linux

/** CPU time (user + system, all threads) a process has used so far, in milliseconds. */
export function cpuMsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}
