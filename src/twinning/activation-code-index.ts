// How the twinning core reaches the activation-code index (HLF-TE-005): a code lives in one of
// CODE_BUCKETS objects of ActivationCodeObject, chosen by the SHA-256 of the code, which is also all
// the bucket stores of it (activation-code-bucket.ts). Callers hash once and hand the bucket the hash.
//
// Why 64 buckets: a Durable Object serves some hundreds to a thousand small requests a second.
// Activations are rare (a person twins a watch now and then), code requests are limited to 10 a
// minute per secondary, and guesses to 5 failures per primary per 15 minutes and 1,000 per 10 s
// across all primaries (wrangler.toml): even that whole guess budget is under 2 requests a second
// per bucket. 64 buckets leave two orders of magnitude for bursts of real activations, while few
// enough buckets stay warm (in memory, schema read once) and each sees enough writes for its inline
// purge of expired rows to keep it small. The count is part of where a code lives: changing it
// moves live codes, so it changes only with a fallback to the old count for a TTL, as below.
//
// Placement: codes hold no per-MNO placement (README, "Data residency"), as before the buckets; a
// jurisdiction for them would need one bucket set per jurisdiction, named by it.
//
// The previous scheme (one object per code, named by the code; activation-code-legacy.ts): a miss
// in the bucket falls back to the object named by the code, for codes issued before this version was
// deployed. REMOVE the fallbacks (marked LEGACY) once the previous version has been gone for
// ACTIVATION_CODE_TTL_SECONDS plus an hour.
import type { Env } from "../env";
import type { IssuedCode, Redemption } from "./activation-code-bucket";

export const CODE_BUCKETS = 64;

const BUCKET_PREFIX = "bucket:";

export const bucketName = (n: number): string => `${BUCKET_PREFIX}${n}`;
export const isBucketName = (name: string): boolean => name.startsWith(BUCKET_PREFIX);

export interface CodeKey {
  /** SHA-256 of the code, hex: what the bucket stores. */
  hash: string;
  /** The bucket's object name. */
  bucket: string;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The hash of a code and the bucket it lives in. */
export async function codeKey(code: string): Promise<CodeKey> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(code)));
  let hash = "";
  for (const b of digest) hash += HEX[b];
  // 65,536 is a multiple of CODE_BUCKETS: every bucket gets the same share of hashes.
  return { hash, bucket: bucketName(((digest[0]! << 8) | digest[1]!) % CODE_BUCKETS) };
}

const bucketOf = (env: Env, key: CodeKey) => env.ACTIVATION_CODES.getByName(key.bucket);

/** Binds `code` to the secondary unless another live code has the same hash. False on collision: draw another code. */
export async function issueCode(env: Env, code: string, issued: IssuedCode): Promise<boolean> {
  const key = await codeKey(code);
  return bucketOf(env, key).issueInBucket(key.hash, issued);
}

/** The bucket's answer alone (no fallback): for an object of the previous scheme that forwards its own code. */
export async function redeemInBucket(env: Env, code: string, primary: string): Promise<Redemption> {
  const key = await codeKey(code);
  return bucketOf(env, key).redeemInBucket(key.hash, primary);
}

export async function revokeInBucket(env: Env, code: string, secondary: string): Promise<boolean> {
  const key = await codeKey(code);
  return bucketOf(env, key).revokeInBucket(key.hash, secondary);
}

/**
 * Spends `code` for `primary` (one-time: of any number of primaries presenting it at once, exactly
 * one gets the secondary). Self-twinning is refused without spending it.
 */
export async function redeemCode(env: Env, code: string, primary: string): Promise<Redemption> {
  const redemption = await redeemInBucket(env, code, primary);
  if (redemption.outcome !== "invalid") return redemption;
  // LEGACY: a code issued by the previous version lives in the object named by it.
  return env.ACTIVATION_CODES.getByName(code).redeemLegacy(primary);
}

/** Revokes `code` if `secondary` still holds it (a newer code replaced it, or it became a primary). */
export async function revokeCode(env: Env, code: string, secondary: string): Promise<void> {
  if (await revokeInBucket(env, code, secondary)) return;
  // LEGACY: as in redeemCode.
  await env.ACTIVATION_CODES.getByName(code).revokeLegacy(secondary);
}
