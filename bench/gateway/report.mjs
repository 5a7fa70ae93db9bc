// Turns the rounds into the summary (medians over rounds of each value and of each same-round
// ratio) and prints it as a Markdown table, ready for BENCHMARKS.md.

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

const rate = (r) => r.unitsPerSecond;

/**
 * `rounds`: arrays of runs ({ id, ...result, refIndex?, alsoRefIndex? }); a reference may run
 * several times a round. Ratios are per run against the reference run just before it.
 */
export function summariseRounds(list, rounds) {
  const out = [];
  for (const b of list) {
    const runs = [];
    const pairs = [];
    const alsoPairs = [];
    for (const round of rounds) {
      for (const run of round) {
        if (run.id !== b.id) continue;
        runs.push(run);
        if (b.ref && run.refIndex !== undefined) pairs.push([run, round[run.refIndex]]);
        if (b.alsoRef && run.alsoRefIndex !== undefined) alsoPairs.push([run, round[run.alsoRefIndex]]);
      }
    }
    if (!runs.length) continue;
    const requests = runs.reduce((a, r) => a + r.requests, 0);
    const bad = runs.reduce((a, r) => a + r.non2xx + r.errors + r.timeouts, 0);
    const statuses = {};
    for (const r of runs) for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
    const row = {
      id: b.id,
      title: b.title,
      reference: !!b.reference,
      unit: b.unit ?? "request",
      runs: runs.length,
      perSecond: median(runs.map(rate)),
      requestsPerSecond: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      ...(runs.some((r) => r.dmP50 !== undefined) ? { dmP50: median(runs.map((r) => r.dmP50)), dmP99: median(runs.map((r) => r.dmP99)) } : {}),
      workerdCpuUsPerUnit: median(runs.map((r) => r.workerdCpuUsPerUnit)),
      workerdCpuPercent: median(runs.map((r) => r.workerdCpuPercent)),
      loadGeneratorCpuPercent: median(runs.map((r) => r.loadGeneratorCpuPercent)),
      perRun: runs.map(rate).map((x) => Math.round(x)),
      errorShare: requests ? bad / requests : 1,
      statuses,
      poolExhausted: runs.some((r) => r.poolExhausted),
    };
    if (b.ref) {
      row.ref = b.ref;
      row.ratio = median(pairs.map(([r, ref]) => rate(r) / ref.rps));
      row.p99Ratio = median(pairs.map(([r, ref]) => r.p99 / ref.p99));
      row.p50Ratio = median(pairs.map(([r, ref]) => r.p50 / ref.p50));
      row.ratioPerRun = pairs.map(([r, ref]) => Math.round((1000 * rate(r)) / ref.rps) / 1000);
      // The same comparison in workerd CPU time per unit: what the throughput ratio would be if
      // both were CPU-bound on an idle core. Robust to the machine's load; blind to I/O waits.
      row.cpuRatio = median(pairs.map(([r, ref]) => ref.workerdCpuUsPerUnit / r.workerdCpuUsPerUnit));
      row.extraCpuUsPerUnit = median(pairs.map(([r, ref]) => r.workerdCpuUsPerUnit - ref.workerdCpuUsPerUnit));
    }
    if (b.alsoRef) {
      row.alsoRef = b.alsoRef;
      row.alsoRatio = median(alsoPairs.map(([r, ref]) => rate(r) / ref.rps));
    }
    if (b.target) {
      row.target = b.target;
      const misses = [];
      if (b.target.rpsRatio !== undefined && !(row.ratio >= b.target.rpsRatio)) {
        misses.push(`throughput ${(row.ratio * 100).toFixed(0)}% of ${b.ref} < ${b.target.rpsRatio * 100}% (short by ${((1 - row.ratio / b.target.rpsRatio) * 100).toFixed(0)}% of the target)`);
      }
      if (b.target.p99Ratio !== undefined && !(row.p99Ratio <= b.target.p99Ratio)) {
        misses.push(`p99 ${row.p99Ratio.toFixed(2)}x ${b.ref} > ${b.target.p99Ratio}x`);
      }
      row.meetsTarget = misses.length === 0;
      row.misses = misses;
    }
    out.push(row);
  }
  return out;
}

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : "–");
const pct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(0)}%` : "–");

function targetText(row) {
  if (!row.target) return "";
  const parts = [];
  if (row.target.rpsRatio !== undefined) parts.push(`≥ ${row.target.rpsRatio * 100}%`);
  if (row.target.p99Ratio !== undefined) parts.push(`p99 ≤ ${row.target.p99Ratio}x`);
  return `${parts.join(", ")}: ${row.meetsTarget ? "**met**" : "**missed**"}`;
}

export function markdownTable(results) {
  const lines = [];
  lines.push("| Benchmark | per s | p50 ms | p99 ms | workerd CPU µs/unit | vs reference | ratio | CPU ratio | p99 ratio | target |");
  lines.push("|---|---:|---:|---:|---:|---|---:|---:|---:|---|");
  for (const row of results.summary) {
    const perSecond = row.unit === "request" ? fmt(row.perSecond) : `${fmt(row.perSecond)} ${row.unit}s (${fmt(row.requestsPerSecond)} req)`;
    const vs = row.ref ? row.ref.replace(/^ref-/, "") : "";
    const also = row.alsoRef ? ` (${pct(row.alsoRatio)} of ${row.alsoRef.replace(/^ref-/, "")})` : "";
    lines.push(
      `| ${row.title}${row.poolExhausted ? " †" : ""} | ${perSecond} | ${fmt(row.p50, 2)} | ${fmt(row.p99, 2)} | ${fmt(row.workerdCpuUsPerUnit)} | ${vs} | ${row.ref ? pct(row.ratio) : ""}${also} | ${row.ref ? pct(row.cpuRatio) : ""} | ${row.ref ? `${fmt(row.p99Ratio, 2)}x` : ""} | ${targetText(row)} |`,
    );
  }
  const cr = results.codecVsLibwbxml;
  if (cr?.skipped) lines.push(`| WBXML codec vs libwbxml (bench/codec.mjs) | – | – | – | – | | | | | skipped: ${cr.skipped} |`);
  else if (cr) {
    for (const dir of ["encode", "decode"]) {
      const ours = cr.ours[dir];
      const lib = cr.libwbxml[dir];
      const what = dir === "encode" ? "encode XML → WBXML" : "decode WBXML → XML";
      lines.push(`| WBXML codec (WASM on Node) vs libwbxml (native C), ${what}, corpus | ${fmt(ours?.docsPerS)} docs (${fmt(ours?.MBps, 1)} MB/s) | | | | libwbxml: ${fmt(lib?.docsPerS)} docs (${fmt(lib?.MBps, 1)} MB/s) | ${fmt(cr[`${dir}Ratio`], 2)}x | | | ≥ 2x (see "Codec"): ${cr[`${dir}Ratio`] >= 2 ? "**met**" : "**missed**"} |`);
    }
  }
  for (const n of results.notBuiltYet) lines.push(`| ${n.title} | – | – | – | – | | | | | ${n.note} |`);
  const b = results.bundle;
  lines.push(`| Worker bundle (index.js + .wasm, gzip -9) | ${fmt(b.gzipBytes / 1024, 1)} KiB (${fmt(b.rawBytes / 1024, 1)} KiB raw) | | | | | | | | < 1 MB: ${b.meetsTarget ? "**met**" : "**missed**"} |`);
  lines.push(`| workerd peak RSS (VmHWM), whole run | ${fmt(results.workerdMemory.peakRss / 2 ** 20)} MiB | | | | | | | |`);
  return lines.join("\n");
}

export function verificationTable(results) {
  const rows = results.summary.filter((r) => r.id.startsWith("verify-"));
  if (!rows.length) return "";
  const lines = ["| Token verification | req/s | % of empty route | workerd CPU µs/request | above the empty route |", "|---|---:|---:|---:|---:|"];
  for (const r of rows) lines.push(`| ${r.title.replace(/^token verification: /, "")} | ${fmt(r.perSecond)} | ${pct(r.ratio)} | ${fmt(r.workerdCpuUsPerUnit)} | ${fmt(r.extraCpuUsPerUnit)} |`);
  return lines.join("\n");
}

export function commitsTable(results) {
  if (!results.storageCommits) return "";
  const lines = [
    "| fsyncs per unit, under strace (by file: Durable Object commits / alarm store / object created or erased) | all | DO commits | alarm store | object lifecycle | target (DO commits + alarm store) |",
    "|---|---:|---:|---:|---:|---|",
  ];
  if (results.storageCommits.skipped) lines.push(`| skipped: ${results.storageCommits.skipped} | | | | | |`);
  for (const [id, c] of Object.entries(results.storageCommits)) {
    if (typeof c !== "object") continue;
    const row = results.summary.find((r) => r.id === id);
    const title = id === "activation-deferred" ? "activation, later: alarms its objects fire within 33 s" : row?.title ?? id;
    const k = c.byKind ?? {};
    const max = id === "activation-deferred" ? 0 : row?.target?.maxCommits;
    const spent = (k.commit ?? 0) + (k.alarm ?? 0);
    const target = max === undefined ? "" : `≤ ${max}: ${spent <= max + 0.05 ? "**met**" : "**missed**"}`;
    lines.push(`| ${title} (per ${row?.unit ?? (id.startsWith("activation") ? "activation" : "request")}) | ${c.perUnit} | ${k.commit ?? "–"} | ${k.alarm ?? "–"} | ${k.lifecycle ?? "–"} | ${target} |`);
  }
  return lines.join("\n");
}

export function profileTable(results) {
  if (!results.profiles) return "";
  const out = [];
  for (const [id, p] of Object.entries(results.profiles)) {
    out.push(`${id}: ${p.sampledMs} ms sampled at ${p.rpsWhileProfiling} req/s`);
    out.push(`  self time by origin: ${p.selfByCategory.slice(0, 10).map((c) => `${c.what} ${c.percent}%`).join(", ")}`);
    out.push(`  top self: ${p.topSelf.slice(0, 8).map((c) => `${c.what} ${c.percent}%`).join("; ")}`);
    out.push(`  top total (gateway code): ${p.topTotalGateway.slice(0, 8).map((c) => `${c.what} ${c.percent}%`).join("; ")}`);
  }
  return out.join("\n");
}

export function dmText(results) {
  const row = results.summary.find((r) => r.id === "dm-session");
  if (!row) return "";
  const out = [
    `DM session: ${fmt(row.perSecond)} sessions/s (${fmt(row.requestsPerSecond)} req/s), ${pct(row.ratio)} of the bare DO write's requests/s; ` +
      `session latency (job POST -> closing message) p50 ${fmt(row.p50, 2)} ms (${fmt(row.p50Ratio, 1)}x the write's p50), p99 ${fmt(row.p99, 2)} ms (${fmt(row.p99Ratio, 1)}x); ` +
      `the 2 DM round trips alone p50 ${fmt(row.dmP50, 2)} ms, p99 ${fmt(row.dmP99, 2)} ms; workerd CPU ${fmt(row.workerdCpuUsPerUnit)} us/session; per run ${row.perRun.join(", ")}`,
  ];
  const dm = results.dm;
  if (dm?.verifyError) out.push(`DM session check FAILED: ${dm.verifyError}`);
  if (dm?.codecPerSession) {
    const c = dm.codecPerSession;
    out.push(`DM codec work per session (Node, same WASM): ${c.totalUs} us = decode pkg1 ${c.decodePkg1Us} + encode pkg2 ${c.encodePkg2Us} + decode pkg3 ${c.decodePkg3Us} + encode pkg4 ${c.encodePkg4Us}; WBXML bytes ${c.bytes.pkg1}/${c.bytes.pkg2}/${c.bytes.pkg3}/${c.bytes.pkg4}`);
  }
  return out.join("\n");
}

export function printReport(results) {
  const m = results.machine;
  console.log(`\n## Gateway benchmark (${results.config.mode}): ${results.command}`);
  console.log(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, workerd ${m.workerd} (wrangler ${m.wrangler}); load average ${m.loadAverageAtStart.join(" ")} at start, ${m.loadAverageAtEnd.join(" ")} at end`);
  console.log(
    `${results.config.rounds} round(s) x ${results.config.duration}s after ${results.config.warmup}s warm-up, ${results.config.connections} connections, ${results.config.subscribers} subscribers; medians; each ratio pairs a run with the reference run just before it (median over rounds).\n`,
  );
  console.log(markdownTable(results));
  console.log("");
  console.log(verificationTable(results));
  const dm = dmText(results);
  if (dm) console.log(`\n${dm}`);
  const commits = commitsTable(results);
  if (commits) console.log(`\n${commits}`);
  const profiles = profileTable(results);
  if (profiles) console.log(`\nCPU profiles (gateway isolate):\n${profiles}`);
  const missed = results.summary.filter((r) => r.target && !r.meetsTarget);
  if (missed.length) console.log(`\nTargets missed:\n${missed.map((r) => `- ${r.id}: ${r.misses.join("; ")}`).join("\n")}`);
  console.log("");
}
