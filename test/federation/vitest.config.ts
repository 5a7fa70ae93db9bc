// `npm run test:federation`: two gateways as separate `wrangler dev` processes, on Node.
// Kept out of `npm test` (its own run in .ci/run) because it starts and kills several servers.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "federation",
    root: new URL("../..", import.meta.url).pathname,
    include: ["test/federation/e2e/**/*.test.ts"],
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
