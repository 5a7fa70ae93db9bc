// Interoperability with a live libwbxml (Debian libwbxml2-utils: xml2wbxml, wbxml2xml), on Node
// because the workers tests cannot spawn processes. .ci/run installs libwbxml; without it these
// tests are skipped and the workers tests still check the committed golden vectors.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { corpusDir, goldenPath, hasLibwbxml, libwbxmlGolden } from "../../scripts/codec-golden.mjs";
import { loadCodec, type NodeCodec } from "../../scripts/codec-node.mjs";
import { canon } from "../codec/xml-canon";

const live = hasLibwbxml();
type Golden = Record<string, { wbxml: string; wbxmlStrtbl?: string; libXml: string }>;

describe.skipIf(!live)("libwbxml (xml2wbxml, wbxml2xml) against the codec", () => {
  let codec: NodeCodec;
  let fresh: Golden;
  const files = readdirSync(corpusDir).filter((f) => f.endsWith(".xml")).sort();
  const manifest = JSON.parse(readFileSync(join(corpusDir, "..", "manifest.json"), "utf8")) as Record<string, { canonical: boolean }>;

  beforeAll(async () => {
    codec = (await loadCodec()).codec;
    fresh = await libwbxmlGolden();
  });

  it("produces exactly the committed golden vectors (node scripts/codec-golden.mjs regenerates them)", () => {
    const committed = JSON.parse(readFileSync(goldenPath, "utf8")) as Golden;
    expect(Object.keys(fresh).sort()).toEqual(Object.keys(committed).sort());
    for (const name of Object.keys(committed)) expect(fresh[name], name).toEqual(committed[name]);
  });

  it("agrees with us on every corpus document in both directions", () => {
    let identical = 0;
    for (const file of files) {
      const name = file.slice(0, -4);
      const xml = readFileSync(join(corpusDir, file));
      const source = canon(xml);
      const g = fresh[name]!;
      const lib = Buffer.from(g.wbxml, "base64");
      const ours = Buffer.from(codec.xmlToWbxml(xml));
      if (manifest[name]!.canonical) {
        expect(ours.toString("hex"), `${name}: our WBXML is xml2wbxml -n's`).toBe(lib.toString("hex"));
        identical++;
      }
      // libwbxml decodes our WBXML to the source document
      expect(canon(g.libXml), `${name}: wbxml2xml of ours`).toEqual(source);
      // we decode libwbxml's WBXML (inline strings and string table) to the source document
      expect(canon(codec.wbxmlToXml(lib)), `${name}: ours of xml2wbxml -n`).toEqual(source);
      if (g.wbxmlStrtbl) expect(canon(codec.wbxmlToXml(Buffer.from(g.wbxmlStrtbl, "base64"))), `${name}: ours of xml2wbxml`).toEqual(source);
    }
    expect(files.length).toBeGreaterThanOrEqual(200);
    expect(identical).toBeGreaterThanOrEqual(200);
  });

  it("reads our XML output back with libwbxml to the same WBXML (wbxml2xml/xml2wbxml round trip)", () => {
    for (const file of files.filter((_, i) => i % 5 === 0)) {
      const name = file.slice(0, -4);
      if (!manifest[name]!.canonical) continue;
      const ourXml = codec.wbxmlToXml(codec.xmlToWbxml(readFileSync(join(corpusDir, file))));
      const lib = execFileSync("xml2wbxml", ["-n", "-o", "-", "-"], { input: ourXml, stdio: ["pipe", "pipe", "ignore"] });
      expect(Buffer.from(codec.xmlToWbxml(ourXml)).toString("hex"), name).toBe(lib.toString("hex"));
    }
  });
});

it.runIf(!live)("skips the live libwbxml checks: xml2wbxml is not installed", () => {
  expect(live).toBe(false);
});
