// Builds what the benchmarks run: the gateway exactly as `wrangler deploy` would upload it
// (`wrangler deploy --dry-run --outdir`), and the reference Workers bundled with wrangler's esbuild.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const projectRequire = createRequire(join(PROJECT_ROOT, "package.json"));
/** Resolves packages the way wrangler does: its own miniflare, workerd and esbuild. */
export const wranglerRequire = createRequire(projectRequire.resolve("wrangler/package.json"));

/** The environment wrangler runs in offline and quietly (as in test/e2e/dev-server.ts). */
export function wranglerEnv() {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_HIDE_BANNER: "true", NO_COLOR: "1" };
  for (const key of Object.keys(env)) if (key.startsWith("VITEST") || key === "FORCE_COLOR") delete env[key];
  return env;
}

function run(command, args) {
  const r = spawnSync(command, args, { cwd: PROJECT_ROOT, env: wranglerEnv(), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}\n${r.stderr}`;
}

const REFERENCES = { empty: "empty.ts", bare: "bare-do.ts", verify: "verify.ts" };

/**
 * `npm run build:wasm`, `wrangler deploy --dry-run --outdir <outDir>/gateway`, and the reference
 * Workers into <outDir>/reference. Returns paths and the bundle sizes.
 */
export async function build(outDir, { buildWasm = true } = {}) {
  const gatewayDir = join(outDir, "gateway");
  const referenceDir = join(outDir, "reference");
  mkdirSync(referenceDir, { recursive: true });
  if (buildWasm) run("npm", ["run", "--silent", "build:wasm"]);
  const wrangler = join(PROJECT_ROOT, "node_modules", ".bin", "wrangler");
  const output = run(wrangler, ["deploy", "--dry-run", "--outdir", gatewayDir]);

  // The upload is the modules (index.js and the .wasm); the source map is not uploaded.
  const uploaded = readdirSync(gatewayDir).filter((f) => f.endsWith(".js") || f.endsWith(".wasm"));
  let raw = 0;
  let gzip = 0;
  for (const f of uploaded) {
    const bytes = readFileSync(join(gatewayDir, f));
    raw += bytes.length;
    gzip += gzipSync(bytes, { level: 9 }).length;
  }
  const reported = output.match(/Total Upload:\s*([\d.]+)\s*KiB\s*\/\s*gzip:\s*([\d.]+)\s*KiB/);
  const bundle = {
    files: uploaded.map((f) => ({ file: f, bytes: statSync(join(gatewayDir, f)).size })),
    rawBytes: raw,
    gzipBytes: gzip,
    wranglerReported: reported ? { rawKiB: Number(reported[1]), gzipKiB: Number(reported[2]) } : null,
  };

  // The references are bundled without a type check; verify.ts calls the gateway's own
  // src/oauth/tokens.ts, so check them against it (bench/tsconfig.json).
  run(join(PROJECT_ROOT, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", join(PROJECT_ROOT, "bench")]);
  const esbuild = wranglerRequire("esbuild");
  const references = {};
  for (const [name, file] of Object.entries(REFERENCES)) {
    const outfile = join(referenceDir, `${name}.js`);
    await esbuild.build({
      entryPoints: [join(PROJECT_ROOT, "bench", "reference", file)],
      outfile,
      bundle: true,
      format: "esm",
      platform: "neutral",
      target: "es2022",
      external: ["cloudflare:*"],
      conditions: ["workerd", "worker", "browser"],
      mainFields: ["module", "main"],
      logLevel: "silent",
    });
    references[name] = outfile;
  }
  return { gatewayDir, referenceDir, references, bundle };
}
