#!/usr/bin/env node
// `node bench/probe.mjs` — where a unit's durable commits go: runs each unit of work sequentially
// under `strace -f -y -e trace=fsync,fdatasync` and prints the fsyncs per unit by the file (the
// Durable Object class and database) they land in. A diagnostic beside `npm run bench`, not a benchmark.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { build } from "./gateway/build.mjs";
import { ADMIN_TOKEN, startRuntime } from "./gateway/runtime.mjs";
import { enc, GatewayClient, tokenForm, basicAuth } from "./gateway/client.mjs";

const N = Number(process.argv[2] ?? 20);
const only = process.argv[3];

async function traced(pid, during) {
  const strace = spawn("strace", ["-f", "-y", "-e", "trace=fsync,fdatasync", "-p", String(pid)], { stdio: ["ignore", "ignore", "pipe"] });
  let out = "";
  strace.stderr.setEncoding("utf8").on("data", (c) => (out += c));
  const exited = new Promise((r) => strace.on("exit", r));
  const t0 = Date.now();
  while (!/attached/.test(out) && Date.now() - t0 < 5000) await sleep(20);
  await sleep(200);
  out = "";
  try {
    await during();
    await sleep(300);
  } finally {
    strace.kill("SIGINT");
    await exited;
  }
  const files = {};
  for (const m of out.matchAll(/f(?:data)?sync\(\d+<([^>]*)>\)/g)) {
    const f = m[1].replace(/.*\/do\//, "").replace(/[0-9a-f]{64}/, "<id>");
    files[f] = (files[f] ?? 0) + 1;
  }
  return files;
}

const work = mkdtempSync("/dev/shm/oma-probe-");
const built = await build(join(work, "out"), { buildWasm: false });
const rt = await startRuntime({ build: built, persistDir: join(work, "state") });
try {
  const gw = new GatewayClient(rt.urls.gateway, ADMIN_TOKEN);
  const client = await gw.registerClient();
  const dev = () => gw.device(client, "9");
  const report = async (name, fn) => {
    if (only && !name.startsWith(only)) return;
    const files = await traced(rt.pid, async () => {
      for (let i = 0; i < N; i++) await fn(i);
    });
    const total = Object.values(files).reduce((a, b) => a + b, 0);
    console.log(`${name}: ${(total / N).toFixed(2)} fsync/unit`);
    for (const [f, n] of Object.entries(files).sort((a, b) => b[1] - a[1])) console.log(`   ${(n / N).toFixed(2)}  ${f}`);
  };
  const pairs = [];
  for (let i = 0; i < N; i++) {
    const [p, s] = [await dev(), await dev()];
    await gw.twin(p, s, "w");
    pairs.push({ p, s });
  }
  const fresh = [];
  for (let i = 0; i < 2 * N; i++) fresh.push(await dev());
  const primaries = [];
  for (let i = 0; i < N; i++) primaries.push(await dev());
  await sleep(1000);
  await report("bare write, existing object", async () => { await fetch(`${rt.urls.bare}/write/x`, { method: "PUT" }).then((r) => r.text()); });
  await report("bare write, fresh object", async (i) => { await fetch(`${rt.urls.bare}/write/fresh-${i}-${Math.random()}`, { method: "PUT" }).then((r) => r.text()); });
  await report("read", async (i) => { await gw.call("GET", `/twinning/v1/${enc(pairs[i].p.address)}/twins`, { token: pairs[i].p.token, expect: 200 }); });
  let flip = "Off";
  await report("toggle (primary)", async (i) => { await gw.call("PUT", `/twinning/v1/${enc(pairs[i].p.address)}/twins/w/status`, { token: pairs[i].p.token, body: { status: flip }, expect: 200 }); if (i === N - 1) flip = "On"; });
  await report("toggle (secondary)", async (i) => { await gw.call("PUT", `/twinning/v1/${enc(pairs[i].s.address)}/relationship/status`, { token: pairs[i].s.token, body: { status: flip }, expect: 200 }); });
  await report("token", async (i) => { await gw.call("POST", "/oauth/token", { headers: { Authorization: basicAuth(client), "Content-Type": "application/x-www-form-urlencoded" }, body: tokenForm(pairs[i].p, client, gw.tokenEndpoint), expect: 200 }); });
  const codes = [];
  await report("activation: code request", async (i) => { codes[i] = (await gw.call("POST", `/twinning/v1/${enc(fresh[i].address)}/activationCodes`, { token: fresh[i].token, body: {}, expect: 201 })).json.activationCode.code; });
  await report("activation: activate", async (i) => { await gw.call("POST", `/twinning/v1/${enc(primaries[i].address)}/twins`, { token: primaries[i].token, body: { activationCode: codes[i] }, expect: 201 }); });
  await report("activation: both", async (i) => {
    const s = fresh[N + i];
    const code = (await gw.call("POST", `/twinning/v1/${enc(s.address)}/activationCodes`, { token: s.token, body: {}, expect: 201 })).json.activationCode.code;
    await gw.call("POST", `/twinning/v1/${enc(primaries[i].address)}/twins`, { token: primaries[i].token, body: { activationCode: code, name: "second" }, expect: 201 });
  });
  // What the activations above leave to fire: the fsyncs of the next 35 s with no request (per activation made).
  await report("activation: afterwards, 35 s idle", async (i) => { if (i === 0) await sleep(35_000); });
} finally {
  await rt.dispose();
  rmSync(work, { recursive: true, force: true });
}
