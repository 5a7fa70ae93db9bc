// Fixed memory of the codec: every buffer is allocated once, when the module is instantiated, and
// never grows afterwards. A message that does not fit is refused with a typed error instead of
// growing the heap, so a hostile peer cannot make an isolate allocate without bound.

/** Largest message accepted, in bytes (XML or WBXML). SyncML DM MaxMsgSize values are far below. */
export const MAX_MESSAGE: i32 = 1 << 20;
/** Deepest element nesting accepted. Real DM messages stay below 16, even with embedded DevInf. */
export const MAX_DEPTH: i32 = 32;
/** Tape records (8 bytes each): elements, ends and text runs of one message. */
export const TAPE_RECORDS: i32 = 1 << 19;
/** Decoded text (entities, CR normalisation) and strings written by the host for encoding. */
export const TEXT_CAP: i32 = (1 << 20) + 4096;
/** Largest encoder output (XML from a dense WBXML message grows several times). */
export const OUTPUT_CAP: i32 = 4 << 20;
/** Scratch for digests, credentials and package 0. */
export const IO_CAP: i32 = 64 << 10;

export const INPUT: usize = heap.alloc(<usize>MAX_MESSAGE + 16);
export const TAPE: usize = heap.alloc(<usize>TAPE_RECORDS * 8);
export const TEXT: usize = heap.alloc(<usize>TEXT_CAP);
export const OUTPUT: usize = heap.alloc(<usize>OUTPUT_CAP + 16);
export const IO: usize = heap.alloc(<usize>IO_CAP);
export const STACK: usize = heap.alloc(<usize>(MAX_DEPTH + 2) * 16);

// Error state of the last call: a code (see src/codec/core.ts for the texts), the byte offset in the
// input it refers to, and a detail value (a token, a code page, a limit).
export let errCode: i32 = 0;
export let errOffset: i32 = 0;
export let errDetail: i32 = 0;

export function fail(code: i32, at: usize, detail: i32 = 0): i32 {
  errCode = code;
  errOffset = at >= INPUT && at <= INPUT + <usize>MAX_MESSAGE + 16 ? <i32>(at - INPUT) : -1;
  errDetail = detail;
  return -1;
}

export function clearError(): void {
  errCode = 0;
  errOffset = 0;
  errDetail = 0;
}

// Error codes. The host maps each to the "expected" text of its CodecError.
export const E_TOO_LARGE: i32 = 1;
export const E_DEPTH: i32 = 2;
export const E_EOF: i32 = 3;
export const E_NAME: i32 = 4;
export const E_GT: i32 = 5;
export const E_END_TAG: i32 = 6;
export const E_UNKNOWN_ELEMENT: i32 = 7;
export const E_ATTR: i32 = 8;
export const E_ENTITY: i32 = 9;
export const E_CHAR: i32 = 10;
export const E_UTF8: i32 = 11;
export const E_ROOT: i32 = 12;
export const E_TRAILING: i32 = 13;
export const E_VERSION: i32 = 14;
export const E_PUBLIC_ID: i32 = 15;
export const E_CHARSET: i32 = 16;
export const E_MBUINT: i32 = 17;
export const E_TOKEN: i32 = 18;
export const E_CODE_PAGE: i32 = 19;
export const E_STRTBL: i32 = 20;
export const E_GLOBAL: i32 = 21;
export const E_TAPE: i32 = 22;
export const E_OUTPUT: i32 = 23;
export const E_NUL: i32 = 24;
export const E_BINARY: i32 = 25;
export const E_MARKUP: i32 = 26;
export const E_EMPTY: i32 = 27;
export const E_TEXT_CAP: i32 = 28;
export const E_ARG: i32 = 29;

// Tape record kinds (top 4 bits of the first word).
export const K_OPEN: u32 = 1; //   w0 = kind | table << 8 | token, w1 = byte offset in the input
export const K_CLOSE: u32 = 2; //  w0 = kind,                     w1 = byte offset in the input
export const K_TEXT: u32 = 3; //   w0 = kind | length,            w1 = address of UTF-8 bytes
export const K_OPAQUE: u32 = 4; // w0 = kind | length,            w1 = address (WBXML opaque: bytes)
export const K_CDATA: u32 = 5; //  w0 = kind | length,            w1 = address (XML CDATA: text)

// Document formats and languages across the boundary.
export const F_AUTO: i32 = 0;
export const F_XML: i32 = 1;
export const F_WBXML: i32 = 2;
