// The WBXML codec against libwbxml, in the same bench run: runs bench/codec.mjs (`npm run bench:codec`,
// not changed here) as a child process after the workerd runs (so neither competes for the two cores)
// and reads its table and ratio lines. Skipped, with the reason, when ../shared/bench/libwbxml-ref or
// libwbxml2-dev is missing: codec.mjs then measures only our side and has no ratio to give.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "./build.mjs";

export const LIBWBXML_REF = join(PROJECT_ROOT, "..", "shared", "bench", "libwbxml-ref");

/** Why the comparison cannot run here, or undefined when it can. */
export function libwbxmlMissing() {
  if (!existsSync(LIBWBXML_REF)) return `${LIBWBXML_REF} not found`;
  try {
    const out = execFileSync("dpkg-query", ["-W", "-f=${Status}", "libwbxml2-dev"], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    if (!out.includes("install ok installed")) return "libwbxml2-dev is not installed";
  } catch {
    return "libwbxml2-dev is not installed (dpkg-query found no package)";
  }
  return undefined;
}

/** Runs bench/codec.mjs for `seconds` per measurement; { rows, encodeRatio, decodeRatio, ... } or { skipped }. */
export function codecVsLibwbxml(seconds) {
  const missing = libwbxmlMissing();
  if (missing) return { skipped: missing };
  const t0 = Date.now();
  const res = spawnSync(process.execPath, [join(PROJECT_ROOT, "bench", "codec.mjs"), String(seconds)], { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 300_000 });
  if (res.status !== 0) return { skipped: `bench/codec.mjs failed (exit ${res.status ?? res.signal}): ${(res.stderr || "").trim().slice(-300)}` };
  const out = res.stdout;
  const rows = [];
  for (const line of out.split("\n")) {
    const m = /^\| (.+?) \| ([\d,]+) \| ([\d.]+) \|$/.exec(line.trim());
    if (m) rows.push({ name: m[1], docsPerS: Number(m[2].replace(/,/g, "")), MBps: Number(m[3]) });
  }
  const ratio = (what) => {
    const m = new RegExp(`ratio ${what} ours / libwbxml: ([\\d.]+)x`).exec(out);
    return m ? Number(m[1]) : undefined;
  };
  const encodeRatio = ratio("encode");
  const decodeRatio = ratio("decode");
  if (encodeRatio === undefined || decodeRatio === undefined) {
    return { skipped: `libwbxml-ref gave no result (${(res.stderr || "").trim().slice(-300) || "no ratio lines in bench/codec.mjs output"})`, rows };
  }
  const corpus = /^corpus: (.*)$/m.exec(out)?.[1];
  const find = (prefix) => rows.find((r) => r.name.startsWith(prefix));
  return {
    command: `node bench/codec.mjs ${seconds}`,
    seconds,
    corpus,
    rows,
    encodeRatio,
    decodeRatio,
    ours: { encode: find("ours: encode"), decode: find("ours: decode") },
    libwbxml: { encode: rows.find((r) => /encode XML -> WBXML \(native C\)/.test(r.name)), decode: rows.find((r) => /decode WBXML -> XML \(native C\)/.test(r.name)) },
    wallSeconds: Math.round((Date.now() - t0) / 1000),
  };
}
