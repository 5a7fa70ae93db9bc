// `npm run dm:simulate -- <gateway-url> [options]`: the SyncML DM 1.2 device simulator (./simulator.ts)
// against a running gateway (npm start). It provisions the device (admin API), queues a job, runs a
// client-initiated session, then asks for a notification and runs the server-initiated session its
// package 0 announces, printing every message of both sessions.
//
//   --dev DEVID  --auth md5|basic|MAC  --user U  --password P  --server-password P  --admin-token T
//   --encoding xml|wbxml   --flow all|client|server   (default all)

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { base64 } from "../../src/codec";
import { DmClient, type AuthType, type SessionResult } from "./simulator";
import { story } from "./transcript";

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}

/**
 * What a real device keeps between sessions: the nonces it and the server last gave each other. Kept
 * per gateway and device under node_modules/.cache, so running the command again is a returning device.
 */
const stateFile = (origin: string, devId: string) => join(process.cwd(), "node_modules", ".cache", "oma-edge-dm-simulate", `${encodeURIComponent(`${origin} ${devId}`)}.json`);
function loadNonces(file: string): { clientNonce?: string; serverNonce?: string } {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return {};
  }
}

function print(title: string, s: SessionResult): boolean {
  console.log(`\n## ${title}\n${story(s)}`);
  for (const e of s.executed) console.log(`   executed ${JSON.stringify(e)}`);
  return s.outcome === "completed" && s.violations.length === 0;
}

export async function main(args: string[]): Promise<number> {
  const gateway = args.find((a) => !a.startsWith("--") && /^https?:\/\//.test(a));
  if (!gateway) {
    console.error("usage: npm run dm:simulate -- <gateway-url> [--dev DEVID] [--auth md5|basic|MAC] [--user U] [--password P] [--server-password P] [--admin-token T] [--encoding xml|wbxml] [--flow all|client|server]");
    return 2;
  }
  const origin = gateway.replace(/\/+$/, "");
  const devId = arg(args, "dev", "IMEI:990000862471812");
  const authType = `syncml:auth-${arg(args, "auth", "md5")}` as AuthType;
  const username = arg(args, "user", "dmsim");
  const password = arg(args, "password", "device password 1");
  const serverPassword = arg(args, "server-password", "server password 1");
  const encoding = arg(args, "encoding", "wbxml") as "xml" | "wbxml";
  const flow = arg(args, "flow", "all");
  const admin = { Authorization: `Bearer ${arg(args, "admin-token", "dev-admin-token")}`, "Content-Type": "application/json" };
  const dev = encodeURIComponent(devId);

  // Provisioning again sets the same secrets: the command can run any number of times against the same state.
  const put = await fetch(`${origin}/admin/v1/devices/${dev}`, { method: "PUT", headers: admin, body: JSON.stringify({ serverId: "oma-edge", authType, clientUsername: username, clientPassword: password, serverPassword }) });
  console.log(`PUT /admin/v1/devices/${devId}: ${put.status}`);
  if (put.status >= 300) return (console.error(await put.text()), 1);
  const state = stateFile(origin, devId);
  // 201: the gateway made a new device account (fresh state), so nothing kept from an earlier one applies.
  const kept = put.status === 201 ? {} : loadNonces(state);
  const client = new DmClient({
    devId, serverUrl: `${origin}/dm`, encoding, authType, username, password, serverId: "oma-edge", serverPassword, fetch: (u, i) => fetch(u, i),
    tree: { "./DevInfo/Mod": "dmsim", "./Vendor/Mode": "normal" },
    ...(kept.clientNonce ? { initialNonce: kept.clientNonce } : {}),
    ...(kept.serverNonce ? { serverNonce: Uint8Array.from(atob(kept.serverNonce), (c) => c.charCodeAt(0)) } : {}),
  });
  const job = async (commands: unknown[]) => {
    const r = await fetch(`${origin}/dm/v1/devices/${dev}/jobs`, { method: "POST", headers: admin, body: JSON.stringify({ commands }) });
    const body = (await r.json()) as { job?: { jobId: string } };
    console.log(`POST /dm/v1/devices/{devId}/jobs: ${r.status} ${body.job?.jobId ?? JSON.stringify(body)}`);
    return body.job?.jobId;
  };
  let ok = true;
  // The device's first session also agrees the nonces package 0 is checked with (a real device keeps them).
  if (flow === "all" || flow === "client" || flow === "server") {
    if (flow !== "server") await job([{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Replace", target: "./Vendor/Mode", data: "eco" }]);
    ok = print("client-initiated session (package 1 at /dm)", await client.startSession()) && ok;
  }
  if (flow === "all" || flow === "server") {
    await job([{ kind: "Get", target: "./Vendor/Mode" }]);
    const n = await fetch(`${origin}/dm/v1/devices/${dev}/notifications`, { method: "POST", headers: admin, body: JSON.stringify({ uiMode: "background" }) });
    const { notification } = (await n.json()) as { notification: { sessionId: string; package0: string } };
    console.log(`POST /dm/v1/devices/{devId}/notifications: ${n.status} session ${notification.sessionId}`);
    ok = print("server-initiated session (package 0, then Alert 1200)", await client.startSession({ package0: notification.package0 })) && ok;
  }
  mkdirSync(join(state, ".."), { recursive: true });
  writeFileSync(state, JSON.stringify({ ...(client.clientNonce ? { clientNonce: base64(client.clientNonce) } : {}), serverNonce: base64(client.serverNonce) }));
  console.log(`\ntree: ${JSON.stringify({ "./DevInfo/Mod": client.tree.value("./DevInfo/Mod"), "./Vendor/Mode": client.tree.value("./Vendor/Mode") })}`);
  return ok ? 0 : 1;
}
