// `npm run dm2:simulate -- <gateway-url> [options]`: runs the DM 2.0 device simulator
// (test/dm2/sim/cli.ts, TypeScript) on Node; esbuild (wrangler's own) bundles it in memory first.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

if (process.argv.includes("--insecure")) process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
const entry = fileURLToPath(new URL("../test/dm2/sim/cli.ts", import.meta.url));
const out = await build({ entryPoints: [entry], bundle: true, write: false, format: "esm", platform: "node", target: "node20", logLevel: "error" });
const { main } = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`);
process.exitCode = await main(process.argv.slice(2));
