// Fuzzing the WBXML reader: 50,000 mutated WBXML messages (libwbxml's encodings of the corpus, with
// and without string tables); with fuzz-xml, 100,000 inputs per CI run.
import { describe, expect, it } from "vitest";
import { corpus } from "./corpus";
import { fuzz } from "./fuzz";

const seeds = corpus.flatMap((d) => (d.libWbxmlStrtbl ? [d.libWbxml, d.libWbxmlStrtbl] : [d.libWbxml]));

describe("mutated WBXML messages", () => {
  it.each([1, 2, 3, 4, 5])("decode or fail with a CodecError, and never grow memory (batch %i of 10,000)", (batch) => {
    const stats = fuzz(seeds, 10_000, 0x1203 * batch, false);
    expect(stats.inputs).toBe(10_000);
    expect(stats.refused).toBeGreaterThan(0);
  });
});
