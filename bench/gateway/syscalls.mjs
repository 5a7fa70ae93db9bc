// Storage commits per request, counted from the outside: workerd's SQLite storage calls fsync
// when it commits a Durable Object write, so `strace -f -c -e trace=fsync,fdatasync` on workerd
// while one benchmark runs, divided by the units completed, says how many durable commits a unit
// costs (compare with the bare write reference). Needs strace and ptrace permission; skipped otherwise.
import { spawn, spawnSync } from "node:child_process";

export function straceAvailable() {
  const r = spawnSync("strace", ["-V"], { encoding: "utf8" });
  return r.status === 0;
}

/** Counts fsync/fdatasync calls of `pid` (all threads) while `during()` runs. */
export async function countSyncs(pid, during) {
  const strace = spawn("strace", ["-f", "--seccomp-bpf", "-c", "-e", "trace=fsync,fdatasync", "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  let out = "";
  strace.stderr.setEncoding("utf8").on("data", (c) => (out += c));
  const exited = new Promise((resolve) => strace.on("exit", resolve));
  // strace prints "attached" once it is in; give it a moment on a busy machine.
  const t0 = Date.now();
  while (!/attached/.test(out) && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
  if (!/attached/.test(out)) {
    // No ptrace permission (or strace gone): say so rather than report zero commits.
    strace.kill("SIGKILL");
    await exited;
    throw new Error(`strace could not attach to workerd: ${out.trim().split("\n")[0] ?? "no output"}`);
  }
  let result;
  try {
    result = await during();
  } finally {
    strace.kill("SIGINT");
    await exited;
  }
  const calls = {};
  for (const m of out.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/gm)) calls[m[2]] = Number(m[1]);
  return { syncs: (calls.fsync ?? 0) + (calls.fdatasync ?? 0), calls, result };
}
