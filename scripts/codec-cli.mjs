#!/usr/bin/env node
// The SyncML DM codec on the command line, over the same codec.wasm and host code as the Worker.
//   npm run codec -- xml2wbxml IN OUT      XML -> WBXML 1.3 (inline strings)
//   npm run codec -- wbxml2xml IN OUT      WBXML -> XML
//   npm run codec -- pkg0 decode IN        package 0 (DM notification) -> JSON on stdout
// IN and OUT may be "-" for stdin and stdout. Bad input exits with status 1 and names the byte
// offset and what was expected.
import { readFileSync, writeFileSync } from "node:fs";
import { loadCodec } from "./codec-node.mjs";

const usage = `usage: npm run codec -- xml2wbxml IN OUT
       npm run codec -- wbxml2xml IN OUT
       npm run codec -- pkg0 decode IN
  ("-" reads stdin / writes stdout)`;

function read(path) {
  return new Uint8Array(readFileSync(path === "-" ? 0 : path));
}

function write(path, bytes) {
  if (path === "-") process.stdout.write(bytes);
  else writeFileSync(path, bytes);
}

async function main(argv) {
  const [cmd, a, b] = argv;
  const { codec, CodecError } = await loadCodec();
  try {
    if (cmd === "xml2wbxml" && a && b && argv.length === 3) write(b, codec.xmlToWbxml(read(a)));
    else if (cmd === "wbxml2xml" && a && b && argv.length === 3) write(b, codec.wbxmlToXml(read(a)));
    else if (cmd === "pkg0" && a === "decode" && b && argv.length === 3) {
      const p = codec.decodePackage0(read(b));
      const hex = (u8) => Buffer.from(u8).toString("hex");
      process.stdout.write(JSON.stringify({ ...p, digest: hex(p.digest), vendor: hex(p.vendor) }, null, 2) + "\n");
    } else {
      process.stderr.write(usage + "\n");
      return 2;
    }
    return 0;
  } catch (e) {
    if (e instanceof CodecError) {
      process.stderr.write(`codec: ${e.offset >= 0 ? `at byte ${e.offset}: ` : ""}expected ${e.expected} [${e.code}]\n`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
