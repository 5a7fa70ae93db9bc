// XML 1.0 reader for SyncML DM 1.2 and DevInf 1.2 documents (UTF-8), producing the tape.
// It is a well-formedness checker for the subset SyncML uses: elements, attributes (read and
// ignored except xmlns: SyncML defines none), character and the five predefined entity references,
// CDATA sections, comments, processing instructions and a DOCTYPE (skipped: SyncML peers never rely
// on an internal subset). Element names are resolved by local name in the language's tables, so
// MetInf elements are found with or without xmlns="syncml:metinf" (real clients omit it).
import {
  INPUT, STACK, MAX_DEPTH, fail,
  E_DEPTH, E_EOF, E_NAME, E_GT, E_END_TAG, E_UNKNOWN_ELEMENT, E_ATTR, E_ENTITY, E_CHAR, E_UTF8,
  E_ROOT, E_TRAILING, E_MARKUP, E_EMPTY,
  K_OPEN, K_CLOSE, K_TEXT, K_CDATA,
} from "./layout";
import { emit, lastKind, textAlloc } from "./tape";
import { lookup, LANG_SYNCML, LANG_DEVINF, T_SYNCML, T_DEVINF, TOK_DATA, TOK_DEVINF, TOK_SYNCML } from "./tables";

export let xmlLang: i32 = 0;

// @ts-ignore: decorator
@inline function isWs(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x09 || c == 0x0d;
}

// @ts-ignore: decorator
@inline function isNameEnd(c: u32): bool {
  return c == 0x20 || c == 0x0a || c == 0x09 || c == 0x0d || c == 0x2f || c == 0x3e || c == 0x3d;
}

/** Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. RFC 3629 §4. */
export function utf8Seq(p: usize, end: usize): i32 {
  const c = <u32>load<u8>(p);
  let n = 0;
  let min: u32 = 0;
  let cp: u32 = 0;
  if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; min = 0x80; }
  else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; min = 0x800; }
  else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; min = 0x10000; }
  else return 0;
  if (p + <usize>n > end) return 0;
  for (let i = 1; i < n; i++) {
    const b = <u32>load<u8>(p + <usize>i);
    if ((b & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff) return 0;
  return n;
}

function startsWith(p: usize, end: usize, s: string): bool {
  const n = s.length;
  if (p + <usize>n > end) return false;
  for (let i = 0; i < n; i++) if (<i32>load<u8>(p + <usize>i) != s.charCodeAt(i)) return false;
  return true;
}

/** Finds the ASCII terminator s from p; returns its address or 0. */
function findSeq(p: usize, end: usize, a: u32, b: u32, c: u32): usize {
  while (p + 2 < end) {
    if (<u32>load<u8>(p) == a && <u32>load<u8>(p + 1) == b && <u32>load<u8>(p + 2) == c) return p;
    p++;
  }
  return 0;
}

function find2(p: usize, end: usize, a: u32, b: u32): usize {
  while (p + 1 < end) {
    if (<u32>load<u8>(p) == a && <u32>load<u8>(p + 1) == b) return p;
    p++;
  }
  return 0;
}

/** Writes code point cp as UTF-8 at q; returns the number of bytes. */
export function putUtf8(q: usize, cp: u32): usize {
  if (cp < 0x80) { store<u8>(q, <u8>cp); return 1; }
  if (cp < 0x800) { store<u8>(q, <u8>(0xc0 | (cp >> 6))); store<u8>(q, <u8>(0x80 | (cp & 0x3f)), 1); return 2; }
  if (cp < 0x10000) {
    store<u8>(q, <u8>(0xe0 | (cp >> 12))); store<u8>(q, <u8>(0x80 | ((cp >> 6) & 0x3f)), 1);
    store<u8>(q, <u8>(0x80 | (cp & 0x3f)), 2); return 3;
  }
  store<u8>(q, <u8>(0xf0 | (cp >> 18))); store<u8>(q, <u8>(0x80 | ((cp >> 12) & 0x3f)), 1);
  store<u8>(q, <u8>(0x80 | ((cp >> 6) & 0x3f)), 2); store<u8>(q, <u8>(0x80 | (cp & 0x3f)), 3); return 4;
}

// Result of an entity decode: bytes written, and the address after ';' (or 0 on error).
let entNext: usize = 0;

/** Decodes the reference at p ('&') into q. XML 1.0 §4.1, §4.6. Returns bytes written or -1. */
function decodeEntity(p: usize, end: usize, q: usize): i32 {
  let semi: usize = 0;
  for (let k: usize = p + 1; k < end && k < p + 12; k++) {
    if (load<u8>(k) == 0x3b) { semi = k; break; }
  }
  if (semi == 0) return fail(E_ENTITY, p);
  const n = <i32>(semi - p - 1);
  entNext = semi + 1;
  if (n >= 2 && load<u8>(p + 1) == 0x23) {
    // character reference
    let cp: u32 = 0;
    let i = 2;
    let hex = false;
    if (load<u8>(p + 2) == 0x78) { hex = true; i = 3; }
    if (i > n) return fail(E_ENTITY, p);
    for (; i <= n; i++) {
      const c = <u32>load<u8>(p + <usize>i);
      let d: u32;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (hex && c >= 0x61 && c <= 0x66) d = c - 0x57;
      else if (hex && c >= 0x41 && c <= 0x46) d = c - 0x37;
      else return fail(E_ENTITY, p);
      cp = hex ? (cp << 4) | d : cp * 10 + d;
      if (cp > 0x10ffff) return fail(E_ENTITY, p);
    }
    // Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
    if (!(cp == 9 || cp == 10 || cp == 13 || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || cp >= 0x10000)) {
      return fail(E_CHAR, p, <i32>cp);
    }
    return <i32>putUtf8(q, cp);
  }
  let ch: u32 = 0;
  if (n == 3 && load<u8>(p + 1) == 0x61 && load<u8>(p + 2) == 0x6d && load<u8>(p + 3) == 0x70) ch = 0x26;
  else if (n == 2 && load<u8>(p + 2) == 0x74 && load<u8>(p + 1) == 0x6c) ch = 0x3c;
  else if (n == 2 && load<u8>(p + 2) == 0x74 && load<u8>(p + 1) == 0x67) ch = 0x3e;
  else if (n == 4 && startsWith(p + 1, end, "quot")) ch = 0x22;
  else if (n == 4 && startsWith(p + 1, end, "apos")) ch = 0x27;
  else return fail(E_ENTITY, p);
  store<u8>(q, <u8>ch);
  return 1;
}

/** Skips a comment, PI or (before the root) DOCTYPE at p ('<' followed by '!' or '?'). */
function skipMarkup(p: usize, end: usize, allowDoctype: bool): usize {
  if (p + 1 >= end) { fail(E_EOF, p); return 0; }
  if (load<u8>(p + 1) == 0x3f) {
    const q = find2(p + 2, end, 0x3f, 0x3e);
    if (q == 0) { fail(E_EOF, end); return 0; }
    return q + 2;
  }
  if (startsWith(p, end, "<!--")) {
    const q = findSeq(p + 4, end, 0x2d, 0x2d, 0x3e);
    if (q == 0) { fail(E_EOF, end); return 0; }
    return q + 3;
  }
  if (allowDoctype && startsWith(p, end, "<!DOCTYPE")) {
    let q = p + 9;
    let quote: u32 = 0;
    let bracket = 0;
    while (q < end) {
      const c = <u32>load<u8>(q);
      if (quote != 0) { if (c == quote) quote = 0; }
      else if (c == 0x22 || c == 0x27) quote = c;
      else if (c == 0x5b) bracket++;
      else if (c == 0x5d) bracket--;
      else if (c == 0x3e && bracket <= 0) return q + 1;
      q++;
    }
    fail(E_EOF, end);
    return 0;
  }
  fail(E_MARKUP, p);
  return 0;
}

/**
 * Parses the XML document in INPUT[0, len) onto the tape. Returns 0, or -1 with the error set.
 * Whitespace-only text is kept only when it is an element's whole content (SyncML leaf values may
 * be blank); between elements it is formatting and is dropped (XML 1.0 §2.10).
 */
export function parseXml(len: i32): i32 {
  let p = INPUT;
  const end = INPUT + <usize>len;
  // UTF-8 byte order mark
  if (len >= 3 && load<u8>(p) == 0xef && load<u8>(p + 1) == 0xbb && load<u8>(p + 2) == 0xbf) p += 3;
  // Prolog: XML declaration, comments, PIs, DOCTYPE.
  let inProlog = true;
  while (inProlog) {
    while (p < end && isWs(<u32>load<u8>(p))) p++;
    if (p >= end) return fail(E_EMPTY, p);
    if (load<u8>(p) != 0x3c) return fail(E_ROOT, p);
    if (p + 1 < end && (load<u8>(p + 1) == 0x3f || load<u8>(p + 1) == 0x21)) {
      p = skipMarkup(p, end, true);
      if (p == 0) return -1;
    } else {
      inProlog = false;
    }
  }
  let depth = 0;
  let pendWs: usize = 0; // whitespace-only run waiting to see whether it is an element's whole content
  let pendLen: i32 = 0;
  xmlLang = -1;
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c == 0x3c) {
      if (p + 1 >= end) return fail(E_EOF, end);
      const c2 = <u32>load<u8>(p + 1);
      if (c2 == 0x2f) {
        // End tag.
        if (depth == 0) return fail(E_TRAILING, p);
        const nameStart = p + 2;
        let q = nameStart;
        while (q < end && !isNameEnd(<u32>load<u8>(q))) q++;
        if (q >= end) return fail(E_EOF, end);
        const se = STACK + (<usize>(depth - 1) << 4);
        const openPtr = <usize>load<u32>(se, 4);
        const openLen = <usize>load<u32>(se, 8);
        if (q - nameStart != openLen || memory.compare(nameStart, openPtr, openLen) != 0) {
          return fail(E_END_TAG, p, <i32>load<u32>(se));
        }
        while (q < end && isWs(<u32>load<u8>(q))) q++;
        if (q >= end) return fail(E_EOF, end);
        if (load<u8>(q) != 0x3e) return fail(E_GT, q);
        if (pendLen > 0 && lastKind() == K_OPEN) {
          if (emit((K_TEXT << 28) | <u32>pendLen, <u32>pendWs, pendWs) < 0) return -1;
        }
        pendLen = 0;
        if (emit(K_CLOSE << 28, <u32>(p - INPUT), p) < 0) return -1;
        depth--;
        p = q + 1;
        if (depth == 0) break;
        continue;
      }
      if (c2 == 0x21) {
        if (depth > 0 && startsWith(p, end, "<![CDATA[")) {
          const s = p + 9;
          const q = findSeq(s, end, 0x5d, 0x5d, 0x3e);
          if (q == 0) return fail(E_EOF, end);
          // validate the content as UTF-8 text
          let k = s;
          let hasCr = false;
          while (k < q) {
            const b = <u32>load<u8>(k);
            if (b >= 0x80) {
              const n = utf8Seq(k, q);
              if (n == 0) return fail(E_UTF8, k);
              k += <usize>n;
            } else {
              if (b < 0x20 && b != 9 && b != 10 && b != 13) return fail(E_CHAR, k, <i32>b);
              if (b == 13) hasCr = true;
              k++;
            }
          }
          pendLen = 0;
          let cs = s;
          let cl = <i32>(q - s);
          if (hasCr) {
            // line ends are normalised before parsing, CDATA included (XML 1.0 §2.11)
            const dst = textAlloc(cl, s);
            if (dst == 0) return -1;
            let w = dst;
            for (let r = s; r < q; r++) {
              const b = load<u8>(r);
              if (b == 13) {
                store<u8>(w++, 10);
                if (r + 1 < q && load<u8>(r + 1) == 10) r++;
              } else store<u8>(w++, b);
            }
            cs = dst;
            cl = <i32>(w - dst);
          }
          if (cl > 0 && emit((K_CDATA << 28) | <u32>cl, <u32>cs, p) < 0) return -1;
          p = q + 3;
          continue;
        }
        p = skipMarkup(p, end, false);
        if (p == 0) return -1;
        continue;
      }
      if (c2 == 0x3f) {
        p = skipMarkup(p, end, false);
        if (p == 0) return -1;
        continue;
      }
      // Start tag.
      const nameStart = p + 1;
      let q = nameStart;
      while (q < end && !isNameEnd(<u32>load<u8>(q))) q++;
      if (q >= end) return fail(E_EOF, end);
      const nameLen = <i32>(q - nameStart);
      if (nameLen == 0) return fail(E_NAME, nameStart);
      // local name (a prefix, if any, is dropped: resolution is by name within the language)
      let local = nameStart;
      for (let k = nameStart; k < q; k++) if (load<u8>(k) == 0x3a) local = k + 1;
      const localLen = <i32>(q - local);
      let id: i32;
      if (depth == 0) {
        if (localLen == 6 && startsWith(local, q, "SyncML")) { xmlLang = LANG_SYNCML; id = (T_SYNCML << 8) | TOK_SYNCML; }
        else if (localLen == 6 && startsWith(local, q, "DevInf")) { xmlLang = LANG_DEVINF; id = (T_DEVINF << 8) | TOK_DEVINF; }
        else return fail(E_ROOT, nameStart);
      } else {
        const parent = <i32>load<u32>(STACK + (<usize>(depth - 1) << 4));
        const lang = (parent >> 8) >> 1;
        id = lookup(lang, local, localLen);
        if (id < 0) {
          // DevInf embedded in a SyncML <Data> (OMA-TS-DS_DevInf-V1_2 §5: DevInf travels as Results data)
          if (lang == LANG_SYNCML && parent == ((T_SYNCML << 8) | TOK_DATA) && localLen == 6 && startsWith(local, q, "DevInf")) {
            id = (T_DEVINF << 8) | TOK_DEVINF;
          } else {
            return fail(E_UNKNOWN_ELEMENT, nameStart);
          }
        }
      }
      // Attributes: well-formed and ignored (SyncML and DevInf define none besides xmlns).
      let selfClose = false;
      for (;;) {
        while (q < end && isWs(<u32>load<u8>(q))) q++;
        if (q >= end) return fail(E_EOF, end);
        const a = <u32>load<u8>(q);
        if (a == 0x3e) { q++; break; }
        if (a == 0x2f) {
          if (q + 1 >= end) return fail(E_EOF, end);
          if (load<u8>(q + 1) != 0x3e) return fail(E_GT, q + 1);
          q += 2;
          selfClose = true;
          break;
        }
        const an = q;
        while (q < end && !isNameEnd(<u32>load<u8>(q))) q++;
        if (q == an) return fail(E_ATTR, q);
        while (q < end && isWs(<u32>load<u8>(q))) q++;
        if (q >= end) return fail(E_EOF, end);
        if (load<u8>(q) != 0x3d) return fail(E_ATTR, q);
        q++;
        while (q < end && isWs(<u32>load<u8>(q))) q++;
        if (q >= end) return fail(E_EOF, end);
        const quote = <u32>load<u8>(q);
        if (quote != 0x22 && quote != 0x27) return fail(E_ATTR, q);
        q++;
        while (q < end && <u32>load<u8>(q) != quote) {
          if (load<u8>(q) == 0x3c) return fail(E_ATTR, q);
          q++;
        }
        if (q >= end) return fail(E_EOF, end);
        q++;
        // the next attribute needs white space before it
        if (q < end) {
          const n = <u32>load<u8>(q);
          if (!isWs(n) && n != 0x3e && n != 0x2f) return fail(E_ATTR, q);
        }
      }
      pendLen = 0;
      if (emit((K_OPEN << 28) | <u32>id, <u32>(p - INPUT), p) < 0) return -1;
      if (selfClose) {
        if (emit(K_CLOSE << 28, <u32>(p - INPUT), p) < 0) return -1;
        p = q;
        if (depth == 0) { depth = -1; break; }
        continue;
      }
      if (depth >= MAX_DEPTH) return fail(E_DEPTH, p, MAX_DEPTH);
      const se = STACK + (<usize>depth << 4);
      store<u32>(se, <u32>id);
      store<u32>(se, <u32>nameStart, 4);
      store<u32>(se, <u32>nameLen, 8);
      depth++;
      p = q;
      continue;
    }
    // Character data.
    if (depth == 0) return fail(E_TRAILING, p);
    const start = p;
    let special = false;
    let allWs = true;
    while (p < end) {
      const b = <u32>load<u8>(p);
      if (b == 0x3c) break;
      if (b >= 0x80) {
        const n = utf8Seq(p, end);
        if (n == 0) return fail(E_UTF8, p);
        p += <usize>n;
        allWs = false;
        continue;
      }
      if (b == 0x26 || b == 0x0d) special = true;
      if (b < 0x20 && b != 9 && b != 10 && b != 13) return fail(E_CHAR, p, <i32>b);
      if (b != 0x20 && b != 0x0a && b != 0x09 && b != 0x0d) allWs = false;
      p++;
    }
    if (p >= end) return fail(E_EOF, end);
    const runLen = <i32>(p - start);
    if (!special) {
      if (allWs) { pendWs = start; pendLen = runLen; continue; }
      pendLen = 0;
      if (emit((K_TEXT << 28) | <u32>runLen, <u32>start, start) < 0) return -1;
      continue;
    }
    // Decode references and normalise line ends (XML 1.0 §2.11) into the text area.
    const dst = textAlloc(runLen, start);
    if (dst == 0) return -1;
    let w = dst;
    let k = start;
    while (k < p) {
      const b = <u32>load<u8>(k);
      if (b == 0x26) {
        const n = decodeEntity(k, p, w);
        if (n < 0) return -1;
        w += <usize>n;
        k = entNext;
        allWs = false;
      } else if (b == 0x0d) {
        store<u8>(w++, 0x0a);
        k++;
        if (k < p && load<u8>(k) == 0x0a) k++;
      } else {
        store<u8>(w++, <u8>b);
        k++;
      }
    }
    if (allWs) { pendWs = dst; pendLen = <i32>(w - dst); continue; }
    pendLen = 0;
    if (emit((K_TEXT << 28) | <u32>(w - dst), <u32>dst, start) < 0) return -1;
  }
  if (depth > 0) {
    return fail(E_EOF, end, <i32>load<u32>(STACK + (<usize>(depth - 1) << 4)));
  }
  if (xmlLang < 0) return fail(E_EMPTY, p);
  // Epilogue: only white space, comments and PIs.
  let ok = true;
  while (ok && p < end) {
    if (isWs(<u32>load<u8>(p))) { p++; continue; }
    if (load<u8>(p) == 0x3c && p + 1 < end && (load<u8>(p + 1) == 0x3f || startsWith(p, end, "<!--"))) {
      p = skipMarkup(p, end, false);
      if (p == 0) return -1;
      continue;
    }
    ok = false;
  }
  if (!ok) return fail(E_TRAILING, p);
  return 0;
}
