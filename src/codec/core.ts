// The host side of codec.wasm: the only code that touches its memory. It takes a compiled
// WebAssembly.Module, so the Worker (which imports build/codec.wasm as a Module) and Node (the CLI
// and the benchmark, which compile the file) share it. It has no imports but types, so the CLI can
// load it by transpiling this one file.
//
// Every message crosses the boundary once: the input is copied into the module's fixed input
// buffer, one export parses it onto the tape (or writes the output), and the result is read back.
import type {
  Anchor, Chal, Command, Cred, Encoding, Item, ItemData, LocRef, Mem, Meta, Package0, Package0Fields, Status,
  SyncHdr, SyncMLMessage, UiMode, XmlElement,
} from "./types";

interface Exports {
  memory: WebAssembly.Memory;
  codeScratch(): number;
  activationCode(len: number, digits: number): number;
  CODE_SCRATCH_BYTES: WebAssembly.Global;
  MAX_MESSAGE: WebAssembly.Global;
  MAX_DEPTH: WebAssembly.Global;
  TAPE_RECORDS: WebAssembly.Global;
  TEXT_CAP: WebAssembly.Global;
  IO_CAP: WebAssembly.Global;
  inputPtr(): number;
  tapePtr(): number;
  textPtr(): number;
  outputPtr(): number;
  ioPtr(): number;
  lastError(): number;
  lastErrorOffset(): number;
  lastErrorDetail(): number;
  docLang(): number;
  decode(len: number, format: number): number;
  encode(records: number, lang: number, to: number): number;
  convert(len: number, from: number, to: number): number;
  md5(p: number, n: number, out: number): void;
  hmacMd5(key: number, keyLen: number, msg: number, msgLen: number, out: number): void;
  b64(p: number, n: number, out: number): number;
  dmDigest(name: number, nameLen: number, secret: number, secretLen: number, nonce: number, nonceLen: number,
    body: number, bodyLen: number, out: number): void;
  pkg0Encode(version: number, uiMode: number, initiator: number, sessionId: number, sidLen: number, pwLen: number,
    nonceLen: number, bodyLen: number): number;
  pkg0Decode(len: number): number;
  tagNameLen(table: number, token: number): number;
  tagNamePtr(table: number, token: number): number;
}

/** A message the codec refuses: where (byte offset in the input, -1 when not about input) and what it expected. */
export class CodecError extends Error {
  override readonly name = "CodecError";
  constructor(
    readonly offset: number,
    readonly expected: string,
    readonly code = "invalid",
  ) {
    super(offset >= 0 ? `at byte ${offset}: expected ${expected}` : `expected ${expected}`);
  }
}

// Formats and languages (assembly/layout.ts, assembly/tables.ts).
const F_AUTO = 0;
const F_XML = 1;
const F_WBXML = 2;
const LANG_SYNCML = 0;
const LANG_DEVINF = 1;
const K_OPEN = 1;
const K_CLOSE = 2;
const K_TEXT = 3;
const K_OPAQUE = 4;
const K_CDATA = 5;
const T_SYNCML = 0;
const T_METINF = 1;
const T_DEVINF = 2;

const ERROR_CODES = [
  "", "too-large", "too-deep", "truncated", "name", "gt", "end-tag", "unknown-element", "attribute", "entity",
  "char", "utf8", "root", "trailing", "version", "public-id", "charset", "mb-uint", "token", "code-page",
  "string-table", "global-token", "tape-full", "output-full", "nul", "binary", "markup", "empty", "text-full",
  "argument",
] as const;

const UI_MODES: readonly UiMode[] = ["not-specified", "background", "informative", "user-interaction"];

const enc = new TextEncoder();
const dec = new TextDecoder();

const hex = (n: number) => "0x" + n.toString(16).toUpperCase().padStart(2, "0");

interface Node {
  id: number;
  off: number;
  kids: Node[];
  text: string[] | undefined;
  bytes: Uint8Array[] | undefined;
}

/** The codec bound to one instance of codec.wasm. */
export class Codec {
  readonly maxMessage: number;
  readonly maxDepth: number;
  private readonly x: Exports;
  private readonly names: string[][] = [[], [], []];
  private readonly ids: Map<string, number>[] = [new Map(), new Map()];
  private readonly tapeRecords: number;
  private readonly textCap: number;
  private readonly ioCap: number;

  constructor(module: WebAssembly.Module) {
    this.x = new WebAssembly.Instance(module, {
      env: {
        abort(_msg: number, _file: number, line: number, column: number): never {
          throw new Error(`codec.wasm aborted at ${line}:${column}`);
        },
      },
    }).exports as unknown as Exports;
    const x = this.x;
    this.maxMessage = x.MAX_MESSAGE.value as number;
    this.maxDepth = x.MAX_DEPTH.value as number;
    this.tapeRecords = x.TAPE_RECORDS.value as number;
    this.textCap = x.TEXT_CAP.value as number;
    this.ioCap = x.IO_CAP.value as number;
    const mem = this.u8();
    for (let table = 0; table < 3; table++) {
      for (let token = 0; token < 64; token++) {
        const len = x.tagNameLen(table, token);
        const name = len ? dec.decode(mem.subarray(x.tagNamePtr(table, token), x.tagNamePtr(table, token) + len)) : "";
        this.names[table]![token] = name;
        const lang = table >> 1;
        if (name && !this.ids[lang]!.has(name)) this.ids[lang]!.set(name, (table << 8) | token);
      }
    }
  }

  /** WASM memory bytes. The module allocates its buffers once, but views are refreshed defensively. */
  private u8(): Uint8Array {
    return new Uint8Array(this.x.memory.buffer);
  }

  /** Bytes of the module's memory currently in use: constant after instantiation (no growth). */
  memoryBytes(): number {
    return this.x.memory.buffer.byteLength;
  }

  private tagName(id: number): string {
    return this.names[(id >> 8) & 3]?.[id & 0xff] || hex(id);
  }

  private error(): CodecError {
    const x = this.x;
    const code = x.lastError();
    const d = x.lastErrorDetail();
    const off = x.lastErrorOffset();
    const name = ERROR_CODES[code] ?? "invalid";
    let expected: string;
    switch (code) {
      case 1: expected = `a message of at most ${d} bytes`; break;
      case 2: expected = `elements nested at most ${d} deep`; break;
      case 3: expected = d > 0xff ? `more input: the message ends inside <${this.tagName(d)}>` : "more input: the message is truncated"; break;
      case 4: expected = "an element name"; break;
      case 5: expected = "'>'"; break;
      case 6: expected = d ? `the end tag </${this.tagName(d)}>` : "balanced start and end tags"; break;
      case 7: expected = "an element of SyncML 1.2, MetInf 1.2 or DevInf 1.2"; break;
      case 8: expected = d ? `a tag without attributes (SyncML defines none), not ${hex(d)}` : "a well-formed attribute name=\"value\""; break;
      case 9: expected = "a character reference or one of &amp; &lt; &gt; &quot; &apos;"; break;
      case 10: expected = `a character XML 1.0 allows, not U+${d.toString(16).toUpperCase().padStart(4, "0")}`; break;
      case 11: expected = "well-formed UTF-8"; break;
      case 12: expected = "the root element <SyncML> (SyncML 1.2) or <DevInf> (DevInf 1.2)"; break;
      case 13: expected = "the end of the message after the root element"; break;
      case 14: expected = `WBXML version 1.0 to 1.3 (0x00-0x03), not ${hex(d)}`; break;
      case 15: expected = `public id 0x1201 (SyncML 1.2) or 0x1203 (DevInf 1.2)${d ? `, not ${hex(d)}` : ""}`; break;
      case 16: expected = `charset UTF-8 (MIBenum 106), not ${d}`; break;
      case 17: expected = "a multi-byte integer of at most 32 bits"; break;
      case 18: expected = `a tag token defined on code page ${d >> 8}, not ${hex(d & 0xff)}`; break;
      case 19: expected = `code page 0 (SyncML) or 1 (MetInf), not ${d}`; break;
      case 20: expected = `a reference inside the ${d}-byte string table`; break;
      case 21: expected = `a WBXML token SyncML uses (tag, END, STR_I, STR_T, ENTITY, OPAQUE, SWITCH_PAGE), not ${hex(d)}`; break;
      case 22: expected = `at most ${d} elements and text runs`; break;
      case 23: expected = `an output of at most ${d} bytes`; break;
      case 24: expected = "text without NUL characters"; break;
      case 25: expected = "UTF-8 text in opaque data written as XML (binary data needs Format b64 in XML)"; break;
      case 26: expected = "a comment, CDATA section or processing instruction"; break;
      case 27: expected = "a SyncML DM message (the input is empty)"; break;
      case 28: expected = `at most ${d} bytes of text`; break;
      default: expected = "valid arguments";
    }
    return new CodecError(off, expected, name);
  }

  private load(input: Uint8Array | string): number {
    const ptr = this.x.inputPtr();
    if (typeof input === "string") {
      const room = this.maxMessage + 1;
      const r = enc.encodeInto(input, this.u8().subarray(ptr, ptr + room));
      if (r.read < input.length || r.written > this.maxMessage) {
        throw new CodecError(this.maxMessage, `a message of at most ${this.maxMessage} bytes`, "too-large");
      }
      return r.written;
    }
    if (input.length > this.maxMessage) {
      throw new CodecError(this.maxMessage, `a message of at most ${this.maxMessage} bytes`, "too-large");
    }
    this.u8().set(input, ptr);
    return input.length;
  }

  // ------------------------------------------------------------------------------------------
  // Conversion without a typed model (CLI, benchmark, interop)

  /** XML -> WBXML 1.3 in one call into the module. */
  xmlToWbxml(xml: Uint8Array | string): Uint8Array {
    return this.convert(xml, F_XML, F_WBXML);
  }

  /** WBXML -> compact XML in one call into the module. */
  wbxmlToXml(wbxml: Uint8Array): Uint8Array {
    return this.convert(wbxml, F_WBXML, F_XML);
  }

  /** Re-encodes a document in the given format (either input format, detected by its first byte). */
  transcode(input: Uint8Array | string, to: Encoding): Uint8Array {
    return this.convert(input, F_AUTO, to === "wbxml" ? F_WBXML : F_XML);
  }

  private convert(input: Uint8Array | string, from: number, to: number): Uint8Array {
    const len = this.load(input);
    const n = this.x.convert(len, from, to);
    if (n < 0) throw this.error();
    const out = this.x.outputPtr();
    return this.u8().slice(out, out + n);
  }

  // ------------------------------------------------------------------------------------------
  // Typed decoding

  /** Decodes a SyncML DM 1.2 message (XML or WBXML; detected by the first byte unless given). */
  decodeMessage(input: Uint8Array | string, options: { encoding?: Encoding } = {}): SyncMLMessage {
    const root = this.parse(input, options.encoding);
    if (root.id !== ((T_SYNCML << 8) | 0x2d)) throw new CodecError(root.off, "a SyncML message, not a DevInf document", "root");
    return this.message(root);
  }

  /** Decodes a DevInf 1.2 document (XML or WBXML) into a generic element tree. */
  decodeDevInf(input: Uint8Array | string, options: { encoding?: Encoding } = {}): XmlElement {
    const root = this.parse(input, options.encoding);
    if (root.id !== ((T_DEVINF << 8) | 0x0a)) throw new CodecError(root.off, "a DevInf document", "root");
    return this.element(root);
  }

  private parse(input: Uint8Array | string, encoding: Encoding | undefined): Node {
    const format = typeof input === "string" ? F_XML : encoding === "xml" ? F_XML : encoding === "wbxml" ? F_WBXML : F_AUTO;
    const len = this.load(input);
    const n = this.x.decode(len, format);
    if (n < 0) throw this.error();
    return this.tree(n);
  }

  /** Builds the element tree from the tape (records are well nested: the module checked them). */
  private tree(n: number): Node {
    const buf = this.x.memory.buffer;
    const w = new Uint32Array(buf, this.x.tapePtr(), n * 2);
    const mem = new Uint8Array(buf);
    const stack: Node[] = [];
    let root: Node | undefined;
    for (let i = 0; i < n; i++) {
      const w0 = w[2 * i]!;
      const w1 = w[2 * i + 1]!;
      const kind = w0 >>> 28;
      if (kind === K_OPEN) {
        const node: Node = { id: w0 & 0xffff, off: w1, kids: [], text: undefined, bytes: undefined };
        const parent = stack[stack.length - 1];
        if (parent) parent.kids.push(node);
        else root = node;
        stack.push(node);
      } else if (kind === K_CLOSE) {
        stack.pop();
      } else {
        const len = w0 & 0x0fffffff;
        const node = stack[stack.length - 1]!;
        if (kind === K_OPAQUE) (node.bytes ??= []).push(mem.slice(w1, w1 + len));
        else (node.text ??= []).push(utf8(mem, w1, len));
      }
    }
    if (!root) throw new CodecError(0, "a root element", "root");
    return root;
  }

  private element(node: Node): XmlElement {
    const children: (XmlElement | string)[] = [];
    for (const k of node.kids) children.push(this.element(k));
    if (node.text) children.push(node.text.join(""));
    return { name: this.tagName(node.id), children };
  }

  private message(root: Node): SyncMLMessage {
    let header: SyncHdr | undefined;
    let body: Command[] | undefined;
    let final: boolean | undefined;
    for (const k of root.kids) {
      const name = this.tagName(k.id);
      if (name === "SyncHdr") header = this.header(k);
      else if (name === "SyncBody") {
        body = [];
        for (const c of k.kids) {
          if (this.tagName(c.id) === "Final") final = true;
          else body.push(this.command(c));
        }
      } else throw this.unexpected(k, "<SyncHdr> or <SyncBody>");
    }
    if (!header) throw new CodecError(root.off, "<SyncHdr> in <SyncML>", "missing");
    if (!body) throw new CodecError(root.off, "<SyncBody> in <SyncML>", "missing");
    const msg: SyncMLMessage = { header, body };
    if (final) msg.final = true;
    return msg;
  }

  private unexpected(node: Node, expected: string): CodecError {
    return new CodecError(node.off, `${expected}, not <${this.tagName(node.id)}>`, "unexpected-element");
  }

  private text(node: Node): string {
    if (node.kids.length) throw this.unexpected(node.kids[0]!, "text");
    if (node.bytes) return dec.decode(concat(node.bytes));
    return node.text ? node.text.join("") : "";
  }

  private int(node: Node): number {
    const s = this.text(node);
    if (!/^[0-9]{1,15}$/.test(s)) throw new CodecError(node.off, `a decimal integer in <${this.tagName(node.id)}>`, "integer");
    return Number(s);
  }

  private empty(node: Node): true {
    if (node.kids.length) throw this.unexpected(node.kids[0]!, `an empty <${this.tagName(node.id)}/>`);
    return true;
  }

  private loc(node: Node): LocRef {
    let locURI: string | undefined;
    let locName: string | undefined;
    for (const k of node.kids) {
      const name = this.tagName(k.id);
      if (name === "LocURI") locURI = this.text(k);
      else if (name === "LocName") locName = this.text(k);
      else throw this.unexpected(k, "<LocURI> or <LocName>");
    }
    if (locURI === undefined) throw new CodecError(node.off, `<LocURI> in <${this.tagName(node.id)}>`, "missing");
    return locName === undefined ? { locURI } : { locURI, locName };
  }

  private meta(node: Node): Meta {
    const m: Meta = {};
    // <Meta> holds MetInf elements directly, or (rarely) wrapped in <MetInf>
    const kids = node.kids.length === 1 && this.tagName(node.kids[0]!.id) === "MetInf" ? node.kids[0]!.kids : node.kids;
    for (const k of kids) {
      const name = this.tagName(k.id);
      if (k.id >> 8 !== T_METINF) throw this.unexpected(k, "a MetInf element");
      switch (name) {
        case "Format": m.format = this.text(k); break;
        case "Type": m.type = xmlForm(this.text(k)); break;
        case "Mark": m.mark = this.text(k); break;
        case "Size": m.size = this.int(k); break;
        case "Version": m.version = this.text(k); break;
        case "NextNonce": m.nextNonce = this.text(k); break;
        case "MaxMsgSize": m.maxMsgSize = this.int(k); break;
        case "MaxObjSize": m.maxObjSize = this.int(k); break;
        case "EMI": (m.emi ??= []).push(this.text(k)); break;
        case "FieldLevel": m.fieldLevel = this.empty(k); break;
        case "Anchor": {
          const a: Partial<Anchor> = {};
          for (const c of k.kids) {
            const cn = this.tagName(c.id);
            if (cn === "Last") a.last = this.text(c);
            else if (cn === "Next") a.next = this.text(c);
            else throw this.unexpected(c, "<Last> or <Next>");
          }
          if (a.next === undefined) throw new CodecError(k.off, "<Next> in <Anchor>", "missing");
          m.anchor = a as Anchor;
          break;
        }
        case "Mem": {
          const mem: Partial<Mem> = {};
          for (const c of k.kids) {
            const cn = this.tagName(c.id);
            if (cn === "SharedMem") mem.sharedMem = this.empty(c);
            else if (cn === "FreeMem") mem.freeMem = this.int(c);
            else if (cn === "FreeID") mem.freeId = this.int(c);
            else throw this.unexpected(c, "<SharedMem>, <FreeMem> or <FreeID>");
          }
          if (mem.freeMem === undefined || mem.freeId === undefined) throw new CodecError(k.off, "<FreeMem> and <FreeID> in <Mem>", "missing");
          m.mem = mem as Mem;
          break;
        }
        default:
          throw this.unexpected(k, "a MetInf element of a SyncML DM <Meta>");
      }
    }
    return m;
  }

  private cred(node: Node): Cred {
    let meta: Meta | undefined;
    let data: string | undefined;
    for (const k of node.kids) {
      const name = this.tagName(k.id);
      if (name === "Meta") meta = this.meta(k);
      else if (name === "Data") data = this.text(k);
      else throw this.unexpected(k, "<Meta> or <Data>");
    }
    if (data === undefined) throw new CodecError(node.off, "<Data> in <Cred>", "missing");
    return meta ? { meta, data } : { data };
  }

  private header(node: Node): SyncHdr {
    const h: Partial<SyncHdr> = {};
    for (const k of node.kids) {
      switch (this.tagName(k.id)) {
        case "VerDTD": h.verDTD = this.text(k); break;
        case "VerProto": h.verProto = this.text(k); break;
        case "SessionID": h.sessionId = this.text(k); break;
        case "MsgID": h.msgId = this.text(k); break;
        case "Target": h.target = this.loc(k); break;
        case "Source": h.source = this.loc(k); break;
        case "RespURI": h.respURI = this.text(k); break;
        case "NoResp": h.noResp = this.empty(k); break;
        case "Cred": h.cred = this.cred(k); break;
        case "Meta": h.meta = this.meta(k); break;
        default: throw this.unexpected(k, "a <SyncHdr> element");
      }
    }
    for (const [field, el] of [["verDTD", "VerDTD"], ["verProto", "VerProto"], ["sessionId", "SessionID"], ["msgId", "MsgID"], ["target", "Target"], ["source", "Source"]] as const) {
      if (h[field] === undefined) throw new CodecError(node.off, `<${el}> in <SyncHdr>`, "missing");
    }
    return h as SyncHdr;
  }

  private item(node: Node): Item {
    const it: Item = {};
    for (const k of node.kids) {
      switch (this.tagName(k.id)) {
        case "Target": it.target = this.loc(k); break;
        case "Source": it.source = this.loc(k); break;
        case "SourceParent": it.sourceParent = this.loc(k); break;
        case "TargetParent": it.targetParent = this.loc(k); break;
        case "Meta": it.meta = this.meta(k); break;
        case "Data": it.data = this.data(k); break;
        case "MoreData": it.moreData = this.empty(k); break;
        default: throw this.unexpected(k, "an <Item> element");
      }
    }
    return it;
  }

  private data(node: Node): ItemData {
    if (node.kids.length) {
      const k = node.kids[0]!;
      if (node.kids.length > 1 || k.id !== ((T_DEVINF << 8) | 0x0a)) throw this.unexpected(k, "text, opaque data or one <DevInf>");
      return this.element(k);
    }
    if (node.bytes && !node.text) return node.bytes.length === 1 ? node.bytes[0]! : concat(node.bytes);
    if (node.bytes) throw new CodecError(node.off, "either text or opaque data in <Data>", "mixed-data");
    return node.text ? node.text.join("") : "";
  }

  private command(node: Node): Command {
    const kind = this.tagName(node.id);
    switch (kind) {
      case "Alert": case "Add": case "Replace": case "Copy": case "Delete": case "Get": case "Exec":
      case "Atomic": case "Sequence": case "Results": case "Status":
        break;
      default:
        throw this.unexpected(node, "a SyncML DM command (Alert, Add, Replace, Copy, Delete, Get, Exec, Atomic, Sequence, Results, Status) or <Final/>");
    }
    const c: Record<string, unknown> = { kind };
    const items: Item[] = [];
    const commands: Command[] = [];
    for (const k of node.kids) {
      const name = this.tagName(k.id);
      switch (name) {
        case "CmdID": c.cmdId = this.text(k); break;
        case "NoResp": c.noResp = this.empty(k); break;
        case "Cred": c.cred = this.cred(k); break;
        case "Meta": c.meta = this.meta(k); break;
        case "Item": items.push(this.item(k)); break;
        case "Correlator": c.correlator = this.text(k); break;
        case "Data": c.data = this.text(k); break;
        case "Lang": c.lang = this.text(k); break;
        case "Archive": c.archive = this.empty(k); break;
        case "SftDel": c.sftDel = this.empty(k); break;
        case "MsgRef": c.msgRef = this.text(k); break;
        case "CmdRef": c.cmdRef = this.text(k); break;
        case "Cmd": c.cmd = this.text(k); break;
        case "TargetRef":
          if (kind === "Status") ((c.targetRefs ??= []) as string[]).push(this.text(k));
          else c.targetRef = this.text(k);
          break;
        case "SourceRef":
          if (kind === "Status") ((c.sourceRefs ??= []) as string[]).push(this.text(k));
          else c.sourceRef = this.text(k);
          break;
        case "Chal": {
          const meta = k.kids.find((m) => this.tagName(m.id) === "Meta");
          if (!meta || k.kids.length !== 1) throw new CodecError(k.off, "one <Meta> in <Chal>", "missing");
          c.chal = { meta: this.meta(meta) } satisfies Chal;
          break;
        }
        default:
          if (kind === "Atomic" || kind === "Sequence") {
            commands.push(this.command(k));
            break;
          }
          throw this.unexpected(k, `a <${kind}> element`);
      }
      if (!allowed(kind, name)) throw this.unexpected(k, `a <${kind}> element`);
    }
    if (c.cmdId === undefined) throw new CodecError(node.off, `<CmdID> in <${kind}>`, "missing");
    if (kind === "Atomic" || kind === "Sequence") c.commands = commands;
    else if (kind !== "Status" || items.length) c.items = items;
    if (kind === "Status") {
      for (const el of ["MsgRef", "CmdRef", "Cmd", "Data"]) {
        const f = el === "Data" ? "data" : el[0]!.toLowerCase() + el.slice(1);
        if (c[f] === undefined) throw new CodecError(node.off, `<${el}> in <Status>`, "missing");
      }
    } else if (kind === "Results" && c.cmdRef === undefined) {
      throw new CodecError(node.off, "<CmdRef> in <Results>", "missing");
    }
    return c as unknown as Command;
  }

  // ------------------------------------------------------------------------------------------
  // Typed encoding: the message is written to the tape here, one call writes the document.

  /** Encodes a typed message as XML or WBXML 1.3 (inline strings), in one call into the module. */
  encodeMessage(msg: SyncMLMessage, encoding: Encoding): Uint8Array {
    const t = new TapeWriter(this.x, this.ids[LANG_SYNCML]!, this.ids[LANG_DEVINF]!, this.tapeRecords, this.textCap, this.maxDepth);
    t.message(msg);
    return this.write(t, LANG_SYNCML, encoding);
  }

  /** Encodes a DevInf 1.2 document from its element tree. */
  encodeDevInf(devInf: XmlElement, encoding: Encoding): Uint8Array {
    const t = new TapeWriter(this.x, this.ids[LANG_SYNCML]!, this.ids[LANG_DEVINF]!, this.tapeRecords, this.textCap, this.maxDepth);
    if (devInf.name !== "DevInf") throw new CodecError(-1, "a <DevInf> root element", "root");
    t.generic(devInf, 0);
    return this.write(t, LANG_DEVINF, encoding);
  }

  private write(t: TapeWriter, lang: number, encoding: Encoding): Uint8Array {
    const n = this.x.encode(t.count, lang, encoding === "wbxml" ? F_WBXML : F_XML);
    if (n < 0) throw this.error();
    const out = this.x.outputPtr();
    return this.u8().slice(out, out + n);
  }

  // ------------------------------------------------------------------------------------------
  // Digests and credentials (OMA-TS-DM_Security-V1_2 §5)

  /** Copies byte strings back to back into the IO buffer; returns their addresses. */
  private io(...parts: Uint8Array[]): number[] {
    const total = parts.reduce((s, p) => s + p.length, 0);
    if (total + 64 > this.ioCap) throw new CodecError(-1, `inputs of at most ${this.ioCap - 64} bytes`, "too-large");
    const mem = this.u8();
    let at = this.x.ioPtr();
    const addrs: number[] = [];
    for (const p of parts) {
      mem.set(p, at);
      addrs.push(at);
      at += p.length;
    }
    addrs.push(at); // free space after the parts, for outputs
    return addrs;
  }

  md5(data: Uint8Array | string): Uint8Array {
    const d = bytes(data);
    const [p, out] = this.io(d) as [number, number];
    this.x.md5(p, d.length, out);
    return this.u8().slice(out, out + 16);
  }

  hmacMd5(key: Uint8Array | string, data: Uint8Array | string): Uint8Array {
    const k = bytes(key);
    const d = bytes(data);
    const [kp, dp, out] = this.io(k, d) as [number, number, number];
    this.x.hmacMd5(kp, k.length, dp, d.length, out);
    return this.u8().slice(out, out + 16);
  }

  base64(data: Uint8Array | string): string {
    const d = bytes(data);
    if (d.length * 2 + 128 > this.ioCap) throw new CodecError(-1, `at most ${(this.ioCap >> 1) - 128} bytes`, "too-large");
    const [p, out] = this.io(d) as [number, number];
    const n = this.x.b64(p, d.length, out);
    return latin1(this.u8(), out, n);
  }

  /**
   * H(B64(H(name ":" secret)) ":" nonce [":" B64(H(body))]), raw. The common shape of the
   * auth-md5 credential, the x-syncml-hmac MAC and the package 0 digest.
   */
  dmDigest(name: Uint8Array | string, secret: Uint8Array | string, nonce: Uint8Array | string, body?: Uint8Array): Uint8Array {
    const n = bytes(name);
    const s = bytes(secret);
    const o = bytes(nonce);
    const b = body ?? new Uint8Array(0);
    const [np, sp, op, bp, out] = this.io(n, s, o, b) as [number, number, number, number, number];
    this.x.dmDigest(np, n.length, sp, s.length, op, o.length, bp, body ? b.length : -1, out);
    return this.u8().slice(out, out + 16);
  }

  // ------------------------------------------------------------------------------------------
  // Package 0 (OMA-TS-DM_Notification-V1_2 §6)

  encodePackage0(fields: Package0Fields, secret: { password: Uint8Array | string; nonce: Uint8Array | string }): Uint8Array {
    const sid = enc.encode(fields.serverId);
    if (sid.length > 255) throw new CodecError(-1, "a server identifier of at most 255 bytes", "argument");
    const ui = UI_MODES.indexOf(fields.uiMode);
    if (ui < 0) throw new CodecError(-1, `ui-mode one of ${UI_MODES.join(", ")}`, "argument");
    const version = fields.version ?? 12;
    if (!Number.isInteger(version) || version < 0 || version > 1023) throw new CodecError(-1, "a version of 10 bits (12 for DM 1.2)", "argument");
    if (!Number.isInteger(fields.sessionId) || fields.sessionId < 0 || fields.sessionId > 0xffff) {
      throw new CodecError(-1, "a 16-bit session id", "argument");
    }
    const pw = bytes(secret.password);
    const nonce = bytes(secret.nonce);
    const vendor = fields.vendor ?? new Uint8Array(0);
    if (sid.length + pw.length + nonce.length + vendor.length * 2 + 128 > this.ioCap) {
      throw new CodecError(-1, `a package 0 of at most ${(this.ioCap >> 1) - 512} bytes`, "too-large");
    }
    this.io(sid, pw, nonce, vendor);
    const n = this.x.pkg0Encode(version, ui, fields.initiator === "server" ? 1 : 0, fields.sessionId, sid.length, pw.length,
      nonce.length, vendor.length);
    if (n < 0) throw this.error();
    const out = this.x.outputPtr();
    return this.u8().slice(out, out + n);
  }

  decodePackage0(pkg: Uint8Array): Package0 {
    const len = this.load(pkg);
    if (this.x.pkg0Decode(len) < 0) {
      const need = this.x.lastErrorDetail();
      throw new CodecError(Math.min(len, need), `a package 0 of at least ${need} bytes (digest, header, server identifier)`, "truncated");
    }
    const io = new DataView(this.x.memory.buffer, this.x.ioPtr(), 36);
    const f = (i: number) => io.getUint32(i * 4, true);
    return {
      digest: pkg.slice(0, 16),
      version: f(0),
      uiMode: UI_MODES[f(1)]!,
      initiator: f(2) ? "server" : "client",
      futureUse: f(3),
      sessionId: f(4),
      serverId: dec.decode(pkg.subarray(f(5), f(5) + f(6))),
      vendor: pkg.slice(f(7), f(7) + f(8)),
    };
  }

  /** Whether the package's digest was made with this server password and nonce. */
  verifyPackage0(pkg: Uint8Array, secret: { password: Uint8Array | string; nonce: Uint8Array | string }): boolean {
    const p = this.decodePackage0(pkg);
    const want = this.dmDigest(enc.encode(p.serverId), secret.password, secret.nonce, pkg.subarray(16));
    return timingSafeEqual(want, p.digest);
  }

  // ------------------------------------------------------------------------------------------
  // Activation codes (HLF-TE-005)

  generateActivationCode(digits: number): string {
    const x = this.x;
    const scratchBytes = x.CODE_SCRATCH_BYTES.value as number;
    const ptr = x.codeScratch();
    for (;;) {
      const view = new Uint8Array(x.memory.buffer, ptr, scratchBytes);
      crypto.getRandomValues(view);
      const value = x.activationCode(scratchBytes, digits);
      if (value >= 0) {
        view.fill(0);
        return value.toString().padStart(digits, "0");
      }
      if (value === -2) throw new RangeError(`activation codes have 1 to 9 digits, not ${digits}`);
    }
  }

  sampleCodeFromBytes(b: Uint8Array, digits: number): number {
    const x = this.x;
    const scratchBytes = x.CODE_SCRATCH_BYTES.value as number;
    if (b.length > scratchBytes) throw new RangeError(`at most ${scratchBytes} bytes`);
    new Uint8Array(x.memory.buffer, x.codeScratch(), b.length).set(b);
    return x.activationCode(b.length, digits);
  }
}

/** Which child elements each DM command may carry (SyncML 1.2 DTD, DM subset). */
const COMMAND_CHILDREN: Record<string, ReadonlySet<string>> = {
  Alert: new Set(["CmdID", "NoResp", "Cred", "Data", "Correlator", "Item"]),
  Add: new Set(["CmdID", "NoResp", "Cred", "Meta", "Item"]),
  Replace: new Set(["CmdID", "NoResp", "Cred", "Meta", "Item"]),
  Copy: new Set(["CmdID", "NoResp", "Cred", "Meta", "Item"]),
  Delete: new Set(["CmdID", "NoResp", "Archive", "SftDel", "Cred", "Meta", "Item"]),
  Get: new Set(["CmdID", "NoResp", "Lang", "Cred", "Meta", "Item"]),
  Exec: new Set(["CmdID", "NoResp", "Cred", "Meta", "Correlator", "Item"]),
  Atomic: new Set(["CmdID", "NoResp", "Meta", "Add", "Delete", "Copy", "Atomic", "Replace", "Sequence", "Get", "Exec", "Alert"]),
  Sequence: new Set(["CmdID", "NoResp", "Meta", "Add", "Delete", "Copy", "Atomic", "Replace", "Sequence", "Get", "Exec", "Alert"]),
  Results: new Set(["CmdID", "MsgRef", "CmdRef", "Meta", "TargetRef", "SourceRef", "Item"]),
  Status: new Set(["CmdID", "MsgRef", "CmdRef", "Cmd", "TargetRef", "SourceRef", "Cred", "Chal", "Data", "Item"]),
};

function allowed(kind: string, child: string): boolean {
  return COMMAND_CHILDREN[kind]?.has(child) ?? false;
}

/** Writes a typed message onto the module's tape and its strings into the text area. */
class TapeWriter {
  count = 0;
  private readonly w: Uint32Array;
  private readonly mem: Uint8Array;
  private textAt: number;
  private readonly textEnd: number;
  private depth = 0;

  constructor(
    x: Exports,
    private readonly syncml: Map<string, number>,
    private readonly devinf: Map<string, number>,
    private readonly records: number,
    textCap: number,
    private readonly maxDepth: number,
  ) {
    this.w = new Uint32Array(x.memory.buffer, x.tapePtr(), records * 2);
    this.mem = new Uint8Array(x.memory.buffer);
    this.textAt = x.textPtr();
    this.textEnd = this.textAt + textCap;
  }

  private rec(w0: number, w1: number): void {
    if (this.count >= this.records) throw new CodecError(-1, `at most ${this.records} elements and text runs`, "tape-full");
    this.w[2 * this.count] = w0 >>> 0;
    this.w[2 * this.count + 1] = w1 >>> 0;
    this.count++;
  }

  private open(name: string, lang = LANG_SYNCML): void {
    const id = (lang === LANG_DEVINF ? this.devinf : this.syncml).get(name);
    if (id === undefined) throw new CodecError(-1, `an element of ${lang === LANG_DEVINF ? "DevInf 1.2" : "SyncML 1.2"}, not <${name}>`, "unknown-element");
    if (++this.depth > this.maxDepth) throw new CodecError(-1, `elements nested at most ${this.maxDepth} deep`, "too-deep");
    this.rec((K_OPEN << 28) | id, 0);
  }

  private close(): void {
    this.depth--;
    this.rec(K_CLOSE << 28, 0);
  }

  private str(s: string): void {
    if (s === "") return;
    const room = this.textEnd - this.textAt;
    const r = enc.encodeInto(s, this.mem.subarray(this.textAt, this.textEnd));
    if (r.read < s.length || r.written > room) throw new CodecError(-1, "a message whose text fits the codec's text buffer", "text-full");
    this.rec((K_TEXT << 28) | r.written, this.textAt);
    this.textAt += r.written;
  }

  private raw(b: Uint8Array): void {
    if (b.length === 0) return;
    if (b.length > this.textEnd - this.textAt) throw new CodecError(-1, "a message whose data fits the codec's text buffer", "text-full");
    this.mem.set(b, this.textAt);
    this.rec((K_OPAQUE << 28) | b.length, this.textAt);
    this.textAt += b.length;
  }

  private leaf(name: string, value: string | number | undefined): void {
    if (value === undefined) return;
    this.open(name);
    this.str(String(value));
    this.close();
  }

  private flag(name: string, on: boolean | undefined): void {
    if (!on) return;
    this.open(name);
    this.close();
  }

  message(m: SyncMLMessage): void {
    this.open("SyncML");
    this.header(m.header);
    this.open("SyncBody");
    for (const c of m.body) this.command(c);
    this.flag("Final", m.final);
    this.close();
    this.close();
  }

  private header(h: SyncHdr): void {
    this.open("SyncHdr");
    this.leaf("VerDTD", h.verDTD);
    this.leaf("VerProto", h.verProto);
    this.leaf("SessionID", h.sessionId);
    this.leaf("MsgID", h.msgId);
    this.loc("Target", h.target);
    this.loc("Source", h.source);
    this.leaf("RespURI", h.respURI);
    this.flag("NoResp", h.noResp);
    if (h.cred) this.cred(h.cred);
    if (h.meta) this.meta(h.meta);
    this.close();
  }

  private loc(name: string, l: LocRef | undefined): void {
    if (!l) return;
    this.open(name);
    this.leaf("LocURI", l.locURI);
    this.leaf("LocName", l.locName);
    this.close();
  }

  private cred(c: Cred): void {
    this.open("Cred");
    if (c.meta) this.meta(c.meta);
    this.leaf("Data", c.data);
    this.close();
  }

  /** MetInf elements in the order of the MetInf 1.2 DTD. */
  private meta(m: Meta): void {
    this.open("Meta");
    this.leaf("Format", m.format);
    this.leaf("Type", m.type);
    this.leaf("Mark", m.mark);
    this.leaf("Size", m.size);
    if (m.anchor) {
      this.open("Anchor");
      this.leaf("Last", m.anchor.last);
      this.leaf("Next", m.anchor.next);
      this.close();
    }
    this.leaf("Version", m.version);
    this.leaf("NextNonce", m.nextNonce);
    this.leaf("MaxMsgSize", m.maxMsgSize);
    this.leaf("MaxObjSize", m.maxObjSize);
    for (const e of m.emi ?? []) this.leaf("EMI", e);
    if (m.mem) {
      this.open("Mem");
      this.flag("SharedMem", m.mem.sharedMem);
      this.leaf("FreeMem", m.mem.freeMem);
      this.leaf("FreeID", m.mem.freeId);
      this.close();
    }
    this.flag("FieldLevel", m.fieldLevel);
    this.close();
  }

  private item(it: Item): void {
    this.open("Item");
    this.loc("Target", it.target);
    this.loc("Source", it.source);
    this.loc("SourceParent", it.sourceParent);
    this.loc("TargetParent", it.targetParent);
    if (it.meta) this.meta(it.meta);
    if (it.data !== undefined) {
      this.open("Data");
      const d = it.data;
      if (typeof d === "string") this.str(d);
      else if (d instanceof Uint8Array) this.raw(d);
      else this.generic(d, LANG_DEVINF);
      this.close();
    }
    this.flag("MoreData", it.moreData);
    this.close();
  }

  generic(e: XmlElement, lang: number): void {
    this.open(e.name, lang === LANG_SYNCML ? LANG_DEVINF : lang);
    for (const c of e.children) {
      if (typeof c === "string") this.str(c);
      else this.generic(c, LANG_DEVINF);
    }
    this.close();
  }

  private command(c: Command): void {
    this.open(c.kind);
    this.leaf("CmdID", c.cmdId);
    switch (c.kind) {
      case "Alert":
        this.flag("NoResp", c.noResp);
        if (c.cred) this.cred(c.cred);
        this.leaf("Data", c.data);
        this.leaf("Correlator", c.correlator);
        for (const it of c.items) this.item(it);
        break;
      case "Atomic":
      case "Sequence":
        this.flag("NoResp", c.noResp);
        if (c.meta) this.meta(c.meta);
        for (const sub of c.commands) this.command(sub);
        break;
      case "Results":
        this.leaf("MsgRef", c.msgRef);
        this.leaf("CmdRef", c.cmdRef);
        if (c.meta) this.meta(c.meta);
        this.leaf("TargetRef", c.targetRef);
        this.leaf("SourceRef", c.sourceRef);
        for (const it of c.items) this.item(it);
        break;
      case "Status":
        this.status(c);
        break;
      default:
        this.flag("NoResp", c.noResp);
        if (c.kind === "Delete") {
          this.flag("Archive", c.archive);
          this.flag("SftDel", c.sftDel);
        }
        if (c.kind === "Get") this.leaf("Lang", c.lang);
        if (c.cred) this.cred(c.cred);
        if (c.meta) this.meta(c.meta);
        if (c.kind === "Exec") this.leaf("Correlator", c.correlator);
        for (const it of c.items) this.item(it);
    }
    this.close();
  }

  private status(s: Status): void {
    this.leaf("MsgRef", s.msgRef);
    this.leaf("CmdRef", s.cmdRef);
    this.leaf("Cmd", s.cmd);
    for (const r of s.targetRefs ?? []) this.leaf("TargetRef", r);
    for (const r of s.sourceRefs ?? []) this.leaf("SourceRef", r);
    if (s.cred) this.cred(s.cred);
    if (s.chal) {
      this.open("Chal");
      this.meta(s.chal.meta);
      this.close();
    }
    this.leaf("Data", s.data);
    for (const it of s.items ?? []) this.item(it);
  }
}

/**
 * The Type of an embedded DevInf or TNDS document names the encoding of the message carrying it
 * (libwbxml and DM/DS peers write "+wbxml" in WBXML, "+xml" in XML; the encoder does the same), so
 * the typed model holds the "+xml" form whatever the wire encoding was.
 */
function xmlForm(type: string): string {
  if (type === "application/vnd.syncml-devinf+wbxml") return "application/vnd.syncml-devinf+xml";
  if (type === "application/vnd.syncml.dmtnds+wbxml") return "application/vnd.syncml.dmtnds+xml";
  return type;
}

function bytes(v: Uint8Array | string): Uint8Array {
  return typeof v === "string" ? enc.encode(v) : v;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** UTF-8 to string; short ASCII runs (most SyncML values) without TextDecoder's call overhead. */
function utf8(mem: Uint8Array, at: number, len: number): string {
  if (len <= 64) {
    let s = "";
    for (let i = 0; i < len; i++) {
      const c = mem[at + i]!;
      if (c >= 0x80) return dec.decode(mem.subarray(at, at + len));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return dec.decode(mem.subarray(at, at + len));
}

function latin1(mem: Uint8Array, at: number, len: number): string {
  let s = "";
  for (let i = 0; i < len; i++) s += String.fromCharCode(mem[at + i]!);
  return s;
}

export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

export type { Anchor, Chal, Command, Cred, Encoding, Item, ItemData, LocRef, Mem, Meta, Package0, Package0Fields, Status, SyncHdr, SyncMLMessage, UiMode, XmlElement };
