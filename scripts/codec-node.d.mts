// Types of scripts/codec-node.mjs for the Node-side tests (test/e2e), structural so that the
// Node type check does not need the Worker's WebAssembly typings of src/codec/core.ts.
export interface NodeCodec {
  xmlToWbxml(xml: Uint8Array | string): Uint8Array;
  wbxmlToXml(wbxml: Uint8Array): Uint8Array;
  transcode(input: Uint8Array | string, to: "xml" | "wbxml"): Uint8Array;
  decodeMessage(input: Uint8Array | string, options?: { encoding?: "xml" | "wbxml" }): unknown;
  encodeMessage(message: unknown, encoding: "xml" | "wbxml"): Uint8Array;
  decodePackage0(pkg: Uint8Array): Record<string, unknown>;
}
export declare const wasmPath: string;
export declare function loadCodec(): Promise<{ codec: NodeCodec; CodecError: new (...args: never[]) => Error & { offset: number; expected: string } }>;
