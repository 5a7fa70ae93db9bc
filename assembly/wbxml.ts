// WBXML 1.0-1.3 reader (WAP-192-WBXML-20010725) for SyncML 1.2 (0x1201) and DevInf 1.2 (0x1203).
// Global tokens SyncML uses: SWITCH_PAGE, END, ENTITY, STR_I, STR_T, LITERAL*, OPAQUE. SyncML
// defines no attributes and no extension tokens, so those are refused with a typed error.
import {
  INPUT, STACK, MAX_DEPTH, fail,
  E_DEPTH, E_EOF, E_UNKNOWN_ELEMENT, E_ATTR, E_CHAR, E_UTF8, E_ROOT, E_TRAILING, E_VERSION, E_PUBLIC_ID,
  E_CHARSET, E_MBUINT, E_TOKEN, E_CODE_PAGE, E_STRTBL, E_GLOBAL, E_NUL, E_EMPTY, E_ENTITY,
  K_OPEN, K_CLOSE, K_TEXT, K_OPAQUE, clearError,
} from "./layout";
import { emit, textAlloc, tapeCount, textFill, setTapeCount, setTextFill } from "./tape";
import { nameLen, lookup, LANG_SYNCML, LANG_DEVINF, T_SYNCML, T_DEVINF, TOK_DATA, TOK_DEVINF, TOK_SYNCML } from "./tables";
import { putUtf8, utf8Seq } from "./xml";

export const SWITCH_PAGE: u32 = 0x00;
export const END: u32 = 0x01;
export const ENTITY: u32 = 0x02;
export const STR_I: u32 = 0x03;
export const LITERAL: u32 = 0x04;
export const STR_T: u32 = 0x83;
export const OPAQUE: u32 = 0xc3;

export const PUBLIC_ID_SYNCML12: u32 = 0x1201;
export const PUBLIC_ID_DEVINF12: u32 = 0x1203;
export const CHARSET_UTF8: u32 = 106;

export let wbxmlLang: i32 = 0;

let p: usize = 0;
let mbOk = true;

/** mb_u_int32 (WBXML §5.1): at most 5 bytes, value below 2^32. */
function mbUint(end: usize): u32 {
  const start = p;
  let v: u64 = 0;
  for (let i = 0; i < 5; i++) {
    if (p >= end) { mbOk = false; fail(E_EOF, end); return 0; }
    const b = <u64>load<u8>(p++);
    v = (v << 7) | (b & 0x7f);
    if ((b & 0x80) == 0) {
      if (v > 0xffffffff) break;
      return <u32>v;
    }
  }
  mbOk = false;
  fail(E_MBUINT, start);
  return 0;
}

/** Checks that [s, e) is UTF-8 text XML can carry. */
function checkText(s: usize, e: usize): i32 {
  let k = s;
  while (k < e) {
    const b = <u32>load<u8>(k);
    if (b >= 0x80) {
      const n = utf8Seq(k, e);
      if (n == 0) return fail(E_UTF8, k);
      k += <usize>n;
    } else {
      if (b < 0x20 && b != 9 && b != 10 && b != 13) return fail(E_CHAR, k, <i32>b);
      k++;
    }
  }
  return 0;
}


/**
 * Parses one WBXML document in [start, end) onto the tape. `embedded` is set for a DevInf document
 * carried as the opaque content of a SyncML <Data> (how libwbxml and DS/DM clients send DevInf in
 * WBXML); it then must be DevInf 1.2 and may not embed further. Returns 0 or -1.
 */
export function parseWbxml(start: usize, end: usize, embedded: bool, depthBase: i32 = 0): i32 {
  p = start;
  mbOk = true;
  if (p >= end) return fail(E_EMPTY, p);
  const version = <u32>load<u8>(p++);
  if (version > 3) return fail(E_VERSION, start, <i32>version);
  let publicId = mbUint(end);
  if (!mbOk) return -1;
  let publicIdIndex: i32 = -1;
  if (publicId == 0) {
    // version 1.1+: the public id is a string-table reference
    const idx = mbUint(end);
    if (!mbOk) return -1;
    publicIdIndex = <i32>idx;
  }
  let charset: u32 = CHARSET_UTF8;
  if (version >= 1) {
    charset = mbUint(end);
    if (!mbOk) return -1;
  }
  // 106 = UTF-8, 3 = US-ASCII (a subset), 0 = unknown (SyncML requires UTF-8: assume it).
  if (charset != CHARSET_UTF8 && charset != 3 && charset != 0) return fail(E_CHARSET, p - 1, <i32>charset);
  const tblLen = mbUint(end);
  if (!mbOk) return -1;
  if (<u64>tblLen > <u64>(end - p)) return fail(E_STRTBL, p, <i32>(end - p));
  const tbl = p;
  p += <usize>tblLen;
  let lang: i32;
  if (publicIdIndex >= 0) {
    if (<u32>publicIdIndex >= tblLen) return fail(E_STRTBL, tbl, <i32>tblLen);
    const s = tbl + <usize>publicIdIndex;
    let e = s;
    while (e < tbl + <usize>tblLen && load<u8>(e) != 0) e++;
    const n = <i32>(e - s);
    // "-//SYNCML//DTD SyncML 1.2//EN" / "-//SYNCML//DTD DevInf 1.2//EN": 29 bytes, differing at offset 15
    if (n == 29 && load<u8>(s + 15) == 0x53) publicId = PUBLIC_ID_SYNCML12;
    else if (n == 29 && load<u8>(s + 15) == 0x44) publicId = PUBLIC_ID_DEVINF12;
    else return fail(E_PUBLIC_ID, start + 1);
  } else if (publicId == 1) {
    // unknown public id: the root token decides below
    publicId = embedded ? PUBLIC_ID_DEVINF12 : 0;
  }
  if (publicId == PUBLIC_ID_SYNCML12 && !embedded) lang = LANG_SYNCML;
  else if (publicId == PUBLIC_ID_DEVINF12) lang = LANG_DEVINF;
  else if (publicId == 0) lang = -1;
  else return fail(E_PUBLIC_ID, start + 1, <i32>publicId);

  let depth = 0;
  let page: i32 = 0;
  let rootSeen = false;
  while (p < end) {
    const at = p;
    const t = <u32>load<u8>(p++);
    if (t == SWITCH_PAGE) {
      if (p >= end) return fail(E_EOF, end);
      const pg = <i32>load<u8>(p++);
      if (pg > (lang == LANG_DEVINF ? 0 : 1)) return fail(E_CODE_PAGE, at, pg);
      page = pg;
      continue;
    }
    if (t == END) {
      if (depth == 0) return fail(E_TRAILING, at);
      if (emit(K_CLOSE << 28, <u32>(at - INPUT), at) < 0) return -1;
      depth--;
      if (depth == 0) {
        if (p != end) return fail(E_TRAILING, p);
        return 0;
      }
      continue;
    }
    if (t == STR_I || t == STR_T || t == ENTITY || t == OPAQUE) {
      if (depth == 0) return fail(E_ROOT, at);
      if (t == STR_I) {
        const s = p;
        while (p < end && load<u8>(p) != 0) p++;
        if (p >= end) return fail(E_EOF, end);
        if (checkText(s, p) < 0) return -1;
        if (p > s && emit((K_TEXT << 28) | <u32>(p - s), <u32>s, at) < 0) return -1;
        p++;
      } else if (t == STR_T) {
        const idx = mbUint(end);
        if (!mbOk) return -1;
        if (idx >= tblLen) return fail(E_STRTBL, at, <i32>tblLen);
        const s = tbl + <usize>idx;
        let e = s;
        const te = tbl + <usize>tblLen;
        while (e < te && load<u8>(e) != 0) e++;
        if (e >= te) return fail(E_STRTBL, at, <i32>tblLen);
        if (checkText(s, e) < 0) return -1;
        if (e > s && emit((K_TEXT << 28) | <u32>(e - s), <u32>s, at) < 0) return -1;
      } else if (t == ENTITY) {
        const cp = mbUint(end);
        if (!mbOk) return -1;
        if (!(cp == 9 || cp == 10 || cp == 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff))) {
          return fail(cp == 0 ? E_NUL : E_ENTITY, at, <i32>cp);
        }
        const q = textAlloc(4, at);
        if (q == 0) return -1;
        const n = putUtf8(q, cp);
        setTextFill(textFill - 4 + <i32>n);
        if (emit((K_TEXT << 28) | <u32>n, <u32>q, at) < 0) return -1;
      } else {
        const n = mbUint(end);
        if (!mbOk) return -1;
        if (<u64>n > <u64>(end - p)) return fail(E_EOF, end, <i32>n);
        const s = p;
        p += <usize>n;
        // A DevInf document inside a SyncML <Data>: parse it in place so it surfaces as elements.
        const parent = <i32>load<u32>(STACK + (<usize>(depthBase + depth - 1) << 4));
        if (lang == LANG_SYNCML && parent == ((T_SYNCML << 8) | TOK_DATA) && n >= 5 &&
            load<u8>(s) <= 3 && load<u8>(s + 1) == 0xa4 && load<u8>(s + 2) == 0x03) {
          const savedTape = tapeCount;
          const savedText = textFill;
          const resume = p;
          const ok = parseWbxml(s, s + <usize>n, true, depthBase + depth);
          p = resume;
          mbOk = true;
          if (ok == 0) continue;
          // not a well-formed DevInf document after all: keep the bytes as they are
          setTapeCount(savedTape);
          setTextFill(savedText);
          clearError();
        }
        if (n > 0 && emit((K_OPAQUE << 28) | n, <u32>s, at) < 0) return -1;
      }
      continue;
    }
    // Tags: 0x05-0x3F with the content (0x40) and attribute (0x80) bits, or LITERAL forms.
    const low = t & 0x3f;
    if (low < 5 && low != LITERAL) return fail(E_GLOBAL, at, <i32>t);
    if ((t & 0x80) != 0) return fail(E_ATTR, at, <i32>t);
    let id: i32;
    if (low == LITERAL) {
      const idx = mbUint(end);
      if (!mbOk) return -1;
      if (idx >= tblLen) return fail(E_STRTBL, at, <i32>tblLen);
      const s = tbl + <usize>idx;
      let e = s;
      const te = tbl + <usize>tblLen;
      while (e < te && load<u8>(e) != 0) e++;
      if (lang < 0) {
        lang = LANG_SYNCML;
      }
      id = lookup(lang, s, <i32>(e - s));
      if (id < 0) return fail(E_UNKNOWN_ELEMENT, at);
    } else {
      if (lang < 0) {
        // unknown public id: SyncML root token 0x2D on page 0, DevInf root 0x0A
        lang = low == <u32>TOK_DEVINF ? LANG_DEVINF : LANG_SYNCML;
      }
      const table = (lang == LANG_DEVINF ? T_DEVINF : T_SYNCML) + page;
      if (nameLen(table, <i32>low) == 0) return fail(E_TOKEN, at, (page << 8) | <i32>low);
      id = (table << 8) | <i32>low;
    }
    if (depth == 0) {
      if (rootSeen) return fail(E_TRAILING, at);
      const want = lang == LANG_DEVINF ? ((T_DEVINF << 8) | TOK_DEVINF) : ((T_SYNCML << 8) | TOK_SYNCML);
      if (id != want) return fail(E_ROOT, at);
      rootSeen = true;
      if (!embedded) wbxmlLang = lang;
    }
    if (emit((K_OPEN << 28) | <u32>id, <u32>(at - INPUT), at) < 0) return -1;
    if ((t & 0x40) == 0) {
      if (emit(K_CLOSE << 28, <u32>(at - INPUT), at) < 0) return -1;
      if (depth == 0) {
        if (p != end) return fail(E_TRAILING, p);
        return 0;
      }
      continue;
    }
    if (depthBase + depth >= MAX_DEPTH) return fail(E_DEPTH, at, MAX_DEPTH);
    store<u32>(STACK + (<usize>(depthBase + depth) << 4), <u32>id);
    depth++;
  }
  if (depth > 0) return fail(E_EOF, end, <i32>load<u32>(STACK + (<usize>(depthBase + depth - 1) << 4)));
  return fail(E_EMPTY, p);
}
