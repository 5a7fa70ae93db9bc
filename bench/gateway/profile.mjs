// A CPU profile of the gateway's isolate through workerd's V8 inspector (Profiler domain), while
// one benchmark runs; summarised by where the self time falls (package or gateway source file,
// through the bundle's source map) and by the heaviest functions.
import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { join } from "node:path";
import { wranglerRequire } from "./build.mjs";

const WebSocket = wranglerRequire("ws");

class Inspector {
  constructor(url) {
    this.url = url;
    this.id = 0;
    this.pending = new Map();
  }

  async open() {
    this.ws = new WebSocket(this.url);
    await new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
    this.ws.on("message", (data) => {
      const msg = JSON.parse(String(data));
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        const { resolve, reject } = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) reject(new Error(`${msg.error.message}`));
        else resolve(msg.result);
      }
    });
  }

  send(method, params = {}) {
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close() {
    this.ws?.close();
  }
}

/** Profiles worker `name` of the workerd whose inspector listens on `port` while `during()` runs. */
export async function profileWhile(port, name, during, samplingIntervalUs = 200) {
  const inspector = new Inspector(`ws://127.0.0.1:${port}/core:user:${name}`);
  await inspector.open();
  try {
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
    await inspector.send("Profiler.start");
    const result = await during();
    const { profile } = await inspector.send("Profiler.stop");
    await inspector.send("Profiler.disable");
    return { profile, result };
  } finally {
    inspector.close();
  }
}

/** Runtime (C++) functions the isolate calls, by what they do. */
const NATIVE_GROUPS = [
  [/^(exec|toArray|one|next|raw|columnNames|transactionSync|getAlarm|setAlarm|deleteAlarm)$/, "native: Durable Object storage (SQLite, alarms)"],
  [/^(verify|sign|digest|importKey|exportKey|generateKey|getRandomValues|randomUUID|timingSafeEqual|deriveBits)$/, "native: WebCrypto"],
  [/^(Response|Request|Headers|URL|URLSearchParams|get|set|has|append|json|text|arrayBuffer|clone|searchParams|pathname)$/, "native: HTTP objects (Request, Response, Headers, URL)"],
  [/^(getByName|idFromName|get|fetch)$/, "native: Durable Object stubs and RPC"],
  [/^(encode|decode|TextEncoder|TextDecoder|atob|btoa)$/, "native: text encoding"],
];
function nativeGroup(name) {
  for (const [re, group] of NATIVE_GROUPS) if (re.test(name)) return group;
  return `native: other (${name || "anonymous"})`;
}

/** Where a bundled frame came from: a package, a gateway source file, or the runtime. */
function categorise(source) {
  if (!source) return undefined;
  const nm = source.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (nm) return nm[1];
  const src = source.match(/(?:^|\/)(src\/.+)$/);
  if (src) return src[1];
  return source;
}

/**
 * Self time by category and by function; total (inclusive) time of gateway functions.
 * `gatewayDir` holds index.js.map, to map bundle positions back to sources.
 */
export function summarise(profile, gatewayDir) {
  let map;
  try {
    map = new SourceMap(JSON.parse(readFileSync(join(gatewayDir, "index.js.map"), "utf8")));
  } catch {
    map = undefined;
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const frameInfo = new Map();
  const info = (node) => {
    if (frameInfo.has(node.id)) return frameInfo.get(node.id);
    const f = node.callFrame;
    let where;
    let category;
    if (f.functionName.startsWith("(") && !f.url) {
      category = f.functionName; // (program), (idle), (garbage collector), (root)
      where = "";
    } else if (!f.url) {
      category = nativeGroup(f.functionName);
      where = "native";
    } else if (map && /index\.js$/.test(f.url) && f.lineNumber >= 0) {
      const entry = map.findEntry(f.lineNumber, f.columnNumber);
      const source = entry?.originalSource;
      category = categorise(source) ?? f.url;
      where = source ? `${categorise(source)}:${(entry.originalLine ?? 0) + 1}` : `${f.url}:${f.lineNumber + 1}`;
    } else {
      category = `other script (${f.url.split("/").pop()})`;
      where = `${f.url.split("/").pop()}:${f.lineNumber + 1}`;
    }
    const value = { category, name: `${f.functionName || "(anonymous)"} ${where}`.trim() };
    frameInfo.set(node.id, value);
    return value;
  };

  const selfByCategory = new Map();
  const selfByFunction = new Map();
  const totalByFunction = new Map();
  let total = 0;
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = deltas[i + 1] ?? deltas[i] ?? 0; // a sample's weight is the time until the next one
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    total += dt;
    const self = info(node);
    selfByCategory.set(self.category, (selfByCategory.get(self.category) ?? 0) + dt);
    selfByFunction.set(self.name, (selfByFunction.get(self.name) ?? 0) + dt);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const fi = info(byId.get(id));
      if (seen.has(fi.name) || fi.category.startsWith("(")) continue;
      seen.add(fi.name);
      totalByFunction.set(fi.name, (totalByFunction.get(fi.name) ?? 0) + dt);
    }
  }
  const share = (m, n, filter = () => true) =>
    [...m.entries()]
      .filter(([k]) => filter(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => ({ what: k, ms: Math.round(v / 100) / 10, percent: Math.round((1000 * v) / total) / 10 }));
  return {
    sampledMs: Math.round(total / 1000),
    selfByCategory: share(selfByCategory, 16),
    topSelf: share(selfByFunction, 15),
    topTotalGateway: share(totalByFunction, 15, (k) => / src\//.test(k)),
  };
}
