// The quick start promises one toolchain: `npm start`, `npm test`, the bench and `wrangler deploy` run on the
// same wrangler and the same workerd, and `npm ci` on the supported Node installs quietly.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);
const lock = JSON.parse(readFileSync(new URL("package-lock.json", root), "utf8")) as {
  packages: Record<string, { version?: string }>;
};

/** Every installed copy of a package in the lockfile, whatever it is nested under. */
function copies(name: string): string[] {
  return Object.entries(lock.packages)
    .filter(([path]) => path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`))
    .map(([path, p]) => `${path}@${p.version}`);
}

describe("Quick start: one toolchain", () => {
  it.each(["wrangler", "miniflare", "workerd"])("there is exactly one %s in the install", (name) => {
    expect(copies(name)).toHaveLength(1);
  });

  it("the tests run on the wrangler that package.json pins for npm start and deploy", () => {
    const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8"));
    expect(copies("wrangler")).toEqual([`node_modules/wrangler@${pkg.devDependencies.wrangler}`]);
  });

  it("npm ci on this Node prints no engine warning", () => {
    // --dry-run reads the lockfile and checks engines without touching node_modules or the network.
    const run = spawnSync("npm", ["ci", "--dry-run", "--ignore-scripts"], { cwd: root, encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stdout + run.stderr).not.toMatch(/EBADENGINE/);
  });
});
