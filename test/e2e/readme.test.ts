// The README runs as written: every shell block of README.md itself (so the two cannot drift), in order,
// against real `wrangler dev` (what `npm start` runs), twice in a row against the same state.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, startDevServer, wranglerEnv, type DevServer } from "./dev-server";
import { BlockFailure, extractShellBlocks, readmeBlocks, runBlocks } from "./readme-blocks";

const README = join(PROJECT_ROOT, "README.md");

describe("README block extraction", () => {
  it("runs sh/bash/shell fences, skips other languages and blocks marked norun, and names each block's heading", () => {
    const md = [
      "# Title", "## Quick start", "<!-- norun: starts a server -->", "```sh", "npm start", "```",
      "### Flows", "```bash", "echo one", "```", "```json", "{}", "```", "## Deploy", "", "```sh", "echo two", "```",
    ].join("\n");
    const blocks = extractShellBlocks(md);
    expect(blocks.map((b) => [b.heading, b.line, b.code, b.norun])).toEqual([
      ["Quick start", 4, "npm start", "starts a server"],
      ["Quick start > Flows", 8, "echo one", undefined],
      ["Deploy", 16, "echo two", undefined],
    ]);
  });

  it("a failing block fails with its heading and line; variables carry from one block to the next", async () => {
    const dir = await mkdtemp(join(tmpdir(), "readme-unit-"));
    try {
      const blocks = extractShellBlocks(["## Set", "```sh", "X=42; f() { echo \"f$1\"; }", "```", "## Use", "```sh", 'test "$(f $X)" = f42', "false", "```"].join("\n"));
      const run = runBlocks(blocks, { cwd: dir, env: process.env, stateFile: join(dir, "state.sh") });
      await expect(run).rejects.toThrow(BlockFailure);
      await expect(runBlocks(blocks, { cwd: dir, env: process.env, stateFile: join(dir, "state2.sh") })).rejects.toThrow(/under "Use" \(README\.md line 6\) failed with exit 1/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("README.md against wrangler dev", () => {
  let server: DevServer;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "readme-"));
    server = await startDevServer({ persistTo: join(dir, "state") });
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("has shell blocks to run, and every skipped block says why", () => {
    const blocks = readmeBlocks(README);
    expect(blocks.filter((b) => !b.norun).length).toBeGreaterThan(3);
    for (const b of blocks.filter((b) => b.norun)) expect(b.norun!.length).toBeGreaterThan(3);
  });

  it("npm run demo is the walk-through's blocks verbatim", () => {
    const demo = readFileSync(join(PROJECT_ROOT, "scripts", "demo.sh"), "utf8");
    const walk = readmeBlocks(README).filter((b) => b.heading.startsWith("A walk through the use case"));
    expect(walk.length).toBeGreaterThan(0);
    for (const b of walk) expect(demo, `README.md line ${b.line} is not in scripts/demo.sh`).toContain(b.code);
  });

  it("npm run demo -- URL runs twice in a row against the same state", () => {
    for (const run of [1, 2]) {
      const r = spawnSync("npm", ["run", "-s", "demo", "--", server.url], { cwd: PROJECT_ROOT, env: wranglerEnv({ NODE_OPTIONS: undefined }), encoding: "utf8", timeout: 120_000 });
      expect(r.status, `run ${run}:\n${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/"status":"On"/);
    }
  }, 300_000);

  for (const pass of [1, 2]) {
    it(`every shell block runs in order (pass ${pass} of 2, same state)`, async () => {
      const env = wranglerEnv({ G: server.url, NODE_OPTIONS: undefined });
      await runBlocks(readmeBlocks(README), { cwd: PROJECT_ROOT, env, stateFile: join(dir, `pass${pass}.sh`), timeoutMs: 90_000 });
    }, 600_000);
  }
});
