// The tape: the flat event list between the parsers and the writers (and the host's typed model).
// One record is two u32 words; see K_* in layout.ts.
import { TAPE, TAPE_RECORDS, TEXT, TEXT_CAP, fail, E_TAPE, E_TEXT_CAP } from "./layout";

export let tapeCount: i32 = 0;
export let textFill: i32 = 0;

export function resetTape(): void {
  tapeCount = 0;
  textFill = 0;
}

export function setTapeCount(n: i32): void {
  tapeCount = n;
}

export function setTextFill(n: i32): void {
  textFill = n;
}

/** Appends a record; -1 (with E_TAPE) when the tape is full. */
// @ts-ignore: decorator
@inline export function emit(w0: u32, w1: u32, at: usize): i32 {
  if (tapeCount >= TAPE_RECORDS) return fail(E_TAPE, at, TAPE_RECORDS);
  const r = TAPE + (<usize>tapeCount << 3);
  store<u32>(r, w0);
  store<u32>(r, w1, 4);
  tapeCount++;
  return 0;
}

// @ts-ignore: decorator
@inline export function w0At(i: i32): u32 {
  return load<u32>(TAPE + (<usize>i << 3));
}

// @ts-ignore: decorator
@inline export function w1At(i: i32): u32 {
  return load<u32>(TAPE + (<usize>i << 3), 4);
}

// @ts-ignore: decorator
@inline export function kindOf(w0: u32): u32 {
  return w0 >> 28;
}

export function lastKind(): u32 {
  return tapeCount == 0 ? 0 : w0At(tapeCount - 1) >> 28;
}

/** Reserves `len` bytes of decoded text; 0 when the text area is full. */
export function textAlloc(len: i32, at: usize): usize {
  if (textFill + len > TEXT_CAP) {
    fail(E_TEXT_CAP, at, TEXT_CAP);
    return 0;
  }
  const p = TEXT + <usize>textFill;
  textFill += len;
  return p;
}

export function textPos(): usize {
  return TEXT + <usize>textFill;
}

export function textEnd(): usize {
  return TEXT + <usize>TEXT_CAP;
}
