// The codec for the Worker: codec.wasm (AssemblyScript, assembly/) instantiated once per isolate.
// Workers hand a .wasm import over as a compiled WebAssembly.Module (wrangler.toml: CompiledWasm).
// Everything that touches WASM memory is in ./core.ts, shared with the Node CLI and benchmark.
import codecModule from "../../build/codec.wasm";
import { Codec, CodecError, timingSafeEqual } from "./core";
import type { Encoding, Package0, Package0Fields, SyncMLMessage, XmlElement } from "./types";

export { CodecError } from "./core";
export type * from "./types";

let instance: Codec | undefined;

function codec(): Codec {
  instance ??= new Codec(codecModule);
  return instance;
}

const CODE_DIGITS = 6;

/**
 * A fresh one-time activation code: `digits` decimal digits, uniformly distributed (rejection
 * sampling over CSPRNG words in WASM, HLF-TE-005). Zero-padded, so "004217" is a valid code.
 */
export function generateActivationCode(digits = CODE_DIGITS): string {
  return codec().generateActivationCode(digits);
}

/** Exposed for tests: the raw sampler over caller-chosen bytes, to prove the rejection bound. */
export function sampleCodeFromBytes(bytes: Uint8Array, digits = CODE_DIGITS): number {
  return codec().sampleCodeFromBytes(bytes, digits);
}

/** The codec's fixed limits: larger or deeper messages are refused with a CodecError. */
export function codecLimits(): { maxMessageBytes: number; maxDepth: number } {
  const c = codec();
  return { maxMessageBytes: c.maxMessage, maxDepth: c.maxDepth };
}

/** Bytes of WASM memory the codec holds; it is allocated once and never grows. */
export function codecMemoryBytes(): number {
  return codec().memoryBytes();
}

// ---------------------------------------------------------------------------------------------
// Messages

/** Decodes a SyncML DM 1.2 message, XML or WBXML (detected from the first byte unless given). */
export function decodeMessage(input: Uint8Array | string, options: { encoding?: Encoding } = {}): SyncMLMessage {
  return codec().decodeMessage(input, options);
}

/** Encodes a SyncML DM 1.2 message as XML or WBXML 1.3 (public id 0x1201, inline strings). */
export function encodeMessage(message: SyncMLMessage, encoding: Encoding): Uint8Array {
  return codec().encodeMessage(message, encoding);
}

/** Decodes a DevInf 1.2 document (public id 0x1203) into an element tree. */
export function decodeDevInf(input: Uint8Array | string, options: { encoding?: Encoding } = {}): XmlElement {
  return codec().decodeDevInf(input, options);
}

export function encodeDevInf(devInf: XmlElement, encoding: Encoding): Uint8Array {
  return codec().encodeDevInf(devInf, encoding);
}

/** XML -> WBXML without building a typed message (one call into the module). */
export function xmlToWbxml(xml: Uint8Array | string): Uint8Array {
  return codec().xmlToWbxml(xml);
}

/** WBXML -> XML without building a typed message (one call into the module). */
export function wbxmlToXml(wbxml: Uint8Array): Uint8Array {
  return codec().wbxmlToXml(wbxml);
}

// ---------------------------------------------------------------------------------------------
// Digests and credentials (OMA-TS-DM_Security-V1_2 §5.3, §5.4)

export function md5(data: Uint8Array | string): Uint8Array {
  return codec().md5(data);
}

/** HMAC-MD5 (RFC 2104). */
export function hmacMd5(key: Uint8Array | string, data: Uint8Array | string): Uint8Array {
  return codec().hmacMd5(key, data);
}

export function base64(data: Uint8Array | string): string {
  return codec().base64(data);
}

/** The raw nonce from a Meta/NextNonce value (base64 on the wire; the digest uses the decoded bytes). */
export function nonceFromNextNonce(nextNonce: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(nextNonce.trim());
  } catch {
    throw new CodecError(-1, "a base64 NextNonce", "nonce");
  }
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** syncml:auth-basic credential data: B64(username ":" password). */
export function basicCredential(username: string, password: string): string {
  return codec().base64(`${username}:${password}`);
}

/** Reads syncml:auth-basic credential data back into its user name and password. */
export function parseBasicCredential(data: string): { username: string; password: string } {
  const raw = nonceFromNextNonce(data);
  const text = new TextDecoder().decode(raw);
  const colon = text.indexOf(":");
  if (colon < 0) throw new CodecError(-1, "B64(username:password) in auth-basic credentials", "credential");
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** syncml:auth-md5 credential data: B64(MD5(B64(MD5(username ":" password)) ":" nonce)). */
export function authMd5Digest(username: string, password: string, nonce: Uint8Array | string): string {
  const c = codec();
  return c.base64(c.dmDigest(username, password, nonce));
}

/** Checks syncml:auth-md5 credential data in constant time. */
export function verifyAuthMd5(data: string, username: string, password: string, nonce: Uint8Array | string): boolean {
  return timingSafeEqual(new TextEncoder().encode(data.trim()), new TextEncoder().encode(authMd5Digest(username, password, nonce)));
}

/**
 * B64(MD5(name ":" secret)): all that auth-md5 and HMAC verification need of a secret, and what the
 * server keeps of a device's password (OMA-TS-DM_Security-V1_2 §5.3, §5.4).
 */
export function secretDigest(name: string, secret: string): string {
  const c = codec();
  return c.base64(c.md5(`${name}:${secret}`));
}

/** H(digest ":" nonce [":" B64(H(body))]) in base64, from {@link secretDigest}'s output instead of the secret. */
export function digestFromSecretDigest(digest: string, nonce: Uint8Array | string, body?: Uint8Array): string {
  const c = codec();
  const te = new TextEncoder();
  const n = typeof nonce === "string" ? te.encode(nonce) : nonce;
  const parts = [te.encode(`${digest}:`), n, ...(body ? [te.encode(`:${c.base64(c.md5(body))}`)] : [])];
  const all = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return c.base64(c.md5(all));
}

/** Constant-time comparison of two base64 texts (digests, MACs). */
export function digestsEqual(a: string, b: string): boolean {
  const te = new TextEncoder();
  return timingSafeEqual(te.encode(a.trim()), te.encode(b.trim()));
}

export interface HmacHeader {
  algorithm: string;
  username: string;
  mac: string;
}

/** The MAC of a message body: B64(H(B64(H(username ":" password)) ":" nonce ":" B64(H(body)))). */
export function hmacMac(username: string, password: string, nonce: Uint8Array | string, body: Uint8Array): string {
  const c = codec();
  return c.base64(c.dmDigest(username, password, nonce, body));
}

/** The value of the x-syncml-hmac HTTP header (OMA-TS-DM_Security-V1_2 §5.4.1, transport binding). */
export function hmacHeader(params: { username: string; password: string; nonce: Uint8Array | string; body: Uint8Array }): string {
  if (/["\\\r\n]/.test(params.username)) throw new CodecError(-1, "a user name without quotes, backslashes or line breaks", "argument");
  return `algorithm=MD5, username="${params.username}", mac=${hmacMac(params.username, params.password, params.nonce, params.body)}`;
}

/** Parses an x-syncml-hmac header value: comma-separated name=value pairs, values optionally quoted. */
export function parseHmacHeader(value: string): HmacHeader {
  const fields = new Map<string, string>();
  const re = /\s*([A-Za-z-]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))\s*(?:,|$)/y;
  let at = 0;
  while (at < value.length) {
    re.lastIndex = at;
    const m = re.exec(value);
    if (!m || m[0] === "") throw new CodecError(at, "name=value pairs separated by commas in x-syncml-hmac", "hmac-header");
    fields.set(m[1]!.toLowerCase(), m[2] ?? m[3] ?? "");
    at = re.lastIndex;
  }
  const username = fields.get("username");
  const mac = fields.get("mac");
  if (username === undefined || mac === undefined) throw new CodecError(-1, "username and mac in x-syncml-hmac", "hmac-header");
  return { algorithm: fields.get("algorithm") ?? "MD5", username, mac };
}

/** Verifies an x-syncml-hmac header against the body it came with (MD5 is the only algorithm DM 1.2 defines). */
export function verifyHmacHeader(value: string, params: { password: string; nonce: Uint8Array | string; body: Uint8Array }): boolean {
  const h = parseHmacHeader(value);
  if (h.algorithm.toUpperCase() !== "MD5") return false;
  const want = hmacMac(h.username, params.password, params.nonce, params.body);
  return timingSafeEqual(new TextEncoder().encode(h.mac), new TextEncoder().encode(want));
}

// ---------------------------------------------------------------------------------------------
// Package 0 (OMA-TS-DM_Notification-V1_2 §6)

/** Builds the DM notification (package 0) with its digest from the server password and nonce. */
export function encodePackage0(fields: Package0Fields, secret: { password: Uint8Array | string; nonce: Uint8Array | string }): Uint8Array {
  return codec().encodePackage0(fields, secret);
}

export function decodePackage0(pkg: Uint8Array): Package0 {
  return codec().decodePackage0(pkg);
}

export function verifyPackage0(pkg: Uint8Array, secret: { password: Uint8Array | string; nonce: Uint8Array | string }): boolean {
  return codec().verifyPackage0(pkg, secret);
}
