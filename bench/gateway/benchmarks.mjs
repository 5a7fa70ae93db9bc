// The benchmarks and references, as autocannon specs over the seeded state.
import { basicAuth, enc, tokenForm } from "./client.mjs";
import { ADMIN_TOKEN } from "./runtime.mjs";
import { measureDmSessions } from "./dm.mjs";

const JSON_TYPE = { "Content-Type": "application/json" };

/** Round-robin over `items`, shared by all connections of a run. */
function cycle(items) {
  let i = 0;
  return () => items[i++ % items.length];
}

/**
 * Every benchmark: id, title, ref (the reference its ratio is taken against), unit, target, and
 * spec(ctx) -> the autocannon spec for load.measure. `ctx`: { urls, seed, refreshPool }.
 */
export function benchmarks({ urls, seed, subscribers }) {
  const names = Array.from({ length: subscribers }, (_, i) => `bench-${i}`);
  const list = [];
  const add = (b) => list.push(b);

  // ------------------------------------------------------------------ references
  add({
    id: "ref-empty",
    title: "reference: empty Hono route (runtime limit)",
    reference: true,
    spec: () => ({ url: `${urls.empty}/empty` }),
  });
  add({
    id: "ref-do-read",
    title: `reference: bare DO, 1 SQLite read, ${subscribers} objects`,
    reference: true,
    spec: () => {
      const next = cycle(names);
      return { url: urls.bare, requests: [{ method: "GET", setupRequest: (req) => ({ ...req, path: `/read/${next()}` }) }] };
    },
  });
  add({
    id: "ref-do-write",
    title: `reference: bare DO, 1 transactional write, ${subscribers} objects`,
    reference: true,
    spec: () => {
      const next = cycle(names);
      return { url: urls.bare, requests: [{ method: "PUT", setupRequest: (req) => ({ ...req, path: `/write/${next()}` }) }] };
    },
  });
  add({
    id: "ref-do-write-hot",
    title: "reference: bare DO, 1 transactional write, one object",
    reference: true,
    spec: () => ({ url: urls.bare, requests: [{ method: "PUT", path: "/write/hot" }] }),
  });

  // ------------------------------------------------------------------ gateway
  add({
    id: "read",
    title: `read path: GET /twinning/v1/{userId}/twins, ${subscribers} primaries`,
    // Issue 13: against the bare DO read (a read needs its object), one statement per request.
    ref: "ref-do-read",
    alsoRef: "ref-empty",
    target: { rpsRatio: 0.9, p99Ratio: 1.5, maxCommits: 0 },
    spec: () => {
      const next = cycle(seed.pairs);
      return {
        url: urls.gateway,
        requests: [{
          method: "GET",
          setupRequest: (req) => {
            const { primary } = next();
            return { ...req, path: `/twinning/v1/${enc(primary.address)}/twins`, headers: { ...req.headers, Authorization: `Bearer ${primary.token}` } };
          },
        }],
      };
    },
  });

  const toggler = (pairsOf) => {
    const next = cycle(pairsOf);
    const state = new Map();
    return {
      method: "PUT",
      setupRequest: (req) => {
        const { primary, secondary } = next();
        const status = state.get(secondary.address) === "Off" ? "On" : "Off";
        state.set(secondary.address, status);
        return {
          ...req,
          path: `/twinning/v1/${enc(primary.address)}/twins/${enc(secondary.address)}/status`,
          headers: { ...req.headers, ...JSON_TYPE, Authorization: `Bearer ${primary.token}` },
          body: JSON.stringify({ status }),
        };
      },
    };
  };
  add({
    id: "toggle",
    title: `write path: toggle twin status, ${subscribers} primaries`,
    ref: "ref-do-write",
    target: { rpsRatio: 0.45, maxCommits: 2 },
    spec: () => ({ url: urls.gateway, requests: [toggler(seed.pairs)] }),
  });
  add({
    id: "toggle-hot",
    title: `write path, hot: one primary, ${seed.hot.secondaries.length} twins, all connections`,
    ref: "ref-do-write-hot",
    target: { rpsRatio: 0.8, maxCommits: 2 },
    spec: () => ({ url: urls.gateway, requests: [toggler(seed.hot.secondaries.map((secondary) => ({ primary: seed.hot.primary, secondary })))] }),
  });

  add({
    id: "activation",
    title: "activation: request code + activate (2 requests, 3 objects + outbox)",
    ref: "ref-do-write",
    unit: "activation",
    target: { rpsRatio: 0.2, maxCommits: 6 },
    spec: () => {
      const nextPrimary = cycle(seed.activation.primaries);
      const latencies = [];
      let units = 0;
      let instance;
      let exhausted = false;
      let noops = 0;
      let popped = 0;
      return {
        url: urls.gateway,
        onInstance: (i) => (instance = i),
        onPhase: () => {
          latencies.length = 0;
          units = 0;
          noops = 0;
        },
        unitLatencies: latencies,
        units: () => units,
        exhausted: () => exhausted,
        noops: () => noops,
        popped: () => popped,
        requests: [
          {
            method: "POST",
            setupRequest: (req, context) => {
              const secondary = seed.activation.pool.pop();
              if (!secondary) {
                // Pool used up: end the run here (the rate is over the time actually run).
                exhausted = true;
                if (instance && !instance.stoppedForPool) {
                  instance.stoppedForPool = true;
                  instance.stop();
                }
                context.noop = true;
                return { ...req, method: "GET", path: "/__bench/pool-exhausted", body: undefined };
              }
              popped += 1;
              context.secondary = secondary;
              context.t0 = performance.now();
              return {
                ...req,
                path: `/twinning/v1/${enc(secondary.address)}/activationCodes`,
                headers: { ...req.headers, ...JSON_TYPE, Authorization: `Bearer ${secondary.token}` },
                body: "{}",
              };
            },
            onResponse: (status, body, context) => {
              if (context.noop) noops += 1; // not an answer of the gateway's: left out of non-2xx
              else if (status === 201) context.code = JSON.parse(body).activationCode.code;
            },
          },
          {
            method: "POST",
            setupRequest: (req, context) => {
              if (!context.code) return null; // the code request failed: start over
              const primary = nextPrimary();
              return {
                ...req,
                path: `/twinning/v1/${enc(primary.address)}/twins`,
                headers: { ...req.headers, ...JSON_TYPE, Authorization: `Bearer ${primary.token}` },
                body: JSON.stringify({ activationCode: context.code, name: `w-${context.secondary.address.slice(-7)}` }),
              };
            },
            onResponse: (status, _body, context) => {
              if (status === 201) {
                units += 1;
                latencies.push(performance.now() - context.t0);
              }
            },
          },
        ],
      };
    },
  });

  add({
    id: "token",
    title: "token issuance: POST /oauth/token, jwt-bearer, client_secret_basic",
    ref: "ref-do-write",
    target: { rpsRatio: 0.5, maxCommits: 1 },
    spec: () => {
      const next = cycle(seed.pairs);
      const audience = `${urls.gateway}/oauth/token`;
      const auth = basicAuth(seed.client);
      return {
        url: urls.gateway,
        requests: [{
          method: "POST",
          setupRequest: (req) => ({
            ...req,
            path: "/oauth/token",
            headers: { ...req.headers, Authorization: auth, "Content-Type": "application/x-www-form-urlencoded" },
            body: tokenForm(next().primary, seed.client, audience),
          }),
        }],
      };
    },
  });

  // A complete SyncML DM session: not an autocannon spec but its own load loop (bench/gateway/dm.mjs),
  // because each package answers the server's previous one. `run(opts)` returns what load.measure does.
  add({
    id: "dm-session",
    title: `SyncML DM session (WBXML, 3 commands): job POST + 2 DM round trips, ${seed.dm.devices.length} devices`,
    ref: "ref-do-write",
    unit: "session",
    run: (opts) => measureDmSessions({ url: urls.gateway, adminToken: ADMIN_TOKEN, devices: seed.dm.devices, ...opts }),
  });

  for (const [id, title] of [
    ["memo", "proposed: verified claims cached per token until exp"],
    ["cached", "keys cached per isolate (the gateway's verifyAccessToken)"],
    ["import", "JWKS cached, importJWK per request"],
    ["uncached", "no cache: key set from the DO + importJWK per request"],
  ]) {
    add({
      id: `verify-${id}`,
      title: `token verification: ${title}`,
      ref: "ref-empty",
      spec: () => {
        const next = cycle(seed.pairs);
        return {
          url: urls.verify,
          requests: [{
            method: "GET",
            setupRequest: (req) => ({ ...req, path: `/verify/${id}`, headers: { ...req.headers, Authorization: `Bearer ${next().primary.token}` } }),
          }],
        };
      },
    });
  }
  return list;
}

/**
 * One round: each gateway benchmark runs right after a fresh run of its reference, so a ratio
 * compares two runs seconds apart (the machine is shared: its load changes within a minute).
 * Activation comes last: the alarms it leaves fire 30 s later (see run.mjs, settleSeconds).
 */
export const ROUND = [
  "ref-empty", "ref-do-read", "read",
  "ref-do-write", "toggle",
  "ref-do-write-hot", "toggle-hot",
  "ref-do-write", "token",
  "ref-do-write", "dm-session",
  "ref-empty", "verify-memo", "verify-cached", "verify-import", "verify-uncached",
  "ref-do-write", "activation",
];

/**
 * Benchmarks the issue asks for that have nothing to run yet: rows in the table, no numbers.
 * (Both former entries are built: the DM session above, the codec against libwbxml in codec-ref.mjs.)
 */
export const NOT_BUILT_YET = [];
