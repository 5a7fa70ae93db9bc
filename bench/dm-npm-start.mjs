#!/usr/bin/env node
// Complete SyncML DM sessions per second against a running `npm start` (wrangler dev, its dev proxy
// in front, local SQLite storage on disk), as issue 6 asks; `npm run bench` measures the same
// session on workerd directly, next to its references.
//   npm start                                   (in one shell)
//   node bench/dm-npm-start.mjs [URL] [SECONDS] [CONNECTIONS]
import { execSync } from "node:child_process";
import { GatewayClient } from "./gateway/client.mjs";
import { measureDmSessions, seedDmDevices, verifyDmSession } from "./gateway/dm.mjs";

const url = process.argv[2] ?? "http://127.0.0.1:8787";
const seconds = Number(process.argv[3] ?? 10);
const connections = Number(process.argv[4] ?? 16);
const gw = new GatewayClient(url, "dev-admin-token");
const run = String(Date.now() % 1000).padStart(3, "0");
const devices = await seedDmDevices(gw, connections * 4, 8, run);
await verifyDmSession({ url, adminToken: "dev-admin-token", device: devices[0] });
// The workerd that wrangler dev started (for its CPU time and memory).
const pid = Number(execSync("pgrep -n -x workerd").toString().trim());
const r = await measureDmSessions({ url, adminToken: "dev-admin-token", devices, connections, duration: seconds, warmup: 1, pid });
console.log(JSON.stringify(r, (k, v) => (Array.isArray(v) && v.length > 20 ? `[${v.length} values]` : v), 2));
