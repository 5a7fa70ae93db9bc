// Mutation fuzzing over the corpus: deterministic (seeded), so a failure names an input that can be
// replayed. Each input must decode, or fail with a CodecError: never another exception (a WASM trap,
// a RangeError), never a hang, never growth of the module's memory.
import { expect } from "vitest";
import { CodecError, codecMemoryBytes, decodeMessage, encodeMessage, wbxmlToXml, xmlToWbxml } from "../../src/codec";

export function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = new TextEncoder();
const XML_BITS = ["<", ">", "&", "&amp;", "&#", "&#x1F;", "]]>", "<![CDATA[", "<!--", "-->", "</", "/>", "<?", "?>", "\"", "'", "=", "<Data>", "</Data>", "<Item>", "<DevInf>", "<Meta><Type>", "\r", "\u00e9", "\ufffd", "\0"].map((s) => enc.encode(s));
// WBXML tokens worth aiming at: SWITCH_PAGE, END, ENTITY, STR_I, LITERAL, EXT, PI, STR_T, OPAQUE, mb_u_int32 edges
const WBXML_BITS = [[0x00, 0x01], [0x00, 0x07], [0x01], [0x02, 0x81, 0x69], [0x03], [0x03, 0x41, 0x00], [0x04, 0x00], [0x40], [0x43], [0x83, 0x00], [0x83, 0x7f], [0xc3, 0x05], [0xc3, 0x8f, 0xff, 0xff, 0xff, 0x7f], [0xff, 0xff, 0xff, 0xff, 0x0f], [0x4f, 0xc3, 0x10, 0x03, 0xa4, 0x03, 0x6a, 0x00, 0x4a], [0x6d], [0x5a], [0x80]].map((b) => new Uint8Array(b));

export function mutate(input: Uint8Array, other: Uint8Array, r: () => number, xml: boolean): Uint8Array {
  let b: Uint8Array = input.slice();
  const rounds = 1 + Math.floor(r() * 4);
  for (let k = 0; k < rounds; k++) {
    const at = Math.floor(r() * (b.length + 1));
    switch (Math.floor(r() * 9)) {
      case 0: // flip a bit
        if (b.length) b[Math.min(at, b.length - 1)]! ^= 1 << Math.floor(r() * 8);
        break;
      case 1: // a random byte
        if (b.length) b[Math.min(at, b.length - 1)] = Math.floor(r() * 256);
        break;
      case 2: // delete a range
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + Math.floor(r() * 64))));
        break;
      case 3: // duplicate a range (deep nesting, repeated elements)
        {
          const len = 1 + Math.floor(r() * 200);
          b = concat(b.subarray(0, at), b.subarray(at, at + len), b.subarray(at));
        }
        break;
      case 4: // truncate
        b = b.subarray(0, at);
        break;
      case 5: // splice another document in
        {
          const from = Math.floor(r() * other.length);
          b = concat(b.subarray(0, at), other.subarray(from, from + Math.floor(r() * 300)), b.subarray(at));
        }
        break;
      default: // insert a token the parsers care about
        {
          const bits = xml ? XML_BITS : WBXML_BITS;
          b = concat(b.subarray(0, at), bits[Math.floor(r() * bits.length)]!, b.subarray(at));
        }
    }
  }
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function expectCodecError(e: unknown, input: Uint8Array, what: string): void {
  if (!(e instanceof CodecError)) {
    throw new Error(`${what} threw ${String(e)} on input ${Array.from(input.subarray(0, 64), (x) => x.toString(16).padStart(2, "0")).join("")}...`);
  }
  // the offset is inside the input (or -1 when the error is not about input bytes)
  if (e.offset > input.length + 1 || e.offset < -1) throw new Error(`${what}: offset ${e.offset} outside an input of ${input.length} bytes`);
}

export interface FuzzStats {
  inputs: number;
  decoded: number;
  refused: number;
}

/**
 * Runs `count` mutated inputs through the typed decoder and the converters. A successful decode is
 * encoded again in both forms; a successful conversion must convert back (the output is well formed).
 */
export function fuzz(seeds: Uint8Array[], count: number, seed: number, xml: boolean): FuzzStats {
  const r = rng(seed);
  const memory = codecMemoryBytes();
  const stats: FuzzStats = { inputs: 0, decoded: 0, refused: 0 };
  for (let i = 0; i < count; i++) {
    const base = seeds[Math.floor(r() * seeds.length)]!;
    const other = seeds[Math.floor(r() * seeds.length)]!;
    const input = mutate(base, other, r, xml);
    stats.inputs++;
    try {
      const m = decodeMessage(input, { encoding: xml ? "xml" : "wbxml" });
      stats.decoded++;
      for (const e of ["xml", "wbxml"] as const) {
        try {
          decodeMessage(encodeMessage(m, e));
        } catch (err) {
          expectCodecError(err, input, `re-encoding as ${e}`);
        }
      }
    } catch (e) {
      expectCodecError(e, input, "decodeMessage");
      stats.refused++;
    }
    try {
      const out = xml ? xmlToWbxml(input) : wbxmlToXml(input);
      // the converter's output is a well-formed document the other direction accepts
      try {
        const back = xml ? wbxmlToXml(out) : xmlToWbxml(out);
        if (xml) expect(xmlToWbxml(back)).toEqual(out);
      } catch (err) {
        expectCodecError(err, out, "converting back");
        if (xml) throw new Error(`XML that converted to WBXML did not convert back: ${String(err)}`);
      }
    } catch (e) {
      if (!(e instanceof CodecError) || e.message.startsWith("XML that converted")) expectCodecError(e, input, "convert");
    }
  }
  expect(codecMemoryBytes()).toBe(memory);
  return stats;
}
