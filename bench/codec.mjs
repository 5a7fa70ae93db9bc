#!/usr/bin/env node
// npm run bench:codec [-- SECONDS]: throughput of the WASM codec on the committed corpus
// (test/codec/corpus/xml), in one run, against
//   - libwbxml, natively (../shared/bench/libwbxml-ref, a C harness over libwbxml2-dev): XML -> WBXML
//     without string table, and WBXML -> compact XML, the same conversions as ours;
//   - the fastest pure-JS XML parser on npm we found (txml and fast-xml-parser are both measured),
//     for the XML direction.
// Encode = XML -> WBXML, MB/s of XML in; decode = WBXML -> XML, MB/s of WBXML in (libwbxml-ref's units).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { XMLParser } from "fast-xml-parser";
import * as txml from "txml";
import { loadCodec } from "../scripts/codec-node.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const corpusDir = join(root, "test", "codec", "corpus", "xml");
const seconds = Number(process.argv[2] ?? 2);

const { codec } = await loadCodec();
const names = readdirSync(corpusDir).filter((f) => f.endsWith(".xml")).sort();
const xmlBytes = names.map((f) => new Uint8Array(readFileSync(join(corpusDir, f))));
const xmlStrings = xmlBytes.map((b) => new TextDecoder().decode(b));
// Decode libwbxml's own encodings (the committed xml2wbxml -n vectors), the bytes libwbxml-ref decodes.
const golden = JSON.parse(readFileSync(join(root, "test", "codec", "corpus", "golden.json"), "utf8"));
const wbxmlBytes = names.map((f) => new Uint8Array(Buffer.from(golden[f.slice(0, -4)].wbxml, "base64")));
const sum = (a) => a.reduce((s, b) => s + b.length, 0);
const totalXml = sum(xmlBytes);
const totalWbxml = sum(wbxmlBytes);
const isMessage = xmlStrings.map((s) => !/<DevInf[\s>]/.test(s.slice(0, 400)));
const typed = names.map((_, i) => (isMessage[i] ? codec.decodeMessage(xmlBytes[i]) : null));

/** Runs fn over every document repeatedly for about `seconds`; documents per second. */
function measure(fn, docs) {
  for (let i = 0; i < docs.length; i++) fn(i); // warm up
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    for (let i = 0; i < docs.length; i++) fn(i);
    n += docs.length;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (elapsed < seconds);
  return n / elapsed;
}

const fxp = new XMLParser({ ignoreAttributes: false, processEntities: true });
const rows = [];
function row(name, docsPerS, bytes, docs) {
  rows.push({ name, docsPerS, MBps: (docsPerS * (bytes / docs)) / 1e6 });
}

const N = names.length;
row("ours: encode XML -> WBXML (wasm)", measure((i) => codec.xmlToWbxml(xmlBytes[i]), xmlBytes), totalXml, N);
row("ours: decode WBXML -> XML (wasm)", measure((i) => codec.wbxmlToXml(wbxmlBytes[i]), wbxmlBytes), totalWbxml, N);
const msgIdx = names.map((_, i) => i).filter((i) => isMessage[i]);
const msgXml = sum(msgIdx.map((i) => xmlBytes[i]));
const msgWbxml = sum(msgIdx.map((i) => wbxmlBytes[i]));
row("ours: XML -> typed message", measure((k) => codec.decodeMessage(xmlBytes[msgIdx[k]]), msgIdx), msgXml, msgIdx.length);
row("ours: WBXML -> typed message", measure((k) => codec.decodeMessage(wbxmlBytes[msgIdx[k]]), msgIdx), msgWbxml, msgIdx.length);
row("ours: typed message -> WBXML", measure((k) => codec.encodeMessage(typed[msgIdx[k]], "wbxml"), msgIdx), msgXml, msgIdx.length);
row("txml.parse (pure JS, string in)", measure((i) => txml.parse(xmlStrings[i]), xmlStrings), totalXml, N);
row("fast-xml-parser (pure JS, string in)", measure((i) => fxp.parse(xmlStrings[i]), xmlStrings), totalXml, N);

let lib = null;
const ref = join(root, "..", "shared", "bench", "libwbxml-ref");
if (existsSync(ref)) {
  try {
    lib = JSON.parse(execFileSync(ref, [corpusDir, String(seconds)], { stdio: ["ignore", "pipe", "inherit"] }).toString());
    row(`${lib.tool}: encode XML -> WBXML (native C)`, lib.encode_docs_per_s, lib.xml_bytes, lib.documents);
    row(`${lib.tool}: decode WBXML -> XML (native C)`, lib.decode_docs_per_s, lib.wbxml_bytes, lib.documents);
  } catch (e) {
    console.error(`libwbxml-ref failed (${e.message}); install libwbxml2-dev to compare`);
  }
} else console.error(`${ref} not found: libwbxml is not compared`);

const cpu = cpus()[0]?.model ?? "unknown CPU";
console.log(`corpus: ${N} documents, ${totalXml} bytes XML, ${totalWbxml} bytes WBXML (libwbxml's); ${seconds}s per measurement`);
if (lib) console.log(`libwbxml-ref: ${lib.documents} documents, ${lib.xml_bytes} bytes XML, ${lib.wbxml_bytes} bytes WBXML`);
console.log(`machine: ${cpu}, ${cpus().length} cores, Node ${process.version}`);
console.log("");
console.log("| measurement | documents/s | MB/s |");
console.log("|---|---:|---:|");
for (const r of rows) console.log(`| ${r.name} | ${Math.round(r.docsPerS).toLocaleString("en-US")} | ${r.MBps.toFixed(1)} |`);
console.log("");
const get = (prefix) => rows.find((r) => r.name.startsWith(prefix));
const jsBest = [get("txml"), get("fast-xml-parser")].sort((a, b) => b.docsPerS - a.docsPerS)[0];
const ours = get("ours: XML -> typed") ;
const conv = get("ours: encode");
console.log(`fastest pure-JS XML parser here: ${jsBest.name.split(" (")[0]}`);
console.log(`ratio XML -> typed message (ours) / ${jsBest.name.split(" (")[0]} parse: ${(ours.MBps / jsBest.MBps).toFixed(2)}x (MB/s)`);
console.log(`ratio XML -> WBXML (ours) / ${jsBest.name.split(" (")[0]} parse: ${(conv.MBps / jsBest.MBps).toFixed(2)}x (MB/s)`);
if (lib) {
  console.log(`ratio encode ours / libwbxml: ${(get("ours: encode").docsPerS / lib.encode_docs_per_s).toFixed(2)}x (documents/s)`);
  console.log(`ratio decode ours / libwbxml: ${(get("ours: decode").docsPerS / lib.decode_docs_per_s).toFixed(2)}x (documents/s)`);
}
