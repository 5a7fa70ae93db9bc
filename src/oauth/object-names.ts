// Names of the objects that only this server creates carry a tag: client_ids and the family ids that
// prefix refresh tokens are `<prefix><16 random chars><16 chars of HMAC-SHA256(key, prefix + random)>`.
// A name without a valid tag was never issued, so it is refused before any Durable Object is called:
// a flood of random client_ids or forged refresh tokens leaves no object behind (issue 12).
// The key lives in the signing-keys object and is cached for the life of the isolate.
//
// The same key, through HKDF, seals the subscriber address a device_code routes by (sealName): RFC 8628
// §3.2 device codes are opaque, and one must not tell whoever sees it the subscriber's number.
import type { Env } from "../env";
import { base64url, constantTimeEqual, fromBase64url } from "../http/crypto";

const RANDOM_CHARS = 16; // 12 bytes
const TAG_BYTES = 12;

/** A key made from the name key, once per isolate; a failed attempt is not kept. */
function cachedKey(make: (raw: ArrayBuffer) => Promise<CryptoKey>): (env: Env) => Promise<CryptoKey> {
  let promise: Promise<CryptoKey> | undefined;
  return (env) => {
    promise ??= env.SIGNING_KEYS.getByName("signing-keys").nameKey().then(make).catch((err) => {
      promise = undefined;
      throw err;
    });
    return promise;
  };
}

const nameKey = cachedKey((raw) => crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));

/** AES-256-GCM, derived from the name key by HKDF-SHA256 (RFC 5869) with its own `info`: never the HMAC key itself. */
const sealKey = cachedKey(async (raw) => {
  const base = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode("oma-edge sealed object name v1") },
    base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"],
  );
});

const IV_BYTES = 12;

/** `name` (a subscriber address, say) sealed for this server alone: base64url of a random IV and the AES-GCM ciphertext. */
export async function sealName(env: Env, name: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await sealKey(env), new TextEncoder().encode(name)));
  const out = new Uint8Array(IV_BYTES + sealed.length);
  out.set(iv);
  out.set(sealed, IV_BYTES);
  return base64url(out);
}

/** The name sealName sealed; undefined for anything this server did not seal (or that was altered). */
export async function openName(env: Env, sealed: string): Promise<string | undefined> {
  const bytes = /^[A-Za-z0-9_-]{40,400}$/.test(sealed) ? fromBase64url(sealed) : undefined;
  if (!bytes || bytes.length <= IV_BYTES + 16) return undefined;
  try {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES) }, await sealKey(env), bytes.subarray(IV_BYTES));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(plain);
  } catch {
    return undefined;
  }
}

async function tag(env: Env, prefix: string, random: string): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await nameKey(env), new TextEncoder().encode(prefix + random));
  return base64url(new Uint8Array(mac).slice(0, TAG_BYTES));
}

/** A fresh tagged name: `prefix` + random + tag. */
export async function newObjectName(env: Env, prefix: string): Promise<string> {
  const random = base64url(crypto.getRandomValues(new Uint8Array(12)));
  return prefix + random + (await tag(env, prefix, random));
}

/**
 * Names whose tag verified, per isolate: the same client_id comes with every token request, and the
 * answer never changes (the name key is never rotated). Only names we made can enter, so the set
 * cannot be filled by strangers; it is bounded all the same.
 */
const verifiedNames = new Set<string>();
const VERIFIED_NAMES_MAX = 4096;

/** Whether `name` is one this server made with `prefix` (checked without calling the object). */
export async function isObjectName(env: Env, prefix: string, name: string): Promise<boolean> {
  if (name.length !== prefix.length + RANDOM_CHARS + 16 || !name.startsWith(prefix) || !/^[A-Za-z0-9_-]+$/.test(name.slice(prefix.length))) return false;
  if (verifiedNames.has(name)) return true;
  const random = name.slice(prefix.length, prefix.length + RANDOM_CHARS);
  const ours = constantTimeEqual(await tag(env, prefix, random), name.slice(prefix.length + RANDOM_CHARS));
  if (ours) {
    if (verifiedNames.size >= VERIFIED_NAMES_MAX) verifiedNames.delete(verifiedNames.values().next().value!);
    verifiedNames.add(name);
  }
  return ours;
}

export const CLIENT_ID_PREFIX = "client-";
export const FAMILY_ID_PREFIX = "rt-";

/** A new client_id for a registration. */
export const newClientId = (env: Env) => newObjectName(env, CLIENT_ID_PREFIX);
/** Whether `clientId` names a client this server registered (it may since have been deleted). */
export const isIssuedClientId = (env: Env, clientId: string) => isObjectName(env, CLIENT_ID_PREFIX, clientId);

/**
 * How many read replicas of a client's credential the token endpoint spreads client authentication
 * over (credential-replica.ts): one object receiving every token request of a client is the
 * endpoint's ceiling (issue 13), N objects of the same class share it.
 */
export const CLIENT_REPLICAS = 16;
/**
 * The object name of replica `index` of `clientId`. It contains "/", which no client_id has (the
 * base64url of newObjectName; CLIENT_ID in client-auth.ts refuses it), so a replica is never
 * mistaken for a client and no client can be registered under a replica's name.
 */
export const clientReplicaName = (clientId: string, index: number) => `${clientId}/replica/${index}`;
/** Every replica name of `clientId`, in index order. */
export const clientReplicaNames = (clientId: string) => Array.from({ length: CLIENT_REPLICAS }, (_, i) => clientReplicaName(clientId, i));

/** A new refresh-token family id. */
export const newFamilyId = (env: Env) => newObjectName(env, FAMILY_ID_PREFIX);

const REFRESH_TOKEN = /^(rt-[A-Za-z0-9_-]{32})\.[A-Za-z0-9_-]{43}$/;
/** Whether `token` has the shape of one of our refresh tokens (so it is not an access token). */
export const looksLikeRefreshToken = (token: string) => REFRESH_TOKEN.test(token);
/** The family of a refresh token this server issued; undefined for anything else. */
export async function familyOf(env: Env, refreshToken: string): Promise<string | undefined> {
  const id = refreshToken.match(REFRESH_TOKEN)?.[1];
  return id && (await isObjectName(env, FAMILY_ID_PREFIX, id)) ? id : undefined;
}
