// Fuzzing the XML reader: 50,000 mutated corpus documents (with fuzz-wbxml, 100,000 per CI run).
import { describe, expect, it } from "vitest";
import { corpus } from "./corpus";
import { fuzz } from "./fuzz";

const seeds = corpus.map((d) => new TextEncoder().encode(d.xml));

describe("mutated XML messages", () => {
  it.each([1, 2, 3, 4, 5])("decode or fail with a CodecError, and never grow memory (batch %i of 10,000)", (batch) => {
    const stats = fuzz(seeds, 10_000, 0x1201 * batch, true);
    expect(stats.inputs).toBe(10_000);
    expect(stats.refused).toBeGreaterThan(0);
  });
});
