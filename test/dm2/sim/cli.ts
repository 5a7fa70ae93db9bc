// `npm run dm2:simulate -- <gateway-url> [options]`: the DM 2.0 device simulator against a running
// gateway (npm start). It creates the DM account (admin API), registers the device, queues a job and
// runs the flows asked for, printing each package the server sent and what the device answered.
//
//   --account ID  --password P  --dev DEVID  --auth digest|basic  --admin-token T
//   --flow all|client|server|component|browser|abort   (default all)   --insecure (self-signed TLS)

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Dm2Account } from "./account";
import { Dm2Device, type SessionOutcome } from "./simulator";

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}

/** What a real device keeps between sessions: the package-0 nonce its last session gave it (kept under node_modules/.cache). */
const nonceFile = (origin: string, devId: string) => join(process.cwd(), "node_modules", ".cache", "oma-edge-dm2-simulate", `${encodeURIComponent(`${origin} ${devId}`)}.nonce`);
function keptNonce(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}

function print(title: string, outcome: SessionOutcome): void {
  console.log(`\n## ${title}`);
  for (const p of outcome.packages) {
    console.log(`<- ${p.httpStatus} ${p.contentType} session ${p.sessionId}`);
    for (const [i, c] of p.commands.entries()) console.log(`   ${JSON.stringify(c)}${p.statuses[i] ? `  -> ${JSON.stringify(p.statuses[i])}` : ""}`);
  }
  if (outcome.error) console.log(`<- ${outcome.error.status} ${outcome.error.body}`);
  console.log(outcome.ended ? "   session ended (END)" : outcome.aborted ? "   session aborted by the device (DELETE)" : "   session stopped");
}

export async function main(args: string[]): Promise<number> {
  const gateway = args.find((a) => !a.startsWith("--") && /^https?:\/\//.test(a));
  if (!gateway) {
    console.error("usage: npm run dm2:simulate -- <gateway-url> [--account ID] [--password P] [--dev DEVID] [--auth digest|basic] [--admin-token T] [--flow all|client|server|component|browser|abort]");
    return 2;
  }
  const account = arg(args, "account", "sim-account");
  const password = arg(args, "password", "simulator password 1");
  const devId = arg(args, "dev", "IMEI:990000862471854");
  const auth = arg(args, "auth", "digest") as "digest" | "basic";
  const adminToken = arg(args, "admin-token", "dev-admin-token");
  const flow = arg(args, "flow", "all");
  const admin = { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" };
  const origin = gateway.replace(/\/+$/, "");

  const put = await fetch(`${origin}/admin/v1/dm-accounts/${account}`, { method: "PUT", headers: admin, body: JSON.stringify({ password }) });
  console.log(`PUT /admin/v1/dm-accounts/${account}: ${put.status}`);
  if (put.status >= 300) return (console.error(await put.text()), 1);
  const owner = new Dm2Account(origin, account, password, auth);
  const reg = await owner.registerWithForm({ devId, name: "Simulated device", protocol: "DM2.0", manufacturer: "oma-edge", model: "dm2sim" });
  console.log(`POST /dm/v2/devices/new: ${reg.status}${reg.status === 409 ? " (registered already)" : ""}`);

  const device = new Dm2Device({
    gateway: origin,
    account,
    password,
    devId,
    auth,
    tree: { "./DevInfo/Mod": "dm2sim", "./DevInfo/Man": "oma-edge", "./Vendor/Mode": "normal", "./Vendor/Reboot": { type: "text/plain", exec: { mode: "sync" } } },
  });
  const kept = nonceFile(origin, devId);
  // 201: a new DM account on the gateway (fresh state): nothing kept from an earlier one applies.
  device.package0Nonce = put.status === 201 ? "" : keptNonce(kept);
  const job = async (commands: unknown[]) => {
    const r = await fetch(`${origin}/dm/v1/devices/${encodeURIComponent(devId)}/jobs`, { method: "POST", headers: admin, body: JSON.stringify({ commands }) });
    const body = (await r.json()) as { job?: { jobId: string } };
    console.log(`POST /dm/v1/devices/{devId}/jobs: ${r.status} ${body.job?.jobId ?? JSON.stringify(body)}`);
  };
  const run = (name: string) => flow === "all" || flow === name;

  if (run("client")) {
    await job([{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Replace", target: "./Vendor/Mode", data: "eco" }, { kind: "Exec", target: "./Vendor/Reboot" }]);
    print("client-initiated (x.2.2)", await device.clientInitiated());
  }
  if (run("server")) {
    await job([{ kind: "Delete", target: "./Vendor/Mode" }]);
    const n = await fetch(`${origin}/dm/v1/devices/${encodeURIComponent(devId)}/notifications`, { method: "POST", headers: admin, body: "{}" });
    const { notification } = (await n.json()) as { notification: { package0: string } };
    print("server-initiated (x.2.1)", await device.serverInitiated(notification.package0));
  }
  if (run("component")) {
    await job([{ kind: "Get", target: "./DevInfo/Man" }]);
    print("web-browser-component-initiated (x.2.3)", await device.browserComponent());
  }
  if (run("browser")) {
    await job([{ kind: "Get", target: "./DevInfo/Mod" }]);
    const { page } = await device.browserInitiated();
    console.log(`\n## web-browser-initiated (x.2.4)\n<- ${page.status} ${page.contentType} (${page.html.length} bytes of HTML)`);
    const pending = await device.pendingNotification();
    if (pending) print("  … and the session the notification asked for", await device.serverInitiated(pending.package0));
  }
  if (run("abort")) {
    await job([{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Get", target: "./DevInfo/Man" }]);
    print("aborted midway", await device.clientInitiated({ abort: { inPackage: 0, afterCommands: 1 } }));
    print("resumed", await device.clientInitiated());
  }
  mkdirSync(join(kept, ".."), { recursive: true });
  writeFileSync(kept, device.package0Nonce);
  console.log("\ntree:", JSON.stringify(device.tree.snapshot()));
  return 0;
}
