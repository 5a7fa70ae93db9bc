// Interoperability with libwbxml (Debian libwbxml2-utils), from the committed golden vectors:
// every document of the corpus in both directions, and byte identity wherever libwbxml's encoding
// is the canonical one. test/e2e/codec-libwbxml.test.ts checks the vectors against a live libwbxml.
import { describe, expect, it } from "vitest";
import { decodeDevInf, decodeMessage, encodeDevInf, encodeMessage, wbxmlToXml, xmlToWbxml } from "../../src/codec";
import type { Command, Item, SyncMLMessage, XmlElement } from "../../src/codec";
import { corpus } from "./corpus";
import { canon } from "./xml-canon";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const isDevInf = (xml: string) => /<DevInf[\s>]/.test(xml.slice(0, 400));

/** Opaque data read back as the text it carries (libwbxml sends Add/Replace text as OPAQUE). */
function opaqueAsText(m: unknown): unknown {
  if (m instanceof Uint8Array) return text(m);
  if (Array.isArray(m)) return m.map(opaqueAsText);
  if (m && typeof m === "object") return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, opaqueAsText(v)]));
  return m;
}

describe("the corpus", () => {
  it("has at least 200 SyncML DM 1.2 messages and DevInf documents", () => {
    expect(corpus.length).toBeGreaterThanOrEqual(200);
    const kinds = new Set(corpus.map((d) => d.kind));
    for (const k of ["package1", "package2", "package3", "package4", "large-object", "commands", "devinf", "devinf-embedded", "xml-feature"]) {
      expect(kinds).toContain(k);
    }
  });

  it("uses every command, header, item and meta field of the typed message", () => {
    const seen = new Set<string>();
    const visitMeta = (m: object | undefined, where: string) => {
      for (const [k, v] of Object.entries(m ?? {})) {
        seen.add(`meta.${k}`);
        if (k === "mem" || k === "anchor") for (const sub of Object.keys(v as object)) seen.add(`meta.${k}.${sub}`);
        void where;
      }
    };
    const visitItem = (it: Item) => {
      for (const k of Object.keys(it)) seen.add(`item.${k}`);
      visitMeta(it.meta, "item");
      if (it.data && typeof it.data === "object" && !(it.data instanceof Uint8Array)) seen.add("item.data.devinf");
    };
    const visit = (c: Command) => {
      seen.add(`cmd.${c.kind}`);
      for (const k of Object.keys(c)) seen.add(`${c.kind}.${k}`);
      if ("meta" in c) visitMeta(c.meta, c.kind);
      if ("cred" in c && c.cred) visitMeta(c.cred.meta, "cred");
      if (c.kind === "Status" && c.chal) visitMeta(c.chal.meta, "chal");
      if ("items" in c) for (const it of c.items ?? []) visitItem(it);
      if ("commands" in c) for (const sub of c.commands) visit(sub);
    };
    for (const d of corpus) {
      if (isDevInf(d.xml)) continue;
      const m = decodeMessage(d.xml);
      for (const k of Object.keys(m.header)) seen.add(`header.${k}`);
      visitMeta(m.header.meta, "header");
      if (m.final) seen.add("final");
      m.body.forEach(visit);
    }
    const required = [
      ...["Alert", "Add", "Replace", "Copy", "Delete", "Get", "Exec", "Atomic", "Sequence", "Results", "Status"].map((k) => `cmd.${k}`),
      ...["verDTD", "verProto", "sessionId", "msgId", "target", "source", "respURI", "noResp", "cred", "meta"].map((k) => `header.${k}`),
      ...["format", "type", "mark", "size", "anchor", "version", "nextNonce", "maxMsgSize", "maxObjSize", "emi", "mem", "fieldLevel", "mem.sharedMem", "mem.freeMem", "mem.freeId", "anchor.last", "anchor.next"].map((k) => `meta.${k}`),
      ...["target", "source", "sourceParent", "targetParent", "meta", "data", "moreData", "data.devinf"].map((k) => `item.${k}`),
      "Status.chal", "Status.cred", "Status.targetRefs", "Status.sourceRefs", "Status.items", "Alert.correlator", "Exec.correlator",
      "Get.lang", "Delete.archive", "Delete.sftDel", "Results.targetRef", "Results.sourceRef", "Add.noResp", "final",
    ];
    expect(required.filter((r) => !seen.has(r))).toEqual([]);
  });
});

describe.each(corpus.map((d) => [d.name, d] as const))("%s", (_name, d) => {
  const source = canon(d.xml);

  it(d.canonical ? "encodes to exactly libwbxml's xml2wbxml -n bytes" : "encodes Add/Replace text as STR_I where libwbxml's vObject heuristic uses OPAQUE, otherwise the same", () => {
    const ours = xmlToWbxml(d.xml);
    if (d.canonical) expect(hex(ours)).toBe(hex(d.libWbxml));
    else {
      expect(ours).not.toEqual(d.libWbxml);
      // same document either way: both decode to the source
      expect(canon(wbxmlToXml(ours))).toEqual(source);
    }
  });

  it("decodes libwbxml's WBXML (inline strings and string table) to the source document", () => {
    expect(canon(wbxmlToXml(d.libWbxml))).toEqual(source);
    if (d.libWbxmlStrtbl) expect(canon(wbxmlToXml(d.libWbxmlStrtbl))).toEqual(source);
  });

  it("is decoded by libwbxml's wbxml2xml from our WBXML to the source document", () => {
    expect(canon(d.libXml)).toEqual(source);
  });

  it("round-trips through the typed model in XML and WBXML", () => {
    if (isDevInf(d.xml)) {
      const tree: XmlElement = decodeDevInf(d.xml);
      expect(canon(encodeDevInf(tree, "xml"))).toEqual(source);
      expect(encodeDevInf(tree, "wbxml")).toEqual(xmlToWbxml(d.xml));
      expect(decodeDevInf(d.libWbxml)).toEqual(tree);
      return;
    }
    const msg: SyncMLMessage = decodeMessage(d.xml);
    expect(canon(encodeMessage(msg, "xml"))).toEqual(source);
    const wbxml = encodeMessage(msg, "wbxml");
    expect(decodeMessage(wbxml)).toEqual(msg);
    // CDATA is only text to the typed model, so it comes back as STR_I instead of OPAQUE
    if (!d.xml.includes("<![CDATA[")) expect(hex(wbxml)).toBe(hex(xmlToWbxml(d.xml)));
    expect(decodeMessage(wbxml)).toEqual(decodeMessage(wbxmlToXml(wbxml)));
    expect(opaqueAsText(decodeMessage(d.libWbxml))).toEqual(opaqueAsText(msg));
  });
});
