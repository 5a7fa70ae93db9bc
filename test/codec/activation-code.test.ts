import { describe, expect, it } from "vitest";
import { generateActivationCode, sampleCodeFromBytes } from "../../src/codec";

const le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

describe("HLF-TE-005: activation codes from the WASM module", () => {
  it("are six decimal digits, zero-padded", () => {
    for (let i = 0; i < 2000; i++) expect(generateActivationCode()).toMatch(/^[0-9]{6}$/);
    expect(sampleCodeFromBytes(new Uint8Array(le(4217)))).toBe(4217);
  });

  it("reject words at or above the largest multiple of 10^6 below 2^32 instead of folding them in (no modulo bias)", () => {
    const limit = 4_294_000_000; // 2^32 - (2^32 mod 10^6)
    expect(sampleCodeFromBytes(new Uint8Array(le(limit - 1)))).toBe(999_999);
    expect(sampleCodeFromBytes(new Uint8Array(le(limit)))).toBe(-1);
    expect(sampleCodeFromBytes(new Uint8Array(le(0xffffffff)))).toBe(-1);
    // the next candidate is used when the first is rejected
    expect(sampleCodeFromBytes(new Uint8Array([...le(limit), ...le(1_000_123)]))).toBe(123);
  });

  it("are spread evenly over the digits (chi-square over the leading digit)", () => {
    const counts = new Array(10).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[Number(generateActivationCode()[0])]++;
    const chi = counts.reduce((sum, c) => sum + (c - n / 10) ** 2 / (n / 10), 0);
    expect(chi).toBeLessThan(27.88); // p = 0.001 for 9 degrees of freedom
  });

  it("are unpredictable: 2000 draws give (almost) no repeats", () => {
    const seen = new Set(Array.from({ length: 2000 }, () => generateActivationCode()));
    expect(seen.size).toBeGreaterThan(1990);
  });
});
