// MD5 (RFC 1321), HMAC-MD5 (RFC 2104) and Base64 (RFC 4648 §4) over linear memory.
// WebCrypto has no MD5, and SyncML DM authentication (OMA-TS-DM_Security-V1_2 §5.3, §5.4) is built on it.

const K: usize = memory.data<u32>([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);
const S: usize = memory.data<u8>([
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
  5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
  6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
]);

const BLOCK: usize = memory.data(64);
let a0: u32 = 0, b0: u32 = 0, c0: u32 = 0, d0: u32 = 0;
let total: u64 = 0;
let fill: i32 = 0;

function block(m: usize): void {
  let a = a0, b = b0, c = c0, d = d0;
  for (let i = 0; i < 64; i++) {
    let f: u32;
    let g: i32;
    if (i < 16) { f = (b & c) | (~b & d); g = i; }
    else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
    else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
    else { f = c ^ (b | ~d); g = (7 * i) & 15; }
    const t = d;
    d = c;
    c = b;
    b = b + rotl<u32>(a + f + load<u32>(K + (<usize>i << 2)) + load<u32>(m + (<usize>g << 2)), <u32>load<u8>(S + <usize>i));
    a = t;
  }
  a0 += a; b0 += b; c0 += c; d0 += d;
}

export function md5Init(): void {
  a0 = 0x67452301; b0 = 0xefcdab89; c0 = 0x98badcfe; d0 = 0x10325476;
  total = 0;
  fill = 0;
}

export function md5Update(p: usize, n: i32): void {
  total += <u64>n;
  let i = 0;
  if (fill > 0) {
    while (fill < 64 && i < n) store<u8>(BLOCK + <usize>(fill++), load<u8>(p + <usize>(i++)));
    if (fill < 64) return;
    block(BLOCK);
    fill = 0;
  }
  while (n - i >= 64) { block(p + <usize>i); i += 64; }
  while (i < n) store<u8>(BLOCK + <usize>(fill++), load<u8>(p + <usize>(i++)));
}

/** Writes the 16-byte digest to out. */
export function md5Final(out: usize): void {
  const bits = total << 3;
  store<u8>(BLOCK + <usize>(fill++), 0x80);
  if (fill > 56) {
    while (fill < 64) store<u8>(BLOCK + <usize>(fill++), 0);
    block(BLOCK);
    fill = 0;
  }
  while (fill < 56) store<u8>(BLOCK + <usize>(fill++), 0);
  store<u64>(BLOCK + 56, bits);
  block(BLOCK);
  store<u32>(out, a0);
  store<u32>(out, b0, 4);
  store<u32>(out, c0, 8);
  store<u32>(out, d0, 12);
}

export function md5(p: usize, n: i32, out: usize): void {
  md5Init();
  md5Update(p, n);
  md5Final(out);
}

const PAD: usize = memory.data(64);
const HKEY: usize = memory.data(64);
const INNER: usize = memory.data(16);

/** HMAC-MD5 (RFC 2104): H(K ^ opad, H(K ^ ipad, text)). Keys longer than 64 bytes are hashed first. */
export function hmacMd5(key: usize, keyLen: i32, msg: usize, msgLen: i32, out: usize): void {
  const k = HKEY;
  memory.fill(k, 0, 64);
  if (keyLen > 64) md5(key, keyLen, k);
  else memory.copy(k, key, <usize>keyLen);
  for (let i: usize = 0; i < 64; i++) store<u8>(PAD + i, load<u8>(k + i) ^ 0x36);
  md5Init();
  md5Update(PAD, 64);
  md5Update(msg, msgLen);
  md5Final(INNER);
  for (let i: usize = 0; i < 64; i++) store<u8>(PAD + i, load<u8>(k + i) ^ 0x5c);
  md5Init();
  md5Update(PAD, 64);
  md5Update(INNER, 16);
  md5Final(out);
}

const B64: usize = memory.data<u8>([
  65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90,
  97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117,
  118, 119, 120, 121, 122, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 43, 47,
]);

/** Base64 with padding; returns the number of bytes written. */
export function b64(p: usize, n: i32, out: usize): i32 {
  let o = out;
  let i = 0;
  for (; i + 3 <= n; i += 3) {
    const v = (<u32>load<u8>(p + <usize>i) << 16) | (<u32>load<u8>(p + <usize>i + 1) << 8) | <u32>load<u8>(p + <usize>i + 2);
    store<u8>(o, load<u8>(B64 + <usize>(v >> 18)));
    store<u8>(o, load<u8>(B64 + <usize>((v >> 12) & 63)), 1);
    store<u8>(o, load<u8>(B64 + <usize>((v >> 6) & 63)), 2);
    store<u8>(o, load<u8>(B64 + <usize>(v & 63)), 3);
    o += 4;
  }
  const r = n - i;
  if (r > 0) {
    let v = <u32>load<u8>(p + <usize>i) << 16;
    if (r == 2) v |= <u32>load<u8>(p + <usize>i + 1) << 8;
    store<u8>(o, load<u8>(B64 + <usize>(v >> 18)));
    store<u8>(o, load<u8>(B64 + <usize>((v >> 12) & 63)), 1);
    store<u8>(o, r == 2 ? load<u8>(B64 + <usize>((v >> 6) & 63)) : 61, 2);
    store<u8>(o, 61, 3);
    o += 4;
  }
  return <i32>(o - out);
}

const H1: usize = memory.data(16);
const H1B64: usize = memory.data(24);
const H2: usize = memory.data(16);
const H2B64: usize = memory.data(24);
const COLON: usize = memory.data<u8>([58]);

/**
 * The SyncML DM digest shape shared by auth-md5, the HMAC header and package 0
 * (OMA-TS-DM_Security-V1_2 §5.3.2, §5.4; OMA-TS-DM_Notification-V1_2 §6.2):
 *   digest = H( B64(H(name ":" secret)) ":" nonce [ ":" B64(H(body)) ] )
 * The raw 16-byte digest goes to out. Pass bodyLen < 0 for auth-md5 (no body part).
 */
export function dmDigest(name: usize, nameLen: i32, secret: usize, secretLen: i32, nonce: usize, nonceLen: i32,
  body: usize, bodyLen: i32, out: usize): void {
  md5Init();
  md5Update(name, nameLen);
  md5Update(COLON, 1);
  md5Update(secret, secretLen);
  md5Final(H1);
  b64(H1, 16, H1B64);
  if (bodyLen >= 0) {
    md5(body, bodyLen, H2);
    b64(H2, 16, H2B64);
  }
  md5Init();
  md5Update(H1B64, 24);
  md5Update(COLON, 1);
  md5Update(nonce, nonceLen);
  if (bodyLen >= 0) {
    md5Update(COLON, 1);
    md5Update(H2B64, 24);
  }
  md5Final(out);
}
