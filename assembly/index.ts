// The gateway's WASM module. Only src/codec/ loads it.
// Every export that takes a message works on the fixed buffers of layout.ts: the host copies the
// input to inputPtr(), makes one call, and reads the tape or the output back. One call per message.
export { codeScratch, activationCode, CODE_SCRATCH_BYTES } from "./activation-code";
export { md5, hmacMd5, b64, dmDigest } from "./md5";
export { pkg0Encode, pkg0Decode } from "./pkg0";
export { MAX_MESSAGE, MAX_DEPTH, TAPE_RECORDS, TEXT_CAP, OUTPUT_CAP, IO_CAP } from "./layout";

import {
  INPUT, TAPE, TEXT, OUTPUT, IO, MAX_MESSAGE, fail, clearError, errCode, errOffset, errDetail,
  E_TOO_LARGE, E_ARG, E_EMPTY, F_AUTO, F_XML, F_WBXML,
} from "./layout";
import { resetTape, tapeCount } from "./tape";
import { parseXml, xmlLang } from "./xml";
import { parseWbxml, wbxmlLang } from "./wbxml";
import { writeWbxml, writeXml } from "./writer";
import { LANG_SYNCML, LANG_DEVINF } from "./tables";

export function inputPtr(): usize { return INPUT; }
export function tapePtr(): usize { return TAPE; }
export function textPtr(): usize { return TEXT; }
export function outputPtr(): usize { return OUTPUT; }
export function ioPtr(): usize { return IO; }
export function lastError(): i32 { return errCode; }
export function lastErrorOffset(): i32 { return errOffset; }
export function lastErrorDetail(): i32 { return errDetail; }

let lang: i32 = 0;
/** Language of the last decoded document: 0 SyncML 1.2, 1 DevInf 1.2. */
export function docLang(): i32 { return lang; }

/** Format of a message by its first byte: WBXML starts with its version (0x00-0x03). */
function sniff(len: i32): i32 {
  if (len == 0) return F_XML;
  return load<u8>(INPUT) <= 3 ? F_WBXML : F_XML;
}

/**
 * Parses INPUT[0, len) (format F_AUTO, F_XML or F_WBXML) onto the tape.
 * Returns the number of tape records, or -1 with lastError() set.
 */
export function decode(len: i32, format: i32): i32 {
  clearError();
  resetTape();
  if (len < 0 || format < F_AUTO || format > F_WBXML) return fail(E_ARG, 0);
  if (len > MAX_MESSAGE) return fail(E_TOO_LARGE, INPUT + <usize>MAX_MESSAGE, MAX_MESSAGE);
  if (len == 0) return fail(E_EMPTY, INPUT);
  const f = format == F_AUTO ? sniff(len) : format;
  if (f == F_WBXML) {
    if (parseWbxml(INPUT, INPUT + <usize>len, false) < 0) return -1;
    lang = wbxmlLang;
  } else {
    if (parseXml(len) < 0) return -1;
    lang = xmlLang;
  }
  return tapeCount;
}

/**
 * Writes `records` tape records (written by the host, strings in the text area) as a document of
 * language `language` in format `to`. Returns the output length at outputPtr(), or -1.
 */
export function encode(records: i32, language: i32, to: i32): i32 {
  clearError();
  if (language != LANG_SYNCML && language != LANG_DEVINF) return fail(E_ARG, 0);
  if (to == F_WBXML) return writeWbxml(records, language, false);
  if (to == F_XML) return writeXml(records, language);
  return fail(E_ARG, 0);
}

/** XML <-> WBXML in one call: INPUT[0, len) in format `from` to format `to` at outputPtr(). */
export function convert(len: i32, from: i32, to: i32): i32 {
  const n = decode(len, from);
  if (n < 0) return -1;
  if (to == F_WBXML) return writeWbxml(n, lang, true);
  if (to == F_XML) return writeXml(n, lang);
  return fail(E_ARG, 0);
}

import { nameLen, namePtr } from "./tables";
/** Name of tag (table, token) for the host's tables: length 0 when unassigned. */
export function tagNameLen(table: i32, token: i32): i32 { return nameLen(table, token); }
export function tagNamePtr(table: i32, token: i32): usize { return namePtr(table, token); }
