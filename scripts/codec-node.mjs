// Loads the codec on Node over the same build/codec.wasm and the same host code the Worker uses
// (src/codec/core.ts, transpiled once to a cached .mjs: it imports only types, so no bundler is needed).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export const wasmPath = join(root, "build", "codec.wasm");

async function loadCore() {
  const src = readFileSync(join(root, "src", "codec", "core.ts"), "utf8");
  const hash = createHash("sha256").update(src).digest("hex").slice(0, 16);
  const dir = join(root, "node_modules", ".cache", "oma-edge-codec");
  const file = join(dir, `core-${hash}.mjs`);
  if (!existsSync(file)) {
    const ts = (await import("typescript")).default;
    const out = ts.transpileModule(src, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, verbatimModuleSyntax: false },
      fileName: "core.ts",
    });
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, out.outputText);
  }
  return import(pathToFileURL(file).href);
}

/** { Codec, CodecError, codec } with codec bound to a fresh instance of build/codec.wasm. */
export async function loadCodec() {
  if (!existsSync(wasmPath)) throw new Error(`${wasmPath} is missing: run npm run build:wasm`);
  const core = await loadCore();
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  return { ...core, codec: new core.Codec(module) };
}
