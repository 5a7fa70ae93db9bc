// One-time activation codes of the Twinning API (HLF-TE-005).
// The caller fills the scratch buffer with CSPRNG bytes; each 4-byte little-endian word is one
// candidate. Rejection sampling keeps every code equally likely: words at or above the largest
// multiple of 10^digits that fits in 2^32 are skipped instead of being folded in by modulo.

export const CODE_SCRATCH_BYTES: i32 = 64;
const scratch: usize = memory.data(CODE_SCRATCH_BYTES);

/** Address of the buffer the host writes random bytes into. */
export function codeScratch(): usize {
  return scratch;
}

/**
 * Returns a uniformly distributed code in [0, 10^digits) drawn from the first `len` bytes of the
 * scratch buffer, or -1 when every candidate was rejected (the host then supplies fresh bytes).
 */
export function activationCode(len: i32, digits: i32): i32 {
  if (digits < 1 || digits > 9 || len < 4 || len > CODE_SCRATCH_BYTES) return -2;
  let modulus: u64 = 1;
  for (let i = 0; i < digits; i++) modulus *= 10;
  const limit: u64 = (<u64>0x100000000) - ((<u64>0x100000000) % modulus);
  for (let off = 0; off + 4 <= len; off += 4) {
    const word = <u64>load<u32>(scratch + <usize>off);
    if (word < limit) return <i32>(word % modulus);
  }
  return -1;
}
