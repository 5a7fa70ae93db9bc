// docs/service-provider.md runs as written: every shell block, in order, against real `wrangler dev`,
// twice in a row against the same state (as test/e2e/readme.test.ts does for README.md).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, startDevServer, wranglerEnv, type DevServer } from "./dev-server";
import { readmeBlocks, runBlocks } from "./readme-blocks";

const DOC = join(PROJECT_ROOT, "docs", "service-provider.md");

describe("docs/service-provider.md against wrangler dev", () => {
  let server: DevServer;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sp-doc-"));
    server = await startDevServer({ persistTo: join(dir, "state") });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("has blocks for credentials, a firmware update, diagnostics and charging records; every skipped block says why", () => {
    const blocks = readmeBlocks(DOC);
    expect(blocks.filter((b) => !b.norun).map((b) => b.heading.split(" ")[0])).toEqual(expect.arrayContaining(["1.", "2.", "3.", "5."]));
    for (const b of blocks.filter((b) => b.norun)) expect(b.norun!.length).toBeGreaterThan(3);
  });

  for (const pass of [1, 2]) {
    it(`every shell block runs in order (pass ${pass} of 2, same state)`, async () => {
      const env = wranglerEnv({ G: server.url, NODE_OPTIONS: undefined });
      await runBlocks(readmeBlocks(DOC), { cwd: PROJECT_ROOT, env, stateFile: join(dir, `pass${pass}.sh`), timeoutMs: 90_000 });
    }, 300_000);
  }
});
