#!/usr/bin/env node
// `npm run bench:webrtc` — how long a call takes to ring: offer posted (POST /webrtcsignaling/v1/
// {caller}/sessions sent) → the wrtcsSessionInvitationNotification for that session arriving on the
// callee's Notification Channel WebSocket. The reference is a bare WebSocket round trip on the same
// socket of the same `wrangler dev` (`ping` → `pong`, answered by the runtime without waking the
// channel object), measured in the same run, one ping before every call, so both see the same
// machine load. Each call is cancelled (DELETE) before the next one, so the callee is never Busy.
//
//   npm run bench:webrtc                      200 calls (after 20 warm-up calls)
//   npm run bench:webrtc -- --calls 50        fewer
//   npm run bench:webrtc -- --url http://127.0.0.1:8787   against a running `npm start` instead
//
// Starts `wrangler dev` itself (as `npm start` runs it, on a free loopback port, storage in a fresh
// temporary directory) and stops it at the end. Prints one JSON line and writes bench/webrtc-results.json.
//
// The callee reconnects its WebSocket when it closes, as a device does. `wrangler dev` reloads the worker
// when a file of the tree it serves changes (an edit, a build, a checkout while the bench runs): that
// closes every WebSocket (1006) and a socket that is not reopened never hears the calls that follow, which
// reproduces exactly the "invitation that never arrived" of the runs of 2 Dec. Calls during which the socket was
// reopened are counted under `interruptions`, not timed; run the bench on a tree nobody is changing.
// BENCH_WEBRTC_LOG=FILE keeps wrangler dev's whole output.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import os from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { GatewayClient, enc } from "./gateway/client.mjs";
import { PROJECT_ROOT } from "./gateway/build.mjs";

const args = process.argv.slice(2);
const value = (name) => (args.indexOf(`--${name}`) >= 0 ? args[args.indexOf(`--${name}`) + 1] : undefined);
const calls = Number(value("calls") ?? 200);
const warmup = Number(value("warmup") ?? 20);
const ADMIN_TOKEN = "dev-admin-token"; // .dev.vars, as `npm start` reads it
/** POST /sessions is rate limited per calling device (WEBRTC_CALL_RATE_LIMIT): each caller places at most this many. */
const CALLS_PER_CALLER = 10;
const TIMEOUT_MS = 30_000;

const FP = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4B:A2:2E:E0:6D:6A:5A:1F:2C:9E:3D:11";
/** A data-channel offer as Chromium writes it. */
const OFFER = ["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "a=msid-semantic: WMS",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=ice-ufrag:EsAw", "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
  "a=ice-options:trickle", `a=fingerprint:${FP}`, "a=setup:actpass", "a=mid:0", "a=sctp-port:5000", "a=max-message-size:262144", ""].join("\r\n");

const started = Date.now();
const log = (msg) => process.stderr.write(`[bench:webrtc ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** `wrangler dev` in its own process group (so stopping it reaches workerd), ready once /openapi.json answers. */
async function startWranglerDev() {
  const port = await freePort();
  const state = mkdtempSync(join(os.tmpdir(), "oma-edge-bench-webrtc-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false", NO_COLOR: "1" };
  for (const k of Object.keys(env)) if (k === "NODE_ENV" || k.startsWith("VITEST")) delete env[k];
  const child = spawn(join(PROJECT_ROOT, "node_modules", ".bin", "wrangler"),
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state, "--inspector-port", "0", "--show-interactive-dev-session=false"],
    { cwd: PROJECT_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (c) => (output += c));
  child.stderr.setEncoding("utf8").on("data", (c) => (output += c));
  let exited = false;
  child.once("exit", () => (exited = true));
  const stop = async () => {
    // BENCH_WEBRTC_LOG=FILE keeps wrangler dev's whole output for a look afterwards.
    if (process.env.BENCH_WEBRTC_LOG) writeFileSync(process.env.BENCH_WEBRTC_LOG, output);
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    for (let i = 0; i < 100 && !exited; i++) await sleep(100);
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    rmSync(state, { recursive: true, force: true });
  };
  process.once("exit", () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (exited) throw new Error(`wrangler dev exited before serving:\n${output.slice(-4000)}`);
    try {
      const res = await fetch(`${url}/openapi.json`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not serve ${url} in time:\n${output.slice(-4000)}`);
    }
    await sleep(250);
  }
  return { url, stop, pid: child.pid, log: () => output };
}

const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 100) / 100;
  return { n: s.length, p50: r(quantile(s, 0.5)), p99: r(quantile(s, 0.99)), min: r(s[0]), max: r(s.at(-1)) };
};

async function main() {
  const server = value("url") ? { url: value("url"), stop: async () => {} } : await startWranglerDev();
  log(`gateway ${server.url}${server.pid ? ` (wrangler dev, process group ${server.pid})` : ""}`);
  try {
    const gw = new GatewayClient(server.url, ADMIN_TOKEN);
    const client = (await gw.call("POST", "/admin/v1/clients", { headers: gw.admin, body: { name: "bench:webrtc", scopes: ["webrtc:call"] }, expect: 201 })).json;
    const run = String(Date.now()).slice(-4);
    const callee = await gw.device(client, run);
    const callers = [];
    for (let i = 0; i < Math.ceil((calls + warmup) / CALLS_PER_CALLER); i++) callers.push(await gw.device(client, run));

    const ch = (await gw.call("POST", `/notificationchannel/v1/${enc(callee.address)}/channels`, {
      token: callee.token, body: { notificationChannel: { channelType: "WebSockets", channelLifetime: 3600 } }, expect: 201,
    })).json.notificationChannel;
    await gw.call("POST", `/webrtcsignaling/v1/${enc(callee.address)}/subscriptions`, {
      token: callee.token, body: { wrtcsNotificationSubscription: { callbackReference: { notifyURL: ch.callbackURL } } }, expect: 201,
    });
    // The callee's device: one channel WebSocket, reconnected as a device does when it closes (a restart of
    // the server closes it 1006; what arrived meanwhile waits in the channel and comes on the new socket).
    // Every message with its arrival time; each measurement clears the inbox first and waits for its own.
    let inbox = [];
    let wake = () => {};
    let ws;
    let closed;
    const reconnects = [];
    let stopping = false;
    const connect = () =>
      new Promise((resolve, reject) => {
        const socket = new WebSocket(ch.channelData.channelURL);
        socket.onopen = () => {
          ws = socket;
          closed = undefined;
          resolve();
        };
        socket.onerror = () => reject(new Error("channel WebSocket failed"));
        socket.onmessage = (e) => {
          inbox.push([String(e.data), performance.now()]);
          wake();
        };
        socket.onclose = (e) => {
          if (ws !== socket || stopping) return;
          closed = `closed ${e.code}${e.reason ? ` ${e.reason}` : ""} after ${((Date.now() - started) / 1000).toFixed(1)} s`;
          reconnects.push(closed);
          log(`channel WebSocket ${closed}; reconnecting`);
          const again = async () => {
            for (let attempt = 0; attempt < 120 && !stopping; attempt++) {
              await sleep(250);
              try {
                await connect();
                return;
              } catch {}
            }
          };
          void again();
        };
      });
    await connect();
    const arrival = async (match) => {
      const deadline = Date.now() + TIMEOUT_MS;
      for (;;) {
        const hit = inbox.find(([d]) => match(d));
        if (hit) return hit[1];
        if (Date.now() > deadline) throw new Error(`no matching message within ${TIMEOUT_MS / 1000} s (the channel WebSocket: ${closed ?? "open"}); got ${JSON.stringify(inbox.map(([d]) => d.slice(0, 300)))}`);
        await new Promise((r) => ((wake = r), setTimeout(r, 50)));
      }
    };

    const ping = async () => {
      inbox = [];
      const t0 = performance.now();
      while (closed) await sleep(50);
      ws.send("ping");
      return (await arrival((d) => d === "pong")) - t0;
    };
    const ring = async (caller) => {
      inbox = [];
      const t0 = performance.now();
      const res = await gw.call("POST", `/webrtcsignaling/v1/${enc(caller.address)}/sessions`, {
        token: caller.token, body: { wrtcsSession: { tParticipantAddress: callee.address, offer: { sdp: OFFER } } }, expect: 201,
      });
      // The invitation may arrive before the 201: it is matched by the session id, whenever it came.
      const sessionId = res.json.wrtcsSession.resourceURL.split("/").pop();
      if (res.json.wrtcsSession.status !== "Initial") throw new Error(`session ${sessionId} is ${res.json.wrtcsSession.status}, not Initial: the callee was not rung`);
      const t1 = await arrival((d) => d.includes("wrtcsSessionInvitationNotification") && d.includes(`/sessions/${sessionId}"`)).catch(async (err) => {
        const status = await gw.call("GET", `/webrtcsignaling/v1/${enc(caller.address)}/sessions/${sessionId}/status`, { token: caller.token });
        throw new Error(`session ${sessionId} (now ${JSON.stringify(status.json)}): ${err.message}`);
      });
      await gw.call("DELETE", `/webrtcsignaling/v1/${enc(caller.address)}/sessions/${sessionId}`, { token: caller.token, expect: 204 });
      return t1 - t0;
    };

    const invitation = [];
    const roundTrip = [];
    let interrupted = 0;
    for (let i = 0; i < warmup + calls; i++) {
      const caller = callers[Math.floor(i / CALLS_PER_CALLER)];
      const before = reconnects.length;
      const rt = await ping();
      const inv = await ring(caller).catch(async (err) => {
        const subs = await gw.call("GET", `/webrtcsignaling/v1/${enc(callee.address)}/subscriptions`, { token: callee.token });
        const tail = server.log ? `\nwrangler dev's log (end):\n${server.log().slice(-6000)}` : "";
        throw new Error(`call ${i + 1}: ${err.message}; the callee's subscriptions: ${JSON.stringify(subs.json)}${tail}`);
      });
      // A call during which the socket was closed and reopened measured the reconnection, not the gateway:
      // it is counted (it still rang, on the new socket), not timed.
      if (reconnects.length !== before) interrupted++;
      else if (i >= warmup) {
        roundTrip.push(rt);
        invitation.push(inv);
      }
    }
    stopping = true;
    ws.close();
    const result = {
      command: `npm run bench:webrtc${args.length ? ` -- ${args.join(" ")}` : ""}`,
      generatedAt: new Date().toISOString(),
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      calls,
      warmup,
      invitationMs: stats(invitation),
      webSocketRoundTripMs: stats(roundTrip),
    };
    const reloads = server.log ? server.log().split("Reloading local server").length - 1 : 0;
    result.interruptions = { socketReconnects: reconnects, callsNotTimed: interrupted, wranglerReloads: reloads };
    if (reloads) log(`wrangler dev reloaded ${reloads} time(s) during the run (a file of the tree it serves changed); the calls around it are not timed`);
    // What the server complained about during the run (failed deliveries and retries show here), distinct lines.
    if (server.log) {
      const plain = server.log().replace(/\x1b\[[0-9;]*m/g, "");
      const lines = plain.split("\n").filter((l) => /delivery failed|dropped after|delivery run failed|Uncaught|\[ERROR\]/.test(l)).map((l) => l.trim().slice(0, 200));
      result.serverWarnings = { count: lines.length, distinct: [...new Set(lines.map((l) => l.replace(/[0-9]+/g, "N")))].slice(0, 20) };
    }
    result.ratio = { p50: Math.round((result.invitationMs.p50 / result.webSocketRoundTripMs.p50) * 10) / 10, p99: Math.round((result.invitationMs.p99 / result.webSocketRoundTripMs.p99) * 10) / 10 };
    writeFileSync(join(PROJECT_ROOT, "bench", "webrtc-results.json"), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify({ invitationMs: result.invitationMs, webSocketRoundTripMs: result.webSocketRoundTripMs, ratio: result.ratio, interruptions: interrupted, serverWarnings: result.serverWarnings?.count }));
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err?.stack ?? err);
  process.exit(1);
});
