// The gateway's WASM module. Only src/codec/ loads it.
export { codeScratch, activationCode, CODE_SCRATCH_BYTES } from "./activation-code";
