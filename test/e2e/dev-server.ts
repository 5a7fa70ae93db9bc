// Runs the project's own wrangler (node_modules/.bin/wrangler) as a user would, from Node:
// `wrangler dev` as a child process group that can be stopped and started again on the same
// persistence directory, and one-shot commands such as `wrangler deploy --dry-run`.
// Needs build/codec.wasm (`npm run build:wasm`, run by `pretest`).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const WRANGLER = join(PROJECT_ROOT, "node_modules", ".bin", "wrangler");
const NETWORK_GUARD = join(PROJECT_ROOT, "test", "e2e", "no-network.cjs");

/** What no-network.cjs prints for each refused connection or DNS lookup. */
export const NETWORK_ATTEMPT_MARKER = "[e2e-network-attempt]";

/**
 * The environment wrangler runs in:
 * - WRANGLER_SEND_METRICS=false: no telemetry (also `send_metrics = false` in wrangler.toml);
 * - CLOUDFLARE_CF_FETCH_ENABLED=false: miniflare does not download https://workers.cloudflare.com/cf.json;
 * - WRANGLER_HIDE_BANNER=true: the only switch in wrangler 4.86 that skips the banner's
 *   "update available" check against the npm registry;
 * - NODE_OPTIONS=--require no-network.cjs: anything else that tries the network is refused and reported;
 * - NODE_ENV and VITEST* removed, so wrangler behaves as under `npm start`, not as under a test runner.
 */
export function wranglerEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key === "NODE_ENV" || key.startsWith("VITEST") || key === "FORCE_COLOR") delete env[key];
  }
  Object.assign(env, {
    WRANGLER_SEND_METRICS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    WRANGLER_HIDE_BANNER: "true",
    NO_COLOR: "1",
    NODE_OPTIONS: `${env.NODE_OPTIONS ? `${env.NODE_OPTIONS} ` : ""}--require "${NETWORK_GUARD}"`,
  });
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;
export const stripAnsi = (s: string): string => s.replace(ANSI, "");

/** The lines of wrangler's output that show it tried, or would have liked, to reach the internet. */
export function networkAttempts(output: string): string[] {
  return stripAnsi(output)
    .split("\n")
    .filter(
      (line) =>
        line.includes(NETWORK_ATTEMPT_MARKER) ||
        /update available|newer version of wrangler/i.test(line) ||
        /cf\.json/i.test(line) ||
        /workers\.cloudflare\.com|registry\.npmjs\.org|sparrow\.cloudflare\.com/i.test(line) ||
        /\b(ENOTFOUND|EAI_AGAIN|ENETUNREACH)\b/.test(line),
    );
}

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (address && typeof address === "object" ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

// Process groups started here and not yet stopped: killed if the test process exits early.
const running = new Set<number>();
process.on("exit", () => {
  for (const pgid of running) signalGroup(pgid, "SIGKILL");
});
// How to stop each of them, for a suite whose start-up did not finish (a hook that timed out).
const stoppers = new Map<number, () => Promise<void>>();

/** Stops every dev server this process started and has not stopped, those still starting included. */
export async function stopAllDevServers(): Promise<void> {
  await Promise.all([...stoppers.values()].map((stop) => stop()));
}

export interface DevServerOptions {
  /** Directory for Durable Object storage (`--persist-to`). */
  persistTo: string;
  /** Port to listen on; a free one when omitted. Reuse it across a restart: tokens name the origin as issuer. */
  port?: number;
  /** Milliseconds to wait for GET /openapi.json to answer 200. */
  readyTimeoutMs?: number;
  /** Extra environment for wrangler (undefined removes a variable). */
  env?: Record<string, string | undefined>;
  /** Extra arguments for `wrangler dev`, e.g. `["--var", "HOME_MNOS:001-02"]`. */
  args?: string[];
  /** "https": `--local-protocol https`, served with the self-signed certificate wrangler makes for the run. */
  localProtocol?: "http" | "https";
}

export interface DevServer {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Everything wrangler wrote to stdout and stderr so far. */
  output(): string;
  /** What it wrote up to the moment it answered its first request. */
  readonly startupOutput: string;
  /** Ends the whole process group (wrangler, its proxy and workerd) and waits until it is gone. */
  stop(): Promise<void>;
}

/** `wrangler dev --ip 127.0.0.1 --port <port> --persist-to <dir>`, resolved once it serves GET /openapi.json. */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  if (!existsSync(join(PROJECT_ROOT, "build", "codec.wasm"))) throw new Error("build/codec.wasm missing: run `npm run build:wasm` first");
  const port = options.port ?? (await freePort());
  const protocol = options.localProtocol ?? "http";
  const url = `${protocol}://127.0.0.1:${port}`;
  const args = [
    "dev",
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--persist-to", options.persistTo,
    // Port 0: the OS picks a free port for the devtools inspector, so parallel servers never clash on 9229.
    "--inspector-port", "0",
    "--inspector-ip", "127.0.0.1",
    "--show-interactive-dev-session=false",
    ...(protocol === "https" ? ["--local-protocol", "https"] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(WRANGLER, args, {
    cwd: PROJECT_ROOT,
    env: wranglerEnv(options.env),
    detached: true, // its own process group, so stop() reaches workerd too
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error("wrangler dev did not start");
  running.add(pgid);

  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((r) => child.once("exit", (code, signal) => r(code ?? (signal ? -1 : null))));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const stop = async () => {
    if (!running.has(pgid)) return;
    signalGroup(pgid, "SIGTERM");
    const deadline = Date.now() + 10_000;
    while ((exitCode === undefined || groupAlive(pgid)) && Date.now() < deadline) await sleep(100);
    if (groupAlive(pgid)) {
      signalGroup(pgid, "SIGKILL");
      while (groupAlive(pgid)) await sleep(50);
    }
    await Promise.race([exited, sleep(2_000)]);
    running.delete(pgid);
    stoppers.delete(pgid);
  };
  stoppers.set(pgid, stop);

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exitCode !== undefined) {
      running.delete(pgid);
      stoppers.delete(pgid);
      signalGroup(pgid, "SIGKILL");
      throw new Error(`wrangler dev exited (${exitCode}) before serving ${url}:\n${stripAnsi(output)}`);
    }
    try {
      if ((await probe(`${url}/openapi.json`)) === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not serve ${url}/openapi.json within ${options.readyTimeoutMs ?? 60_000} ms:\n${stripAnsi(output)}`);
    }
    await sleep(250);
  }

  return { url, port, pid: pgid, output: () => output, startupOutput: output, stop };
}

/** The status of a GET; over https the run's self-signed certificate is accepted (readiness only). */
function probe(url: string): Promise<number> {
  if (!url.startsWith("https:")) return fetch(url, { signal: AbortSignal.timeout(2_000) }).then(async (r) => (await r.arrayBuffer(), r.status));
  return new Promise((resolveStatus, reject) => {
    const req = httpsGet(url, { rejectUnauthorized: false, timeout: 2_000 }, (res) => (res.resume(), resolveStatus(res.statusCode ?? 0)));
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
  });
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
}

/** Runs `wrangler <args>` to completion with wranglerEnv(). */
export function runWrangler(args: string[], timeoutMs = 60_000): Promise<CommandResult> {
  return new Promise((resolveRun, reject) => {
    const child: ChildProcess = spawn(WRANGLER, args, { cwd: PROJECT_ROOT, env: wranglerEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let output = "";
    child.stdout!.setEncoding("utf8").on("data", (c: string) => ((stdout += c), (output += c)));
    child.stderr!.setEncoding("utf8").on("data", (c: string) => ((stderr += c), (output += c)));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`wrangler ${args.join(" ")} did not finish within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.on("error", (err) => (clearTimeout(timer), reject(err)));
    child.on("close", (code) => (clearTimeout(timer), resolveRun({ code, stdout, stderr, output })));
  });
}
