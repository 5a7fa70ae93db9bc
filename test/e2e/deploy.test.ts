// `wrangler deploy --dry-run`: the same build `npm run deploy` uploads, without uploading.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, networkAttempts, runWrangler, stripAnsi, type CommandResult } from "./dev-server";

/** The Durable Object bindings of wrangler.toml: [[durable_objects.bindings]] name / class_name. */
function durableObjectBindings(): { name: string; className: string }[] {
  const toml = readFileSync(join(PROJECT_ROOT, "wrangler.toml"), "utf8");
  const blocks = toml.split(/^\[\[durable_objects\.bindings\]\]\s*$/m).slice(1);
  return blocks.map((block) => {
    const body = block.split(/^\[/m)[0] ?? "";
    const name = body.match(/^\s*name\s*=\s*"([^"]+)"/m)?.[1];
    const className = body.match(/^\s*class_name\s*=\s*"([^"]+)"/m)?.[1];
    if (!name || !className) throw new Error(`unreadable [[durable_objects.bindings]] block:\n${body}`);
    return { name, className };
  });
}

interface Metafile {
  outputs: Record<string, { entryPoint?: string; exports: string[]; bytes: number }>;
}

describe("wrangler deploy --dry-run (e2e)", () => {
  let outdir: string;
  let result: CommandResult;
  let output: string;

  beforeAll(async () => {
    outdir = await mkdtemp(join(tmpdir(), "oma-edge-deploy-"));
    const t0 = Date.now();
    result = await runWrangler(["deploy", "--dry-run", "--outdir", outdir, "--metafile", join(outdir, "bundle-meta.json")]);
    output = stripAnsi(result.output);
    console.log(`wrangler deploy --dry-run: exit ${result.code} in ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    if (outdir) await rm(outdir, { recursive: true, force: true });
  });

  it("wrangler deploy --dry-run builds the Worker for Cloudflare", () => {
    expect(result.code, output).toBe(0);
    expect(output).toMatch(/--dry-run: exiting now/);

    const bindings = durableObjectBindings();
    expect(bindings.map((b) => b.name)).toEqual(expect.arrayContaining(["SUBSCRIBERS", "ACTIVATION_CODES", "OAUTH_CLIENTS", "SIGNING_KEYS"]));
    for (const { name, className } of bindings) {
      expect(output, `binding ${name} (${className}) listed`).toMatch(new RegExp(`env\\.${name} \\(${className}\\)\\s+Durable Object`));
    }

    const files = readdirSync(outdir);
    expect(files, "bundle").toContain("index.js");
    const wasm = files.filter((f) => f.endsWith(".wasm"));
    expect(wasm, "the activation-code WASM module is shipped as its own module").toHaveLength(1);
    const wasmBytes = readFileSync(join(outdir, wasm[0]!));
    expect([...wasmBytes.subarray(0, 4)], `${wasm[0]} starts with the WebAssembly magic number`).toEqual([0x00, 0x61, 0x73, 0x6d]);

    const bundle = readFileSync(join(outdir, "index.js"));
    expect(bundle.toString("utf8"), "the bundle imports the .wasm module").toContain(wasm[0]!);
    const gzip = gzipSync(bundle, { level: 9 }).length;
    const reported = output.match(/Total Upload: ([\d.]+ KiB) \/ gzip: ([\d.]+ KiB)/);
    console.log(
      `bundle index.js: ${(bundle.length / 1024).toFixed(2)} KiB, gzip -9 ${(gzip / 1024).toFixed(2)} KiB; ` +
        `${wasm[0]}: ${statSync(join(outdir, wasm[0]!)).size} B; wrangler reports ${reported ? `${reported[1]} / gzip ${reported[2]}` : "(no size line)"}`,
    );

    expect(networkAttempts(result.output), output).toEqual([]);
  });

  // workerd refuses to start a Worker whose main module exports anything but handlers and classes
  // ("Incorrect type for map entry 'X': the provided value is not of type 'function or
  // ExportedHandler'"), and the Cloudflare upload would be rejected the same way; a dry run does not
  // execute the module, so check its export list here.
  it("the bundle's main module exports only the default handler and the Durable Object classes", () => {
    const metafile = JSON.parse(readFileSync(join(outdir, "bundle-meta.json"), "utf8")) as Metafile;
    const main = Object.entries(metafile.outputs).find(([file]) => file.endsWith("index.js"));
    expect(main, "index.js in the metafile").toBeDefined();
    const allowed = new Set(["default", ...durableObjectBindings().map((b) => b.className)]);
    const unexpected = main![1].exports.filter((name) => !allowed.has(name));
    expect(unexpected, "exports of src/index.ts that workerd would reject: move them to another module").toEqual([]);
  });
});
