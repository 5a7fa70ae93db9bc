// Known-answer tests for the digests in codec.wasm: MD5 (RFC 1321 §A.5), HMAC-MD5 (RFC 2202 §2),
// the SyncML DM credential formulas (OMA-TS-DM_Security-V1_2 §5) and package 0 bytes.
import { describe, expect, it } from "vitest";
import {
  authMd5Digest, base64, basicCredential, decodePackage0, encodePackage0, hmacHeader, hmacMac, hmacMd5, md5,
  nonceFromNextNonce, parseBasicCredential, parseHmacHeader, verifyAuthMd5, verifyHmacHeader, verifyPackage0, CodecError,
} from "../../src/codec";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g)!, (h) => parseInt(h, 16));
const ascii = (s: string) => new TextEncoder().encode(s);

describe("MD5 (RFC 1321 test suite)", () => {
  it.each([
    ["", "d41d8cd98f00b204e9800998ecf8427e"],
    ["a", "0cc175b9c0f1b6a831c399e269772661"],
    ["abc", "900150983cd24fb0d6963f7d28e17f72"],
    ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
    ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
    ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"],
    ["12345678901234567890123456789012345678901234567890123456789012345678901234567890", "57edf4a22be3c955ac49da2e2107b67a"],
  ])("MD5(%j) = %s", (input, digest) => {
    expect(hex(md5(input))).toBe(digest);
  });

  it("pads at every length around the 56- and 64-byte block boundaries", () => {
    // the same digest whether the bytes come as a string or an array; lengths 0..130 hit every padding case
    const known: Record<number, string> = { 55: "ef1772b6dff9a122358552954ad0df65", 56: "3b0c8ac703f828b04c6c197006d17218", 64: "014842d480b571495a4a0363793f7367" };
    for (let n = 0; n <= 130; n++) {
      const s = "a".repeat(n);
      expect(md5(ascii(s))).toEqual(md5(s));
      if (known[n]) expect(hex(md5(s))).toBe(known[n]);
    }
  });
});

describe("HMAC-MD5 (RFC 2202 test cases)", () => {
  const rep = (b: number, n: number) => new Uint8Array(n).fill(b);
  it.each([
    [1, rep(0x0b, 16), ascii("Hi There"), "9294727a3638bb1c13f48ef8158bfc9d"],
    [2, ascii("Jefe"), ascii("what do ya want for nothing?"), "750c783e6ab0b503eaa86e310a5db738"],
    [3, rep(0xaa, 16), rep(0xdd, 50), "56be34521d144c88dbb8c733f0e8b3f6"],
    [4, unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), rep(0xcd, 50), "697eaf0aca3a3aea3a75164746ffaa79"],
    [5, rep(0x0c, 16), ascii("Test With Truncation"), "56461ef2342edc00f9bab995690efd4c"],
    [6, rep(0xaa, 80), ascii("Test Using Larger Than Block-Size Key - Hash Key First"), "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"],
    [7, rep(0xaa, 80), ascii("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data"), "6f630fad67cda0ee1fb1f562db3aa53e"],
  ])("test case %i", (_n, key, data, mac) => {
    expect(hex(hmacMd5(key, data))).toBe(mac);
  });
});

describe("SyncML DM credentials (OMA-TS-DM_Security-V1_2 §5.3)", () => {
  it("computes syncml:auth-md5 as B64(MD5(B64(MD5(name:password)):nonce)), the published Bruce2/OhBehave example", () => {
    expect(authMd5Digest("Bruce2", "OhBehave", "Nonce")).toBe("Zz6EivR3yeaaENcRN6lpAQ==");
    expect(verifyAuthMd5("Zz6EivR3yeaaENcRN6lpAQ==", "Bruce2", "OhBehave", "Nonce")).toBe(true);
    expect(verifyAuthMd5("Zz6EivR3yeaaENcRN6lpAQ==", "Bruce2", "OhBehave", "nonce")).toBe(false);
  });

  it("uses the raw, base64-decoded NextNonce as the nonce", () => {
    const raw = nonceFromNextNonce(base64(unhex("00ff10e3")));
    expect(hex(raw)).toBe("00ff10e3");
    expect(authMd5Digest("dev", "secret", raw)).not.toBe(authMd5Digest("dev", "secret", base64(raw)));
    expect(() => nonceFromNextNonce("!!not base64")).toThrow(CodecError);
  });

  it("builds and reads syncml:auth-basic as B64(name:password)", () => {
    expect(basicCredential("Bruce2", "OhBehave")).toBe("QnJ1Y2UyOk9oQmVoYXZl");
    expect(parseBasicCredential("QnJ1Y2UyOk9oQmVoYXZl")).toEqual({ username: "Bruce2", password: "OhBehave" });
    expect(parseBasicCredential(basicCredential("ü:x", "p:w"))).toEqual({ username: "ü", password: "x:p:w" });
  });

  it("computes the x-syncml-hmac MAC over the body: B64(H(B64(H(name:password)):nonce:B64(H(body))))", () => {
    const body = ascii("<SyncML>...</SyncML>");
    // the expected value was computed with Node's crypto (an independent MD5)
    expect(hmacMac("user", "pass", "nonce", body)).toBe("m+ULO+qvPUfN4rTB1BVOQA==");
    const header = hmacHeader({ username: "user", password: "pass", nonce: "nonce", body });
    expect(header).toBe('algorithm=MD5, username="user", mac=m+ULO+qvPUfN4rTB1BVOQA==');
    expect(parseHmacHeader(header)).toEqual({ algorithm: "MD5", username: "user", mac: "m+ULO+qvPUfN4rTB1BVOQA==" });
    expect(verifyHmacHeader(header, { password: "pass", nonce: "nonce", body })).toBe(true);
    expect(verifyHmacHeader(header, { password: "pass", nonce: "nonce", body: ascii("<SyncML>..!</SyncML>") })).toBe(false);
    expect(verifyHmacHeader("algorithm=SHA1, username=user, mac=m+ULO+qvPUfN4rTB1BVOQA==", { password: "pass", nonce: "nonce", body })).toBe(false);
  });

  it("refuses malformed x-syncml-hmac headers with a typed error", () => {
    expect(() => parseHmacHeader('algorithm=MD5, username="user"')).toThrow(CodecError);
    expect(() => parseHmacHeader("garbage without pairs")).toThrow(CodecError);
    expect(() => hmacHeader({ username: 'a"b', password: "p", nonce: "n", body: ascii("") })).toThrow(CodecError);
  });
});

describe("package 0, the DM notification (OMA-TS-DM_Notification-V1_2 §6)", () => {
  const fields = { version: 12, uiMode: "user-interaction", initiator: "server", sessionId: 0x1234, serverId: "com.example.dm", vendor: ascii("vendor-data") } as const;
  const secret = { password: "srvpwd", nonce: unhex("7f3e9a01c2d45b66") };
  // digest and layout computed independently (Node crypto, hand-packed bits)
  const known = "1063394ec1c3b4e98435ac795ff3d39c" + "0338000000" + "1234" + "0e" + hex(ascii("com.example.dm")) + hex(ascii("vendor-data"));

  it("encodes digest, version, ui-mode, initiator, session id, server identifier and vendor body", () => {
    expect(hex(encodePackage0(fields, secret))).toBe(known);
  });

  it("decodes every field back and verifies the digest", () => {
    const p = decodePackage0(unhex(known));
    expect(p).toEqual({ ...fields, digest: unhex("1063394ec1c3b4e98435ac795ff3d39c"), futureUse: 0 });
    expect(verifyPackage0(unhex(known), secret)).toBe(true);
    expect(verifyPackage0(unhex(known), { ...secret, password: "other" })).toBe(false);
    const tampered = unhex(known);
    tampered.set([tampered[tampered.length - 1]! ^ 1], tampered.length - 1);
    expect(verifyPackage0(tampered, secret)).toBe(false);
  });

  it("encodes the other ui-modes and a client initiator in their bit positions", () => {
    const p = encodePackage0({ uiMode: "background", initiator: "client", sessionId: 0, serverId: "s" }, secret);
    expect(hex(p.subarray(16, 24))).toBe("0310000000" + "0000" + "01");
    expect(decodePackage0(p)).toMatchObject({ version: 12, uiMode: "background", initiator: "client", sessionId: 0, serverId: "s", vendor: new Uint8Array(0) });
    expect(decodePackage0(encodePackage0({ uiMode: "informative", initiator: "server", sessionId: 65535, serverId: "s" }, secret)).uiMode).toBe("informative");
  });

  it("refuses truncated packages and out-of-range fields with a typed error", () => {
    expect(() => decodePackage0(unhex(known).subarray(0, 23))).toThrow(CodecError);
    expect(() => decodePackage0(unhex(known).subarray(0, 30))).toThrow(/at least 38 bytes/);
    expect(() => encodePackage0({ ...fields, sessionId: 70000 }, secret)).toThrow(CodecError);
    expect(() => encodePackage0({ ...fields, serverId: "x".repeat(256) }, secret)).toThrow(CodecError);
    expect(() => encodePackage0({ ...fields, version: 1024 }, secret)).toThrow(CodecError);
  });
});
