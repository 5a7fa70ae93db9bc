// An independent view of an XML document for comparisons: fast-xml-parser (not our codec) parses it,
// then formatting is dropped: the XML declaration, DOCTYPE, comments, attributes (SyncML has none;
// xmlns only names the code page), whitespace-only text between elements; text and CDATA are merged.
import { XMLParser } from "fast-xml-parser";

export type Canon = [string, ...(Canon | string)[]];

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  processEntities: true,
  htmlEntities: true,
  trimValues: false,
  cdataPropName: "#cdata",
  parseTagValue: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

type Raw = Record<string, unknown>;

function convert(name: string, kids: Raw[]): Canon {
  const out: (Canon | string)[] = [];
  for (const k of kids) {
    if ("#text" in k) push(out, String(k["#text"]));
    else if ("#cdata" in k) for (const t of k["#cdata"] as Raw[]) push(out, String(t["#text"] ?? ""));
    else {
      const key = Object.keys(k).find((x) => x !== ":@");
      if (key) out.push(convert(key, k[key] as Raw[]));
    }
  }
  const hasElements = out.some((c) => typeof c !== "string");
  const kept = hasElements ? out.filter((c) => typeof c !== "string" || c.trim() !== "") : out;
  return [name, ...kept];
}

function push(out: (Canon | string)[], s: string) {
  const last = out[out.length - 1];
  if (typeof last === "string") out[out.length - 1] = last + s;
  else out.push(s);
}

/** The document's root element as nested [name, ...children] arrays. */
export function canon(xml: string | Uint8Array): Canon {
  const text = typeof xml === "string" ? xml : new TextDecoder().decode(xml);
  const doc = parser.parse(text.replace(/^\uFEFF/, "")) as Raw[];
  for (const k of doc) {
    const key = Object.keys(k).find((x) => x !== ":@" && x !== "#text" && !x.startsWith("!"));
    if (key) return convert(key, k[key] as Raw[]);
  }
  throw new Error("no root element");
}
