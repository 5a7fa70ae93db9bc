// Metrics through Workers Analytics Engine (binding METRICS), with a local copy that tests and
// `GET /admin/v1/metrics` read: counters and latency sums of this isolate since it started.
//
// One data point per event: blobs = [kind, name, detail], doubles = [count, milliseconds], index = kind.
// Query them with the Analytics Engine SQL API, e.g.
//   SELECT blob2 AS route, sum(_sample_interval) AS requests, avg(double2) AS ms FROM oma_edge
//   WHERE index1 = 'request' GROUP BY route
//
// Capabilities call `recordEvent(env, name)` for what they want counted (a small typed interface: they
// never see the dataset). The names are listed in EVENTS so the dashboard and the README agree.

export const EVENTS = [
  "twinning.activation", // a twin activated (HLF-PD-001)
  "twinning.toggle", // a twin's status changed, from either side
  "twinning.deactivation", // a twin ended (detail: primary, secondary or operator)
  "notify.delivered", // a callback answered 2xx
  "notify.dropped", // a notification given up after its retry window
  "dm.session", // a SyncML DM 1.2 session started (first message; no detail), or a DM 2.0 one (detail "DM2.0")
  "webrtc.session", // a WebRTC call placed
] as const;
export type MetricEvent = (typeof EVENTS)[number];

interface Sink {
  writeDataPoint(point: { blobs?: string[]; doubles?: number[]; indexes?: string[] }): void;
}
type MetricsEnv = { METRICS?: Sink };

interface Counter {
  count: number;
  errors: number;
  totalMs: number;
  maxMs: number;
}
const local = new Map<string, Counter>();

/** The local counter of `key`, made on first use. */
function counterOf(key: string): Counter {
  let c = local.get(key);
  if (!c) local.set(key, (c = { count: 0, errors: 0, totalMs: 0, maxMs: 0 }));
  return c;
}

function add(c: Counter, ms: number, error: boolean): void {
  c.count++;
  if (error) c.errors++;
  c.totalMs += ms;
  c.maxMs = Math.max(c.maxMs, ms);
}

function bump(key: string, ms: number, error: boolean): void {
  add(counterOf(key), ms, error);
}

function write(env: MetricsEnv, blobs: string[], doubles: number[]): void {
  try {
    env.METRICS?.writeDataPoint({ blobs, doubles, indexes: [blobs[0]!] });
  } catch {
    // Metrics never fail a request.
  }
}

/** The label and local counter of each method and route, made once: every request is counted under one. */
const requestCounters = new Map<string, Map<string, { name: string; counter: Counter }>>();

function requestCounter(method: string, route: string): { name: string; counter: Counter } {
  let byRoute = requestCounters.get(method);
  if (!byRoute) requestCounters.set(method, (byRoute = new Map()));
  let entry = byRoute.get(route);
  if (!entry) {
    const name = `${method} ${route}`;
    byRoute.set(route, (entry = { name, counter: counterOf(`request ${name}`) }));
  }
  return entry;
}

/** One answered request: its route pattern (never the concrete path: ids are not labels), status and time. */
export function recordRequest(env: MetricsEnv, method: string, route: string, status: number, ms: number): void {
  const { name, counter } = requestCounter(method, route);
  add(counter, ms, status >= 500);
  if (status >= 400) bump(`error ${status} ${name}`, ms, status >= 500);
  write(env, ["request", name, String(status)], [1, ms]);
}

/** A capability event (see EVENTS); `detail` is a low-cardinality label such as a reason or an MNO. */
export function recordEvent(env: MetricsEnv, event: MetricEvent, detail = ""): void {
  bump(`event ${event}${detail ? ` ${detail}` : ""}`, 0, false);
  write(env, ["event", event, detail], [1, 0]);
}

export interface MetricsSnapshot {
  since: string;
  requests: Record<string, { count: number; errors: number; avgMs: number; maxMs: number }>;
  errors: Record<string, number>;
  events: Record<string, number>;
}

const startedAt = new Date().toISOString();

/** This isolate's counters (the local fallback; Analytics Engine has the fleet's). */
export function metricsSnapshot(): MetricsSnapshot {
  const snap: MetricsSnapshot = { since: startedAt, requests: {}, errors: {}, events: {} };
  for (const [key, c] of local) {
    const [kind, ...rest] = key.split(" ");
    const name = rest.join(" ");
    if (kind === "request") snap.requests[name] = { count: c.count, errors: c.errors, avgMs: Math.round((c.totalMs / c.count) * 10) / 10, maxMs: Math.round(c.maxMs * 10) / 10 };
    else if (kind === "error") snap.errors[name] = c.count;
    else snap.events[name] = c.count;
  }
  return snap;
}
