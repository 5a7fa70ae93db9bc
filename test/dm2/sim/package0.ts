// Package 0 (the DM notification) as the device reads it: OMA-TS-DM_Notification's layout, 128-bit
// digest, then version(10) ui-mode(2) initiator(1) future-use(27) sessionid(16) server-id length(8)
// server-id and an optional vendor body. digest = MD5(B64(MD5(server-id ":" key)) ":" nonce ":" B64(MD5(trigger))).
// For DM 2.0 the server's README says the key is the account's Digest HA1 (which the device derives from
// its own credentials). MD5 is not in WebCrypto everywhere (Node's is SHA only), so it is here.

import { fromBase64, toBase64 } from "./tree";

export interface Package0 {
  digest: Uint8Array;
  /** 10 for DM 1.0/1.1/1.2 notifications, 20 for DM 2.0. */
  version: number;
  uiMode: number;
  initiator: "client" | "server";
  /** The 16-bit session number, as the hex string a device uses in POST /sessions/id/{id}. */
  sessionId: string;
  serverId: string;
  vendor: Uint8Array;
  trigger: Uint8Array;
}

export function parsePackage0(base64: string): Package0 {
  const bytes = fromBase64(base64);
  if (bytes.length < 16 + 8) throw new Error(`package 0 too short (${bytes.length} bytes)`);
  const digest = bytes.slice(0, 16);
  const trigger = bytes.slice(16);
  const h = trigger;
  const version = (h[0]! << 2) | (h[1]! >> 6);
  const uiMode = (h[1]! >> 4) & 0b11;
  const initiator = (h[1]! >> 3) & 1 ? "server" : "client";
  const sessionNum = (h[5]! << 8) | h[6]!;
  const idLength = h[7]!;
  if (trigger.length < 8 + idLength) throw new Error("package 0: server identifier runs past the end");
  const serverId = new TextDecoder().decode(trigger.slice(8, 8 + idLength));
  return {
    digest,
    version,
    uiMode,
    initiator,
    sessionId: sessionNum.toString(16).toUpperCase().padStart(4, "0"),
    serverId,
    vendor: trigger.slice(8 + idLength),
    trigger,
  };
}

/** Whether the notification was made by a server that knows `key` (the device's check before it connects). */
export function package0DigestMatches(p: Package0, key: string, nonce = ""): boolean {
  const enc = new TextEncoder();
  const inner = toBase64(md5(enc.encode(`${p.serverId}:${key}`)));
  const trig = toBase64(md5(p.trigger));
  const expected = md5(enc.encode(`${inner}:${nonce}:${trig}`));
  return expected.every((b, i) => b === p.digest[i]);
}

// RFC 1321.
const S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
const K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

export function md5(message: Uint8Array): Uint8Array {
  const bitLength = message.length * 8;
  const padded = new Uint8Array((((message.length + 8) >> 6) + 1) * 64);
  padded.set(message);
  padded[message.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, bitLength >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(bitLength / 2 ** 32), true);
  let a0 = 0x67452301, b0 = 0xefcdab89, c0 = 0x98badcfe, d0 = 0x10325476;
  for (let off = 0; off < padded.length; off += 64) {
    let a = a0, b = b0, c = c0, d = d0;
    for (let i = 0; i < 64; i++) {
      let f: number, g: number;
      if (i < 16) (f = (b & c) | (~b & d)), (g = i);
      else if (i < 32) (f = (d & b) | (~d & c)), (g = (5 * i + 1) % 16);
      else if (i < 48) (f = b ^ c ^ d), (g = (3 * i + 5) % 16);
      else (f = c ^ (b | ~d)), (g = (7 * i) % 16);
      const m = view.getUint32(off + g * 4, true);
      f = (f + a + K[i]! + m) >>> 0;
      a = d;
      d = c;
      c = b;
      b = (b + ((f << S[i]!) | (f >>> (32 - S[i]!)))) >>> 0;
    }
    a0 = (a0 + a) >>> 0;
    b0 = (b0 + b) >>> 0;
    c0 = (c0 + c) >>> 0;
    d0 = (d0 + d) >>> 0;
  }
  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  [a0, b0, c0, d0].forEach((w, i) => ov.setUint32(i * 4, w, true));
  return out;
}
