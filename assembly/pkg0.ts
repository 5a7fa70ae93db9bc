// Package 0, the DM notification (OMA-TS-DM_Notification-V1_2 §6):
//   digest(128) | version(10) ui-mode(2) initiator(1) future-use(27) sessionid(16)
//   server-identifier-length(8) server-identifier | vendor-specific body
// digest = H(B64(H(server-identifier ":" password)) ":" nonce ":" B64(H(trigger))), where the trigger
// is everything after the digest (header and body).
import { INPUT, OUTPUT, IO, fail, E_EOF, E_ARG } from "./layout";
import { dmDigest } from "./md5";

export const PKG0_HEADER: i32 = 16 + 8; // digest, then 64 bits up to and including the server id length

/**
 * Builds package 0 at OUTPUT. The host has written into IO, back to back: server id, password,
 * nonce, vendor body. Returns the package length or -1.
 */
export function pkg0Encode(version: i32, uiMode: i32, initiator: i32, sessionId: i32,
  sidLen: i32, pwLen: i32, nonceLen: i32, bodyLen: i32): i32 {
  if (version < 0 || version > 1023) return fail(E_ARG, 0, 1);
  if (uiMode < 0 || uiMode > 3) return fail(E_ARG, 0, 2);
  if (initiator < 0 || initiator > 1) return fail(E_ARG, 0, 3);
  if (sessionId < 0 || sessionId > 0xffff) return fail(E_ARG, 0, 4);
  if (sidLen < 0 || sidLen > 255) return fail(E_ARG, 0, 5);
  const sid = IO;
  const pw = sid + <usize>sidLen;
  const nonce = pw + <usize>pwLen;
  const body = nonce + <usize>nonceLen;
  const t = OUTPUT + 16;
  // bits 0-39: version(10) ui-mode(2) initiator(1) future-use(27, zero); 40-55 session id; 56-63 length
  const hi: u32 = (<u32>version << 22) | (<u32>uiMode << 20) | (<u32>initiator << 19);
  store<u32>(t, bswap<u32>(hi));
  store<u8>(t + 4, 0);
  store<u8>(t + 5, <u8>(sessionId >> 8));
  store<u8>(t + 6, <u8>sessionId);
  store<u8>(t + 7, <u8>sidLen);
  memory.copy(t + 8, sid, <usize>sidLen);
  memory.copy(t + 8 + <usize>sidLen, body, <usize>bodyLen);
  const trigLen = 8 + sidLen + bodyLen;
  dmDigest(sid, sidLen, pw, pwLen, nonce, nonceLen, t, trigLen, OUTPUT);
  return 16 + trigLen;
}

/**
 * Reads package 0 from INPUT[0, len). Writes to IO (u32 each): version, ui-mode, initiator,
 * future-use, session id, server id offset, server id length, body offset, body length.
 * Returns 0 or -1.
 */
export function pkg0Decode(len: i32): i32 {
  if (len < PKG0_HEADER) return fail(E_EOF, INPUT + <usize>len, PKG0_HEADER);
  const t = INPUT + 16;
  const hi = bswap<u32>(load<u32>(t));
  const sidLen = <i32>load<u8>(t + 7);
  if (PKG0_HEADER + sidLen > len) return fail(E_EOF, INPUT + <usize>len, PKG0_HEADER + sidLen);
  store<u32>(IO, hi >> 22);
  store<u32>(IO, (hi >> 20) & 3, 4);
  store<u32>(IO, (hi >> 19) & 1, 8);
  store<u32>(IO, ((hi & 0x7ffff) << 8) | <u32>load<u8>(t + 4), 12);
  store<u32>(IO, (<u32>load<u8>(t + 5) << 8) | <u32>load<u8>(t + 6), 16);
  store<u32>(IO, <u32>PKG0_HEADER, 20);
  store<u32>(IO, <u32>sidLen, 24);
  store<u32>(IO, <u32>(PKG0_HEADER + sidLen), 28);
  store<u32>(IO, <u32>(len - PKG0_HEADER - sidLen), 32);
  return 0;
}
