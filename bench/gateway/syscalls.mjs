// Storage commits per request, counted from the outside: workerd's SQLite storage calls fsync
// when it commits a Durable Object write, so `strace -f -c -e trace=fsync,fdatasync` on workerd
// while one benchmark runs, divided by the units completed, says how many durable commits a unit
// costs (compare with the bare write reference). Needs strace and ptrace permission; skipped otherwise.
import { spawn, spawnSync } from "node:child_process";

export function straceAvailable() {
  const r = spawnSync("strace", ["-V"], { encoding: "utf8" });
  return r.status === 0;
}

/**
 * What an fsync of workerd's local storage is for, by the file it lands on:
 * - "commit": the write-ahead log of a Durable Object's own database (one per SQLite commit);
 * - "alarm": the alarm store local workerd keeps beside a namespace's objects (`metadata.sqlite`),
 *   written when an object sets, moves or deletes its alarm, or an alarm run ends;
 * - "lifecycle": creating or erasing an object's database (the `.sqlite` file, its rollback journal,
 *   the namespace directory): a new object, or `deleteAll()`.
 */
export function syncKind(file) {
  if (/metadata\.sqlite/.test(file)) return "alarm";
  if (/\.sqlite-wal$/.test(file)) return "commit";
  return "lifecycle";
}

/** Counts fsync/fdatasync calls of `pid` (all threads) while `during()` runs, in all and by kind (syncKind). */
export async function countSyncs(pid, during) {
  const strace = spawn("strace", ["-f", "-y", "--seccomp-bpf", "-e", "trace=fsync,fdatasync", "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  let out = "";
  let syncs = 0;
  const kinds = { commit: 0, alarm: 0, lifecycle: 0 };
  let attached = false;
  let pending = "";
  strace.stderr.setEncoding("utf8").on("data", (c) => {
    if (!attached) {
      out += c;
      if (/attached/.test(out)) attached = true;
      return;
    }
    pending += c;
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) {
      const m = line.match(/f(?:data)?sync\(\d+<([^>]*)>/);
      if (!m) continue;
      syncs += 1;
      kinds[syncKind(m[1])] += 1;
    }
  });
  const exited = new Promise((resolve) => strace.on("exit", resolve));
  // strace prints "attached" once it is in; give it a moment on a busy machine.
  const t0 = Date.now();
  while (!attached && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
  if (!attached) {
    // No ptrace permission (or strace gone): say so rather than report zero commits.
    strace.kill("SIGKILL");
    await exited;
    throw new Error(`strace could not attach to workerd: ${out.trim().split("\n")[0] ?? "no output"}`);
  }
  // Threads attach one by one; the lines of the first ones may come before the last "attached".
  syncs = 0;
  for (const k of Object.keys(kinds)) kinds[k] = 0;
  let result;
  try {
    result = await during();
  } finally {
    strace.kill("SIGINT");
    await exited;
  }
  return { syncs, kinds, result };
}
