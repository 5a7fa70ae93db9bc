// On Node the codec module is read from build/ (in the Worker, wrangler hands it over compiled).
import { readFileSync } from "node:fs";

export default new WebAssembly.Module(readFileSync(new URL("../../../build/codec.wasm", import.meta.url)));
