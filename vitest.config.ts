import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // Inside workerd: the real Worker, real Durable Objects (SQLite), real WASM.
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, remoteBindings: false, miniflare: { bindings: { LOG_LEVEL: "warn" } } })],
        test: { name: "workers", include: ["test/**/*.test.ts"], exclude: ["test/e2e/**", "test/federation/e2e/**", "test/dm/engine/**"], testTimeout: 30_000, globalSetup: ["test/notify/receiver.global.ts", "test/oauth/jwks-host.global.ts"] },
      },
      {
        // On Node, without workerd: the DM session engine and job model as the pure modules they are.
        resolve: { alias: [{ find: /^.*\/build\/codec\.wasm$/, replacement: new URL("./test/dm/engine/codec-wasm.node.mjs", import.meta.url).pathname }] },
        test: { name: "engine", include: ["test/dm/engine/**/*.test.ts"], environment: "node" },
      },
      {
        // On Node: `wrangler dev` and `wrangler deploy --dry-run` as a user runs them.
        // The DM simulator (test/dm/simulator.ts) runs here as real HTTP clients, with the codec read from build/.
        resolve: { alias: [{ find: /^.*\/build\/codec\.wasm$/, replacement: new URL("./test/dm/engine/codec-wasm.node.mjs", import.meta.url).pathname }] },
        test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false },
      },
    ],
  },
});
