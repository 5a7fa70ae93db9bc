import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        // Inside workerd: the real Worker, real Durable Objects (SQLite), real WASM.
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" }, remoteBindings: false })],
        test: { name: "workers", include: ["test/**/*.test.ts"], exclude: ["test/e2e/**", "test/federation/e2e/**"], testTimeout: 30_000, globalSetup: ["test/notify/receiver.global.ts", "test/oauth/jwks-host.global.ts"] },
      },
      {
        // On Node: `wrangler dev` and `wrangler deploy --dry-run` as a user runs them.
        test: { name: "e2e", include: ["test/e2e/**/*.test.ts"], environment: "node", testTimeout: 120_000, hookTimeout: 120_000, fileParallelism: false },
      },
    ],
  },
});
