// The SyncML DM benchmark: complete DM 1.2 sessions over WBXML, driven by a small custom load loop
// (autocannon replays fixed requests; a DM session has to read the server's package 2 to answer it).
//
// One unit = one complete session of one device:
//   1. POST /dm/v1/devices/{devId}/jobs (admin token): a fresh 3-command job
//      (Get ./DevInfo/Mod, Replace ./Vendor/Setting, Exec ./FUMO/Pkg1/Update). The job is queued
//      INSIDE the measured flow: the server sends every queued job in the same session (as many
//      jobs per package as fit in the device's MaxMsgSize), so jobs queued ahead would make longer
//      packages, not more sessions.
//   2. package 1 to POST /dm: Alert 1201 + Replace DevInfo (5 leaves), SyncHdr Cred auth-basic (no
//      challenge round trip); the server answers 212 and package 2 with the 3 commands.
//   3. package 3 to the RespURI: Status 212 for the server's SyncHdr (mutual authentication accepted),
//      a Status per command and the Results of the Get; the server answers with its closing message
//      (Statuses only, Final) and ends the session.
// So 3 HTTP requests per session, 2 of them DM round trips. Messages are encoded/decoded on Node
// with the gateway's own WASM codec (scripts/codec-node.mjs). A session counts only when every
// answer is 200 and the server's messages say what a conforming server says (212, the 3 commands,
// a closing message without commands); anything else is an error (the run is then "broken").
//
// Load: `connections` async workers, each owning its own devices (so no two sessions of one device
// overlap) and running sessions back to back over keep-alive HTTP/1.1 connections (one socket per
// worker). Session latency: from the job POST sent to the closing message received; the DM part
// alone (package 1 sent -> closing message received) is reported beside it.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { loadCodec } from "../../scripts/codec-node.mjs";
import { cpuMsOf, memoryOf } from "./runtime.mjs";
import { pool } from "./client.mjs";
import { readdirSync } from "node:fs";

const WBXML = "application/vnd.syncml.dm+wbxml";
const enc = encodeURIComponent;
const SERVER_ID = "oma-edge";
export const DM_JOB = {
  commands: [
    { kind: "Get", target: "./DevInfo/Mod" },
    { kind: "Replace", target: "./Vendor/Setting", data: "1", format: "int" },
    { kind: "Exec", target: "./FUMO/Pkg1/Update" },
  ],
};
const DEV_INFO = [
  ["./DevInfo/DevId", null],
  ["./DevInfo/Man", "oma-edge bench"],
  ["./DevInfo/Mod", "bench-phone-1"],
  ["./DevInfo/DmV", "1.2"],
  ["./DevInfo/Lang", "en-GB"],
];

let codecPromise;
export const codec = () => (codecPromise ??= loadCodec().then((m) => m.codec));

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Provisions `n` DM devices (auth-basic) through the admin API. */
export async function seedDmDevices(gw, n, concurrency, run = "7") {
  const devices = await pool(n, concurrency, async (i) => {
    const devId = `IMEI:35${run}${String(i).padStart(9, "0")}`;
    // auth-basic is B64(username ":" password): the user name must not hold a colon (the devId does).
    const d = { devId, username: `bench-dm-${run}-${i}`, password: randomBytes(12).toString("base64url"), sessions: 0 };
    await gw.call("PUT", `/admin/v1/devices/${enc(devId)}`, {
      headers: gw.admin,
      body: { serverId: SERVER_ID, authType: "syncml:auth-basic", clientUsername: d.username, clientPassword: d.password, serverPassword: "bench-server-secret" },
      expect: 201,
    });
    return d;
  });
  return devices;
}

export class SessionError extends Error {}

/** One HTTP request over `agent`; resolves { status, body: Buffer, headers }. */
export function request(agent, url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { ...headers, "Content-Length": body ? body.length : 0 } }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, body: Buffer.concat(chunks), headers: res.headers }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (body) req.end(body);
    else req.end();
  });
}

/**
 * Runs one complete session of `device`. `stats` collects HTTP statuses and, when `record`, the
 * bytes of each message (for the codec estimate). Returns { total, dm } latencies in ms.
 * `postJob: false` (a campaign queued the job): no job POST; a session whose package 2 carries no
 * command (the job is not on the device yet) ends there and returns { noJob: true }.
 */
export async function session(c, agent, base, adminToken, device, stats, record, { postJob = true } = {}) {
  const t0 = performance.now();
  const post = async (url, headers, body) => {
    const res = await request(agent, url, "POST", headers, body);
    stats.requests += 1;
    stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
    if (res.status >= 200 && res.status < 300) stats.ok += 1;
    return res;
  };
  const job = postJob ? await post(`${base}/dm/v1/devices/${enc(device.devId)}/jobs`, { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" }, Buffer.from(JSON.stringify(DM_JOB))) : { status: 201 };
  if (job.status !== 201) throw new SessionError(`job POST: HTTP ${job.status} ${job.body.toString().slice(0, 200)}`);

  device.sessions += 1;
  const sessionId = String(device.sessions);
  const serverUrl = `${base}/dm`;
  const header = (msgId, cred) => ({
    verDTD: "1.2", verProto: "DM/1.2", sessionId, msgId,
    target: { locURI: serverUrl }, source: { locURI: device.devId, locName: device.username },
    ...(cred ? { cred: { meta: { type: "syncml:auth-basic", format: "b64" }, data: Buffer.from(`${device.username}:${device.password}`).toString("base64") } } : {}),
    meta: { maxMsgSize: 16384 },
  });
  const pkg1 = c.encodeMessage({
    header: header("1", true),
    body: [
      { kind: "Alert", cmdId: "1", data: "1201", items: [] },
      { kind: "Replace", cmdId: "2", items: DEV_INFO.map(([uri, v]) => ({ source: { locURI: uri }, data: v ?? device.devId })) },
    ],
    final: true,
  }, "wbxml");
  const t1 = performance.now();
  const r2 = await post(serverUrl, { "Content-Type": WBXML, Accept: WBXML }, pkg1);
  if (r2.status !== 200) throw new SessionError(`package 1: HTTP ${r2.status} ${r2.body.toString().slice(0, 200)}`);
  const m2 = c.decodeMessage(new Uint8Array(r2.body), { encoding: "wbxml" });
  const hdr2 = m2.body.find((x) => x.kind === "Status" && x.cmdRef === "0");
  if (hdr2?.data !== "212") throw new SessionError(`package 2: SyncHdr status ${hdr2?.data}, expected 212`);
  const cmds = m2.body.filter((x) => x.kind !== "Status");
  if (!postJob && cmds.length === 0 && m2.final) return { noJob: true };
  if (cmds.length !== 3 || cmds.map((x) => x.kind).join() !== "Get,Replace,Exec") throw new SessionError(`package 2: commands ${cmds.map((x) => x.kind).join()}, expected Get,Replace,Exec`);
  const respUri = m2.header.respURI ?? serverUrl;

  // Package 3: Status for its SyncHdr (212: the server's Cred is accepted), a Status per command,
  // the Results of the Get.
  let id = 0;
  const next = () => String(++id);
  const body3 = [{
    kind: "Status", cmdId: next(), msgRef: m2.header.msgId, cmdRef: "0", cmd: "SyncHdr",
    targetRefs: [m2.header.target.locURI], sourceRefs: [m2.header.source.locURI], data: "212",
  }];
  for (const cmd of cmds) {
    const target = cmd.items[0].target.locURI;
    body3.push({ kind: "Status", cmdId: next(), msgRef: m2.header.msgId, cmdRef: cmd.cmdId, cmd: cmd.kind, targetRefs: [target], data: "200" });
    if (cmd.kind === "Get") body3.push({ kind: "Results", cmdId: next(), msgRef: m2.header.msgId, cmdRef: cmd.cmdId, items: [{ source: { locURI: target }, data: "bench-phone-1" }] });
  }
  const pkg3 = c.encodeMessage({ header: header("2", false), body: body3, final: true }, "wbxml");
  const r4 = await post(respUri, { "Content-Type": WBXML, Accept: WBXML }, pkg3);
  if (r4.status !== 200) throw new SessionError(`package 3: HTTP ${r4.status} ${r4.body.toString().slice(0, 200)}`);
  const m4 = c.decodeMessage(new Uint8Array(r4.body), { encoding: "wbxml" });
  if (!m4.final || m4.body.some((x) => x.kind !== "Status")) throw new SessionError(`closing message: ${m4.body.map((x) => x.kind).join()}${m4.final ? "" : " (no Final)"}, expected Statuses only, Final`);
  const bad = m4.body.find((x) => x.data !== "200");
  if (bad) throw new SessionError(`closing message: Status ${bad.data} for ${bad.cmd}`);
  const t2 = performance.now();
  if (record) Object.assign(record, { pkg1, pkg2: new Uint8Array(r2.body), pkg3, pkg4: new Uint8Array(r4.body), respUri });
  return { total: t2 - t0, dm: t2 - t1 };
}

/** Checks one session end to end through the northbound API: the job must be done, with the Get's result. */
export async function verifyDmSession({ url, adminToken, device }) {
  const c = await codec();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const stats = { requests: 0, ok: 0, statuses: {} };
    const record = {};
    await session(c, agent, url, adminToken, device, stats, record);
    const list = await request(agent, `${url}/dm/v1/devices/${enc(device.devId)}/tree`, "GET", { Authorization: `Bearer ${adminToken}` });
    const tree = JSON.parse(list.body.toString()).tree ?? {};
    if (tree["./DevInfo/Mod"]?.value !== "bench-phone-1") throw new Error(`tree after the session: ${list.body.toString().slice(0, 300)}`);
    return record;
  } finally {
    agent.destroy();
  }
}

/**
 * A run of sessions in the shape load.measure returns (units = sessions): rates, latencies, the
 * gateway's CPU and memory. `stats` as `session` fills it, with the measured sessions' `total` and
 * `dm` latencies; shared by this benchmark and the campaign's (bench/gateway/campaign.mjs).
 */
export function sessionSummary({ stats, wallMs, workerdCpuMs, self, workers, devices, pid }) {
  const seconds = wallMs / 1000;
  const sorted = Float64Array.from(stats.total).sort();
  const dmSorted = Float64Array.from(stats.dm).sort();
  const nonOk = stats.requests - stats.ok;
  return {
    seconds,
    requests: stats.requests,
    ok: stats.ok,
    non2xx: nonOk,
    // a session whose answers were all 2xx but said the wrong thing is an error of its own
    errors: Math.max(0, stats.errors - nonOk),
    timeouts: 0,
    statuses: stats.statuses,
    firstError: stats.firstError,
    rps: stats.ok / seconds,
    unitsPerSecond: stats.units / seconds,
    units: stats.units,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
    dmP50: percentile(dmSorted, 50),
    dmP99: percentile(dmSorted, 99),
    workers,
    devices,
    workerdCpuUsPerRequest: stats.requests ? (workerdCpuMs * 1000) / stats.requests : NaN,
    workerdCpuUsPerUnit: stats.units ? (workerdCpuMs * 1000) / stats.units : NaN,
    workerdCpuPercent: (workerdCpuMs / wallMs) * 100,
    loadGeneratorCpuPercent: ((self.user + self.system) / 1000 / wallMs) * 100,
    workerdRssAfter: memoryOf(pid).rss,
    workerdOpenFilesAfter: readdirSync(`/proc/${pid}/fd`).length,
  };
}

/**
 * The measured run, in the shape load.measure returns (units = sessions). `devices` are split
 * among `connections` workers; `warmup` s first, then `duration` s measured.
 */
export async function measureDmSessions({ url, adminToken, devices, connections, duration, warmup, pid }) {
  const c = await codec();
  const workers = Math.min(connections, devices.length);
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
  const owned = Array.from({ length: workers }, (_, w) => devices.filter((_, i) => i % workers === w));
  const phase = async (seconds, measured) => {
    const stats = { requests: 0, ok: 0, statuses: {}, errors: 0, units: 0, total: [], dm: [], firstError: undefined };
    const end = performance.now() + seconds * 1000;
    const worker = async (w) => {
      let k = 0;
      while (performance.now() < end) {
        const device = owned[w][k++ % owned[w].length];
        try {
          const { total, dm } = await session(c, agent, url, adminToken, device, stats);
          stats.units += 1;
          if (measured) {
            stats.total.push(total);
            stats.dm.push(dm);
          }
        } catch (err) {
          stats.errors += 1;
          stats.firstError ??= err.message;
          // A failed session may leave the device's job running: the next session resumes it.
          if (!(err instanceof SessionError)) await new Promise((r) => setTimeout(r, 10));
        }
      }
    };
    const cpu0 = cpuMsOf(pid);
    const self0 = process.cpuUsage();
    const wall0 = performance.now();
    await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
    const wallMs = performance.now() - wall0;
    return { stats, wallMs, workerdCpuMs: cpuMsOf(pid) - cpu0, self: process.cpuUsage(self0) };
  };
  try {
    if (warmup > 0) await phase(warmup, false);
    const { stats, wallMs, workerdCpuMs, self } = await phase(duration, true);
    return sessionSummary({ stats, wallMs, workerdCpuMs, self, workers, devices: devices.length, pid });
  } finally {
    agent.destroy();
  }
}

/**
 * What the codec work of one session costs on this machine (Node, the same WASM as the Worker):
 * the server decodes packages 1 and 3 and encodes packages 2 and 4. Decode is timed on the bytes
 * of a real session; encode on the decoded typed message (as the server builds it).
 */
export async function codecCostPerSession(record, seconds = 1) {
  const c = await codec();
  const time = (fn) => {
    for (let i = 0; i < 200; i++) fn();
    let n = 0;
    const t0 = performance.now();
    let el = 0;
    do {
      for (let i = 0; i < 100; i++) fn();
      n += 100;
      el = performance.now() - t0;
    } while (el < seconds * 250);
    return (el * 1000) / n; // us per call
  };
  const m2 = c.decodeMessage(record.pkg2, { encoding: "wbxml" });
  const m4 = c.decodeMessage(record.pkg4, { encoding: "wbxml" });
  const out = {
    bytes: { pkg1: record.pkg1.length, pkg2: record.pkg2.length, pkg3: record.pkg3.length, pkg4: record.pkg4.length },
    decodePkg1Us: time(() => c.decodeMessage(record.pkg1, { encoding: "wbxml" })),
    encodePkg2Us: time(() => c.encodeMessage(m2, "wbxml")),
    decodePkg3Us: time(() => c.decodeMessage(record.pkg3, { encoding: "wbxml" })),
    encodePkg4Us: time(() => c.encodeMessage(m4, "wbxml")),
  };
  out.totalUs = out.decodePkg1Us + out.encodePkg2Us + out.decodePkg3Us + out.encodePkg4Us;
  for (const k of Object.keys(out)) if (typeof out[k] === "number") out[k] = Math.round(out[k] * 10) / 10;
  return out;
}
