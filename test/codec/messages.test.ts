// The typed SyncML DM codec: what it decodes and encodes, and how it refuses bad input
// (typed CodecError with the byte offset and what was expected; fixed size and depth limits).
import { describe, expect, it } from "vitest";
import {
  CodecError, codecLimits, codecMemoryBytes, decodeDevInf, decodeMessage, encodeMessage, wbxmlToXml, xmlToWbxml,
} from "../../src/codec";
import type { SyncMLMessage } from "../../src/codec";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!, (h) => parseInt(h, 16));

const HDR = "<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>1</SessionID><MsgID>1</MsgID><Target><LocURI>IMEI:1</LocURI></Target><Source><LocURI>srv</LocURI></Source></SyncHdr>";
const doc = (body: string) => `<SyncML xmlns="SYNCML:SYNCML1.2">${HDR}<SyncBody>${body}</SyncBody></SyncML>`;

function codecError(fn: () => unknown): CodecError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CodecError);
    return e as CodecError;
  }
  throw new Error("expected a CodecError");
}

const message: SyncMLMessage = {
  header: {
    verDTD: "1.2", verProto: "DM/1.2", sessionId: "0", msgId: "1",
    target: { locURI: "https://dm.example.com/dm" }, source: { locURI: "IMEI:493005100592800", locName: "dev" },
    cred: { meta: { format: "b64", type: "syncml:auth-md5" }, data: "Zz6EivR3yeaaENcRN6lpAQ==" },
    meta: { maxMsgSize: 10000, maxObjSize: 100000 },
  },
  body: [
    { kind: "Alert", cmdId: "1", data: "1201", items: [] },
    { kind: "Replace", cmdId: "2", items: [{ source: { locURI: "./DevInfo/Lang" }, data: "en-US" }, { source: { locURI: "./DevInfo/Blob" }, meta: { format: "bin" }, data: new Uint8Array([0, 1, 2, 0xff]) }] },
    { kind: "Status", cmdId: "3", msgRef: "1", cmdRef: "0", cmd: "SyncHdr", chal: { meta: { format: "b64", type: "syncml:auth-md5", nextNonce: "AAEC" } }, data: "401" },
  ],
  final: true,
};

describe("typed messages", () => {
  it("keep the session id an opaque string, \"0\" and hex alike", () => {
    expect(decodeMessage(doc("")).header.sessionId).toBe("1");
    const m = decodeMessage(encodeMessage({ ...message, body: [] }, "xml"));
    expect(m.header.sessionId).toBe("0");
    expect(typeof m.header.sessionId).toBe("string");
  });

  it("round-trip through WBXML, with binary Data as OPAQUE", () => {
    const wbxml = encodeMessage(message, "wbxml");
    expect(hex(wbxml.subarray(0, 5))).toBe("03a4016a00"); // WBXML 1.3, public id 0x1201, UTF-8, no string table
    expect(decodeMessage(wbxml)).toEqual(message);
    expect(hex(wbxml)).toContain("c304000102ff"); // OPAQUE, length 4
  });

  it("write MetInf on code page 1 in WBXML and with xmlns=\"syncml:metinf\" in XML", () => {
    const xml = text(encodeMessage({ ...message, body: [] }, "xml"));
    expect(xml).toContain('<MaxMsgSize xmlns="syncml:metinf">10000</MaxMsgSize>');
    expect(xml).toContain('<SyncML xmlns="SYNCML:SYNCML1.2">');
    // Meta (0x1A with content), SWITCH_PAGE 1, MaxMsgSize (0x0C with content)
    expect(hex(encodeMessage({ ...message, body: [] }, "wbxml"))).toContain("5a00014c033130303030");
  });

  it("refuse binary Data in XML instead of writing bytes XML cannot carry", () => {
    const e = codecError(() => encodeMessage(message, "xml"));
    expect(e.expected).toMatch(/binary data needs Format b64/);
  });

  it("decode entities, character references and CDATA, and escape on the way out", () => {
    const m = decodeMessage(doc("<Alert><CmdID>1</CmdID><Data>1226</Data><Item><Data>a &amp; &lt;b&gt; &#233;&#x1F600;<![CDATA[ <c> & ]]></Data></Item></Alert>"));
    const alert = m.body[0];
    expect(alert?.kind === "Alert" && alert.items[0]?.data).toBe("a & <b> é😀 <c> & ");
    expect(text(encodeMessage(m, "xml"))).toContain("<Data>a &amp; &lt;b&gt; é😀 &lt;c&gt; &amp; </Data>");
  });

  it("find MetInf elements with or without their namespace", () => {
    const a = decodeMessage(doc('<Get><CmdID>1</CmdID><Meta><Type>text/plain</Type></Meta><Item><Target><LocURI>./a</LocURI></Target></Item></Get>'));
    const b = decodeMessage(doc('<Get><CmdID>1</CmdID><Meta><Type xmlns="syncml:metinf">text/plain</Type></Meta><Item><Target><LocURI>./a</LocURI></Target></Item></Get>'));
    expect(a).toEqual(b);
  });

  it("keep a blank value that is an element's whole content, and drop formatting between elements", () => {
    const m = decodeMessage(doc("\n  <Alert>\n    <CmdID>1</CmdID>\n    <Data> </Data>\n  </Alert>\n"));
    expect(m.body[0]).toEqual({ kind: "Alert", cmdId: "1", data: " ", items: [] });
  });

  it("carry DevInf inside Data as elements in XML and as an embedded 0x1203 document in WBXML", () => {
    const xml = doc('<Results><CmdID>1</CmdID><CmdRef>2</CmdRef><Meta><Type xmlns="syncml:metinf">application/vnd.syncml-devinf+xml</Type></Meta><Item><Source><LocURI>./devinf12</LocURI></Source><Data><DevInf xmlns="syncml:devinf"><VerDTD>1.2</VerDTD><Man>Acme</Man></DevInf></Data></Item></Results>');
    const wbxml = xmlToWbxml(xml);
    expect(hex(wbxml)).toContain("c31603a4036a004a650331" ); // OPAQUE(22): WBXML 1.3, 0x1203, UTF-8, DevInf, VerDTD "1..."
    expect(text(wbxml)).toContain("application/vnd.syncml-devinf+wbxml");
    const m = decodeMessage(wbxml);
    const r = m.body[0];
    expect(r?.kind === "Results" && r.items[0]?.data).toEqual({ name: "DevInf", children: [{ name: "VerDTD", children: ["1.2"] }, { name: "Man", children: ["Acme"] }] });
    expect(r?.kind === "Results" && r.meta?.type).toBe("application/vnd.syncml-devinf+xml");
    expect(decodeMessage(xml)).toEqual(m);
  });

  it("decode DevInf 1.2 documents on their own", () => {
    const d = decodeDevInf('<DevInf xmlns="syncml:devinf"><VerDTD>1.2</VerDTD><Ext><XNam>x</XNam><XVal>1</XVal></Ext></DevInf>');
    expect(d.children[1]).toEqual({ name: "Ext", children: [{ name: "XNam", children: ["x"] }, { name: "XVal", children: ["1"] }] });
  });

  it("read string-table references (STR_T) and ENTITY tokens from WBXML", () => {
    // header with a 4-byte string table "1.2\0"; VerDTD via STR_T 0; LocURI "a" ENTITY(0xE9) "b"
    const w = unhex(`03 a4 01 6a 04 312e3200 6d 6c 71 83 00 01 72 03 ${hex(new TextEncoder().encode("DM/1.2"))} 00 01 65 03 31 00 01 5b 03 31 00 01
      6e 57 03 61 00 02 81 69 03 62 00 01 01 67 57 03 73 00 01 01 01 6b 12 01 01`);
    const m = decodeMessage(w);
    expect(m.header.verDTD).toBe("1.2");
    expect(m.header.target.locURI).toBe("aéb");
    expect(m.final).toBe(true);
  });

  it("report missing required elements and wrong values with the element's byte offset", () => {
    const e1 = codecError(() => decodeMessage("<SyncML><SyncBody><Final/></SyncBody></SyncML>"));
    expect(e1.expected).toBe("<SyncHdr> in <SyncML>");
    const xml = doc("<Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd></Status>");
    const e2 = codecError(() => decodeMessage(xml));
    expect(e2.expected).toBe("<Data> in <Status>");
    expect(e2.offset).toBe(xml.indexOf("<Status>"));
    const bad = doc("<Get><CmdID>1</CmdID><Meta><Size>12a</Size></Meta><Item><Target><LocURI>x</LocURI></Target></Item></Get>");
    expect(codecError(() => decodeMessage(bad))).toMatchObject({ offset: bad.indexOf("<Size>"), expected: "a decimal integer in <Size>" });
    expect(codecError(() => decodeMessage(doc("<Sync><CmdID>1</CmdID></Sync>"))).expected).toMatch(/a SyncML DM command/);
  });
});

describe("bad input is a typed error naming the byte offset and what was expected", () => {
  it.each([
    ["truncated XML", doc("").slice(0, 120), "truncated", /more input/],
    ["a mismatched end tag", "<SyncML><SyncHdr></SyncBody></SyncML>", "end-tag", /the end tag <\/SyncHdr>/],
    ["an unknown element", "<SyncML><SyncHdr><Bogus/></SyncHdr></SyncML>", "unknown-element", /SyncML 1.2, MetInf 1.2 or DevInf 1.2/],
    ["an unknown entity", doc("<Alert><CmdID>&nbsp;</CmdID></Alert>"), "entity", /&amp;/],
    ["a control character", doc("<Alert><CmdID>\u0001</CmdID></Alert>"), "char", /U\+0001/],
    ["a reference to a non-character", doc("<Alert><CmdID>&#0;</CmdID></Alert>"), "char", /U\+0000/],
    ["a foreign root", "<html><body/></html>", "root", /<SyncML>/],
    ["content after the root", `${doc("")}<SyncML/>`, "trailing", /end of the message/],
    ["an empty message", "   ", "empty", /empty/],
    ["a broken attribute", '<SyncML xmlns=SYNCML:SYNCML1.2></SyncML>', "attribute", /name="value"/],
  ])("%s in XML", (_what, xml, code, expected) => {
    const e = codecError(() => decodeMessage(xml));
    expect(e.code).toBe(code);
    expect(e.expected).toMatch(expected);
    expect(e.offset).toBeGreaterThanOrEqual(0);
    expect(e.offset).toBeLessThanOrEqual(new TextEncoder().encode(xml).length);
  });

  it("names the exact byte of invalid UTF-8", () => {
    const bytes = new TextEncoder().encode(doc("<Alert><CmdID>1</CmdID><Data>ab</Data></Alert>"));
    const at = new TextDecoder().decode(bytes).indexOf("ab</Data>") + 1;
    bytes[at] = 0xc3; // a lead byte followed by '<'
    expect(codecError(() => decodeMessage(bytes, { encoding: "xml" }))).toMatchObject({ code: "utf8", offset: at });
  });

  const good = xmlToWbxml(doc("<Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Final/>"));
  it.each([
    ["a truncated WBXML message", good.subarray(0, good.length - 3), "truncated", good.length - 3],
    ["an unknown tag token", unhex("03a4016a00 6d 7f"), "token", 6],
    ["an unknown code page", unhex("03a4016a00 6d 00 05"), "code-page", 6],
    ["attributes on a tag", unhex("03a4016a00 ed 01"), "attribute", 5],
    ["an extension token", unhex("03a4016a00 6d c0"), "global-token", 6],
    ["an unknown public id", unhex("03 6a 6a 00 6d 01"), "public-id", 1],
    ["a WBXML version above 1.3", unhex("09 a4 01 6a 00 6d 01"), "version", 0],
    ["a string-table reference outside the table", unhex("03a4016a00 6d 6c 71 83 05"), "string-table", 8],
    ["a multi-byte integer over 32 bits", unhex("03a4016a00 6d 6c 71 c3 ff ff ff ff ff 7f"), "mb-uint", 9],
    ["an opaque length past the end", unhex("03a4016a00 6d 6c 71 c3 20 41"), "truncated", 11],
    ["bytes after the root", unhex("03a4016a00 2d 2d"), "trailing", 6],
  ])("%s", (_what, bytes, code, offset) => {
    const e = codecError(() => decodeMessage(bytes, { encoding: "wbxml" }));
    expect(e.code).toBe(code);
    expect(e.offset).toBe(offset);
  });

  it("refuses nesting deeper than the fixed limit, in XML and WBXML", () => {
    const { maxDepth } = codecLimits();
    const deep = "<SyncML>" + "<Atomic>".repeat(maxDepth) + "</Atomic>".repeat(maxDepth) + "</SyncML>";
    const e = codecError(() => xmlToWbxml(deep));
    expect(e.code).toBe("too-deep");
    expect(e.offset).toBe(8 + 8 * (maxDepth - 1));
    const w = new Uint8Array([3, 0xa4, 1, 0x6a, 0, 0x6d, ...new Array(maxDepth + 5).fill(0x48)]);
    expect(codecError(() => wbxmlToXml(w))).toMatchObject({ code: "too-deep", offset: 5 + maxDepth });
  });

  it("refuses a message over the fixed size limit before reading it", () => {
    const { maxMessageBytes } = codecLimits();
    const big = "<SyncML>" + " ".repeat(maxMessageBytes) + "</SyncML>";
    expect(codecError(() => decodeMessage(big))).toMatchObject({ code: "too-large", offset: maxMessageBytes });
    expect(codecError(() => wbxmlToXml(new Uint8Array(maxMessageBytes + 1)))).toMatchObject({ code: "too-large" });
  });

  it("never grows the module's memory, whatever it is given", () => {
    const before = codecMemoryBytes();
    const { maxMessageBytes } = codecLimits();
    // the densest WBXML: every byte an empty element, the most tape records per input byte
    const dense = new Uint8Array(maxMessageBytes);
    dense.set([3, 0xa4, 1, 0x6a, 0, 0x6d, 0x6b]);
    dense.fill(0x12, 7);
    expect(codecError(() => wbxmlToXml(dense)).code).toMatch(/tape-full|output-full|trailing/);
    decodeMessage(encodeMessage(message, "wbxml"));
    expect(codecMemoryBytes()).toBe(before);
  });
});
