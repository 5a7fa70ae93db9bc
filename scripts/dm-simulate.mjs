// `npm run dm:simulate -- <gateway-url> [options]`: runs the SyncML DM 1.2 device simulator
// (test/dm/cli.ts, TypeScript) on Node; esbuild (wrangler's own) bundles it in memory first, with the
// codec's WASM module read from build/codec.wasm (npm run build:wasm).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const wasm = fileURLToPath(new URL("../build/codec.wasm", import.meta.url));
const entry = fileURLToPath(new URL("../test/dm/cli.ts", import.meta.url));
const codecWasm = {
  name: "codec-wasm",
  setup(b) {
    b.onResolve({ filter: /codec\.wasm$/ }, () => ({ path: wasm, namespace: "codec-wasm" }));
    b.onLoad({ filter: /.*/, namespace: "codec-wasm" }, () => ({
      contents: `import { readFileSync } from "node:fs"; export default new WebAssembly.Module(readFileSync(${JSON.stringify(wasm)}));`,
      loader: "js",
      resolveDir: process.cwd(),
    }));
  },
};
const out = await build({ entryPoints: [entry], bundle: true, write: false, format: "esm", platform: "node", target: "node20", logLevel: "error", plugins: [codecWasm] });
const { main } = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`);
process.exitCode = await main(process.argv.slice(2));
