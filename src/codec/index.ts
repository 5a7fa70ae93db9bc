// The one place that loads the AssemblyScript module and touches its memory.
// Workers hand a .wasm import over as a compiled WebAssembly.Module; it is instantiated once per isolate.
import codecModule from "../../build/codec.wasm";

interface CodecExports {
  memory: WebAssembly.Memory;
  codeScratch(): number;
  activationCode(len: number, digits: number): number;
  CODE_SCRATCH_BYTES: WebAssembly.Global;
}

let instance: CodecExports | undefined;

function codec(): CodecExports {
  instance ??= new WebAssembly.Instance(codecModule, {
    env: {
      abort(_msg: number, _file: number, line: number, column: number): never {
        throw new Error(`codec.wasm aborted at ${line}:${column}`);
      },
    },
  }).exports as unknown as CodecExports;
  return instance;
}

const CODE_DIGITS = 6;

/**
 * A fresh one-time activation code: `digits` decimal digits, uniformly distributed (rejection
 * sampling over CSPRNG words in WASM, HLF-TE-005). Zero-padded, so "004217" is a valid code.
 */
export function generateActivationCode(digits = CODE_DIGITS): string {
  const wasm = codec();
  const scratchBytes = wasm.CODE_SCRATCH_BYTES.value as number;
  const ptr = wasm.codeScratch();
  for (;;) {
    const view = new Uint8Array(wasm.memory.buffer, ptr, scratchBytes);
    crypto.getRandomValues(view);
    const value = wasm.activationCode(scratchBytes, digits);
    if (value >= 0) {
      view.fill(0);
      return value.toString().padStart(digits, "0");
    }
    if (value === -2) throw new RangeError(`activation codes have 1 to 9 digits, not ${digits}`);
  }
}

/** Exposed for tests: the raw sampler over caller-chosen bytes, to prove the rejection bound. */
export function sampleCodeFromBytes(bytes: Uint8Array, digits = CODE_DIGITS): number {
  const wasm = codec();
  const scratchBytes = wasm.CODE_SCRATCH_BYTES.value as number;
  if (bytes.length > scratchBytes) throw new RangeError(`at most ${scratchBytes} bytes`);
  new Uint8Array(wasm.memory.buffer, wasm.codeScratch(), bytes.length).set(bytes);
  return wasm.activationCode(bytes.length, digits);
}
