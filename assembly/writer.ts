// Writers from the tape: WBXML 1.3 (inline strings, no string table, as SyncML DM clients expect)
// and compact XML in the form libwbxml's wbxml2xml produces, so the two can be compared byte for byte.
import {
  OUTPUT, OUTPUT_CAP, STACK, MAX_DEPTH, fail,
  E_OUTPUT, E_DEPTH, E_NUL, E_BINARY, E_CHAR, E_UTF8, E_END_TAG, E_ARG, E_TOKEN,
  K_OPEN, K_CLOSE, K_TEXT, K_OPAQUE, K_CDATA,
} from "./layout";
import { w0At, w1At } from "./tape";
import { nameLen, namePtr, LANG_SYNCML, LANG_DEVINF, T_SYNCML, T_METINF, T_DEVINF, TOK_TYPE } from "./tables";
import { utf8Seq } from "./xml";
import { PUBLIC_ID_SYNCML12, PUBLIC_ID_DEVINF12, CHARSET_UTF8, STR_I, OPAQUE, END, SWITCH_PAGE } from "./wbxml";

let o: usize = 0; // next output byte
const oEnd: usize = OUTPUT + <usize>OUTPUT_CAP;
let overflow = false;

// Constant byte strings, written once at instantiation.
const CONSTS: usize = memory.data(1024);
let constFill: i32 = 0;
function mk(s: string): usize {
  const at = CONSTS + <usize>constFill;
  for (let i = 0; i < s.length; i++) store<u8>(at + <usize>i, <u8>s.charCodeAt(i));
  constFill += s.length;
  return at;
}
const XML_DECL = "<?xml version=\"1.0\"?>";
const SYNCML_HEAD =
  "<!DOCTYPE SyncML PUBLIC \"-//SYNCML//DTD SyncML 1.2//EN\" \"http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd\">";
const DEVINF_HEAD =
  "<!DOCTYPE DevInf PUBLIC \"-//SYNCML//DTD DevInf 1.2//EN\" \"http://www.openmobilealliance.org/tech/DTD/OMA-SyncML-Device_Information-DTD-1.2.dtd\">";
const NS_SYNCML = " xmlns=\"SYNCML:SYNCML1.2\"";
const NS_METINF = " xmlns=\"syncml:metinf\"";
const NS_DEVINF = " xmlns=\"syncml:devinf\"";
// libwbxml (and the DS/DM practice it follows) names the Type of an embedded DevInf after the
// encoding of the message that carries it: "+xml" in XML, "+wbxml" in WBXML.
// The same holds for DM TNDS trees (OMA-TS-DM_TND-V1_2 §8: application/vnd.syncml.dmtnds+xml / +wbxml).
const DEVINF_XML = "application/vnd.syncml-devinf+xml";
const DEVINF_WBXML = "application/vnd.syncml-devinf+wbxml";
const TNDS_XML = "application/vnd.syncml.dmtnds+xml";
const TNDS_WBXML = "application/vnd.syncml.dmtnds+wbxml";
const C_XML_DECL = mk(XML_DECL);
const C_SYNCML_HEAD = mk(SYNCML_HEAD);
const C_DEVINF_HEAD = mk(DEVINF_HEAD);
const C_NS_SYNCML = mk(NS_SYNCML);
const C_NS_METINF = mk(NS_METINF);
const C_NS_DEVINF = mk(NS_DEVINF);
const C_DEVINF_XML = mk(DEVINF_XML);
const C_DEVINF_WBXML = mk(DEVINF_WBXML);
const C_TNDS_XML = mk(TNDS_XML);
const C_TNDS_WBXML = mk(TNDS_WBXML);
const C_AMP = mk("&amp;");
const C_LT = mk("&lt;");
const C_GT = mk("&gt;");
const C_QUOT = mk("&quot;");
const C_APOS = mk("&apos;");
const C_CR = mk("&#13;");
const C_CDATA_OPEN = mk("<![CDATA[");
const C_CDATA_CLOSE = mk("]]>");
const C_CDATA_SPLIT = mk("]]]]><![CDATA[>");

// @ts-ignore: decorator
@inline function put(b: u32): void {
  if (o < oEnd) store<u8>(o++, <u8>b);
  else overflow = true;
}

function copy(src: usize, n: usize): void {
  if (o + n > oEnd) { overflow = true; return; }
  memory.copy(o, src, n);
  o += n;
}

function putMb(v: u32): void {
  // mb_u_int32: 7 bits per byte, most significant first, continuation bit 0x80
  let shift = 28;
  let started = false;
  for (; shift > 0; shift -= 7) {
    const b = (v >> <u32>shift) & 0x7f;
    if (b != 0 || started) { put(b | 0x80); started = true; }
  }
  put(v & 0x7f);
}

function mbSize(v: u32): i32 {
  let n = 1;
  while (v >= 0x80) { v >>= 7; n++; }
  return n;
}

function bytesEqual(a: usize, alen: i32, b: usize, blen: i32): bool {
  return alen == blen && memory.compare(a, b, <usize>alen) == 0;
}

/** True when record i is a single text run that is the whole content of a MetInf <Type>. */
function isSoleText(i: i32, n: i32): bool {
  return i + 1 < n && (w0At(i + 1) >> 28) == K_CLOSE && (i == 0 || (w0At(i - 1) >> 28) == K_OPEN);
}

function parentId(depth: i32): i32 {
  return depth == 0 ? -1 : <i32>load<u32>(STACK + (<usize>(depth - 1) << 4));
}

// ---------------------------------------------------------------------------------------------
// WBXML

/**
 * Writes records [0, n) as a WBXML 1.3 document of the given language. Inline strings only
 * (SyncML DM clients expect them; no string table), opaque for binary data and CDATA sections.
 * Returns the length written at OUTPUT, or -1.
 */
export function writeWbxml(n: i32, lang: i32, trusted: bool): i32 {
  o = OUTPUT;
  overflow = false;
  putHeader(lang);
  let page: i32 = 0;
  let savedPage: i32 = 0;
  let depth = 0;
  let embedAt: i32 = -1; // depth of an embedded DevInf root, -1 when none
  let lenAt: usize = 0; // where the embedded document's OPAQUE length goes
  let i = 0;
  while (i < n) {
    const w0 = w0At(i);
    const kind = w0 >> 28;
    if (kind == K_OPEN) {
      const id = <i32>(w0 & 0xffff);
      let table = id >> 8;
      const token = id & 0xff;
      if (table > T_DEVINF || nameLen(table, token) == 0) return fail(E_TOKEN, 0, id);
      if (depth >= MAX_DEPTH) return fail(E_DEPTH, 0, MAX_DEPTH);
      if (lang == LANG_SYNCML && table == T_DEVINF && embedAt < 0) {
        // DevInf inside a SyncML document: an OPAQUE holding a complete DevInf 1.2 WBXML document.
        put(OPAQUE);
        lenAt = o;
        for (let k = 0; k < 5; k++) put(0);
        embedAt = depth;
        savedPage = page;
        page = 0;
        putHeader(LANG_DEVINF);
      }
      const tpage = table == T_METINF ? 1 : 0;
      if (tpage != page) { put(SWITCH_PAGE); put(<u32>tpage); page = tpage; }
      const empty = i + 1 < n && (w0At(i + 1) >> 28) == K_CLOSE;
      put(empty ? <u32>token : <u32>token | 0x40);
      if (empty) {
        i += 2;
        if (embedAt == depth) {
          if (!finishEmbedded(lenAt)) return -1;
          embedAt = -1;
          page = savedPage;
        }
        continue;
      }
      store<u32>(STACK + (<usize>depth << 4), <u32>id);
      depth++;
      i++;
      continue;
    }
    if (kind == K_CLOSE) {
      if (depth == 0) return fail(E_END_TAG, 0);
      put(END);
      depth--;
      i++;
      if (embedAt == depth) {
        if (!finishEmbedded(lenAt)) return -1;
        embedAt = -1;
        page = savedPage;
      }
      continue;
    }
    if (kind == K_TEXT) {
      // one STR_I for a run of text records
      put(STR_I);
      const typed = lang == LANG_SYNCML && parentId(depth) == ((T_METINF << 8) | TOK_TYPE) && isSoleText(i, n);
      const tlen = <i32>(w0 & 0x0fffffff);
      if (typed && bytesEqual(<usize>w1At(i), tlen, C_DEVINF_XML, DEVINF_XML.length)) {
        copy(C_DEVINF_WBXML, <usize>DEVINF_WBXML.length);
        i++;
      } else if (typed && bytesEqual(<usize>w1At(i), tlen, C_TNDS_XML, TNDS_XML.length)) {
        copy(C_TNDS_WBXML, <usize>TNDS_WBXML.length);
        i++;
      } else {
        while (i < n && (w0At(i) >> 28) == K_TEXT) {
          const len = <usize>(w0At(i) & 0x0fffffff);
          const src = <usize>w1At(i);
          // Parsed tapes cannot hold NUL (XML forbids it, STR_I ends at it); host-written ones might.
          if (!trusted) for (let k: usize = 0; k < len; k++) if (load<u8>(src + k) == 0) return fail(E_NUL, 0);
          copy(src, len);
          i++;
        }
      }
      put(0);
      continue;
    }
    if (kind == K_OPAQUE || kind == K_CDATA) {
      // one OPAQUE per CDATA section or opaque run, as libwbxml writes them
      const len = w0 & 0x0fffffff;
      put(OPAQUE);
      putMb(len);
      copy(<usize>w1At(i), <usize>len);
      i++;
      continue;
    }
    return fail(E_ARG, 0, <i32>kind);
  }
  if (depth != 0) return fail(E_END_TAG, 0);
  if (overflow) return fail(E_OUTPUT, 0, OUTPUT_CAP);
  return <i32>(o - OUTPUT);
}

function putHeader(lang: i32): void {
  put(3); // WBXML 1.3
  putMb(lang == LANG_DEVINF ? PUBLIC_ID_DEVINF12 : PUBLIC_ID_SYNCML12);
  putMb(CHARSET_UTF8);
  put(0); // no string table
}

/** Patches the OPAQUE length of an embedded document and closes the 5-byte gap left for it. */
function finishEmbedded(lenAt: usize): bool {
  if (overflow) return true;
  const body = lenAt + 5;
  const len = <u32>(o - body);
  const m = mbSize(len);
  const save = o;
  o = lenAt;
  putMb(len);
  o = save;
  if (m < 5) {
    memory.copy(lenAt + <usize>m, body, <usize>len);
    o -= <usize>(5 - m);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// XML

/** Escapes UTF-8 text for XML content. Returns false (error set) on a character XML 1.0 cannot carry. */
function putText(src: usize, len: usize): bool {
  const end = src + len;
  let run = src;
  let k = src;
  while (k < end) {
    const b = <u32>load<u8>(k);
    if (b >= 0x3f || (b >= 0x28 && b <= 0x3b) || b == 0x20 || b == 0x21 || b == 0x23 || b == 0x24 || b == 0x25 || b == 0x0a || b == 0x09 || b == 0x3d) {
      if (b >= 0x80) {
        const s = utf8Seq(k, end);
        if (s == 0) { fail(E_UTF8, 0); return false; }
        k += <usize>s;
      } else k++;
      continue;
    }
    let rep: usize = 0;
    let rl: usize = 0;
    if (b == 0x26) { rep = C_AMP; rl = 5; }
    else if (b == 0x3c) { rep = C_LT; rl = 4; }
    else if (b == 0x3e) { rep = C_GT; rl = 4; }
    else if (b == 0x22) { rep = C_QUOT; rl = 6; }
    else if (b == 0x27) { rep = C_APOS; rl = 6; }
    else if (b == 0x0d) { rep = C_CR; rl = 5; }
    else { fail(b == 0 ? E_NUL : E_CHAR, 0, <i32>b); return false; }
    copy(run, k - run);
    copy(rep, rl);
    k++;
    run = k;
  }
  copy(run, end - run);
  return true;
}

/** Writes bytes as a CDATA section; false when they are not UTF-8 text XML can carry. */
function putCdata(src: usize, len: usize): bool {
  const end = src + len;
  copy(C_CDATA_OPEN, 9);
  let run = src;
  let k = src;
  while (k < end) {
    const b = <u32>load<u8>(k);
    if (b >= 0x80) {
      const s = utf8Seq(k, end);
      if (s == 0) { fail(E_BINARY, 0); return false; }
      k += <usize>s;
      continue;
    }
    if (b < 0x20 && b != 9 && b != 10) {
      // CR would be normalised away by any XML reader, other controls are not XML characters
      fail(E_BINARY, 0, <i32>b);
      return false;
    }
    if (b == 0x5d && k + 2 < end && load<u8>(k + 1) == 0x5d && load<u8>(k + 2) == 0x3e) {
      copy(run, k - run);
      copy(C_CDATA_SPLIT, 15);
      k += 3;
      run = k;
      continue;
    }
    k++;
  }
  copy(run, end - run);
  copy(C_CDATA_CLOSE, 3);
  return true;
}

/** Writes records [0, n) as compact XML. Returns the length written at OUTPUT, or -1. */
export function writeXml(n: i32, lang: i32): i32 {
  o = OUTPUT;
  overflow = false;
  copy(C_XML_DECL, <usize>XML_DECL.length);
  if (lang == LANG_DEVINF) copy(C_DEVINF_HEAD, <usize>DEVINF_HEAD.length);
  else copy(C_SYNCML_HEAD, <usize>SYNCML_HEAD.length);
  let depth = 0;
  let i = 0;
  while (i < n) {
    const w0 = w0At(i);
    const kind = w0 >> 28;
    if (kind == K_OPEN) {
      const id = <i32>(w0 & 0xffff);
      const table = id >> 8;
      const token = id & 0xff;
      const nl = nameLen(table, token);
      if (table > T_DEVINF || nl == 0) return fail(E_TOKEN, 0, id);
      if (depth >= MAX_DEPTH) return fail(E_DEPTH, 0, MAX_DEPTH);
      const np = namePtr(table, token);
      put(0x3c);
      copy(np, <usize>nl);
      const parent = parentId(depth);
      if (depth == 0) {
        if (lang == LANG_DEVINF) copy(C_NS_DEVINF, <usize>NS_DEVINF.length);
        else copy(C_NS_SYNCML, <usize>NS_SYNCML.length);
      } else if (table == T_DEVINF && (parent >> 8) != T_DEVINF) copy(C_NS_DEVINF, <usize>NS_DEVINF.length);
      else if (table == T_METINF && (parent >> 8) == T_SYNCML) copy(C_NS_METINF, <usize>NS_METINF.length);
      if (i + 1 < n && (w0At(i + 1) >> 28) == K_CLOSE) {
        put(0x2f); put(0x3e);
        i += 2;
        continue;
      }
      put(0x3e);
      store<u32>(STACK + (<usize>depth << 4), <u32>id);
      depth++;
      i++;
      continue;
    }
    if (kind == K_CLOSE) {
      if (depth == 0) return fail(E_END_TAG, 0);
      depth--;
      const id = <i32>load<u32>(STACK + (<usize>depth << 4));
      put(0x3c); put(0x2f);
      copy(namePtr(id >> 8, id & 0xff), <usize>nameLen(id >> 8, id & 0xff));
      put(0x3e);
      i++;
      continue;
    }
    const len = <usize>(w0 & 0x0fffffff);
    const src = <usize>w1At(i);
    if (kind == K_TEXT) {
      const typed = lang == LANG_SYNCML && parentId(depth) == ((T_METINF << 8) | TOK_TYPE) && isSoleText(i, n);
      if (typed && bytesEqual(src, <i32>len, C_DEVINF_WBXML, DEVINF_WBXML.length)) {
        copy(C_DEVINF_XML, <usize>DEVINF_XML.length);
      } else if (typed && bytesEqual(src, <i32>len, C_TNDS_WBXML, TNDS_WBXML.length)) {
        copy(C_TNDS_XML, <usize>TNDS_XML.length);
      } else if (!putText(src, len)) return -1;
      i++;
      continue;
    }
    if (kind == K_OPAQUE || kind == K_CDATA) {
      if (!putCdata(src, len)) return -1;
      i++;
      continue;
    }
    return fail(E_ARG, 0, <i32>kind);
  }
  if (depth != 0) return fail(E_END_TAG, 0);
  if (overflow) return fail(E_OUTPUT, 0, OUTPUT_CAP);
  return <i32>(o - OUTPUT);
}
