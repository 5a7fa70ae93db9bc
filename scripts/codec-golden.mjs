// Regenerates test/codec/corpus/golden.json from Debian's libwbxml (libwbxml2-utils), the independent
// WBXML implementation the codec is checked against:  node scripts/codec-golden.mjs
// For each corpus document it records
//   wbxml        xml2wbxml -n (inline strings, what SyncML DM clients expect)
//   wbxmlStrtbl  xml2wbxml with its string table, when that differs (our decoder reads STR_T too)
//   libXml       wbxml2xml -m 0 of OUR encoding (libwbxml decoding us)
// The workers tests check these without libwbxml; test/e2e/codec-libwbxml.test.ts checks that a
// live libwbxml still produces exactly them.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadCodec } from "./codec-node.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const corpusDir = join(root, "test", "codec", "corpus", "xml");
export const goldenPath = join(root, "test", "codec", "corpus", "golden.json");

export function hasLibwbxml() {
  try {
    execFileSync("xml2wbxml", [], { stdio: "ignore" });
  } catch (e) {
    return e.code !== "ENOENT";
  }
  return true;
}

/** libwbxml's view of every corpus document, in the shape of golden.json. */
export async function libwbxmlGolden() {
  const { codec } = await loadCodec();
  const tmp = mkdtempSync(join(tmpdir(), "codec-golden-"));
  const out = {};
  try {
    for (const file of readdirSync(corpusDir).filter((f) => f.endsWith(".xml")).sort()) {
      const name = file.slice(0, -4);
      const path = join(corpusDir, file);
      const run = (cmd, args) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "ignore"], maxBuffer: 64 << 20 });
      const wbxml = run("xml2wbxml", ["-n", "-o", "-", path]);
      const strtbl = run("xml2wbxml", ["-o", "-", path]);
      const ours = join(tmp, `${name}.wbxml`);
      writeFileSync(ours, codec.xmlToWbxml(readFileSync(path)));
      const libXml = run("wbxml2xml", ["-m", "0", "-o", "-", ours]).toString("utf8");
      out[name] = {
        wbxml: wbxml.toString("base64"),
        ...(strtbl.equals(wbxml) ? {} : { wbxmlStrtbl: strtbl.toString("base64") }),
        libXml,
      };
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!hasLibwbxml()) {
    console.error("codec-golden: needs xml2wbxml and wbxml2xml: apt-get install -y libwbxml2-utils");
    process.exit(2);
  }
  const golden = await libwbxmlGolden();
  writeFileSync(goldenPath, JSON.stringify(golden, null, 1) + "\n");
  console.log(`${Object.keys(golden).length} documents -> ${goldenPath}`);
}
