// Security of the SyncML DM session (OMA-TS-DM_Security-V1_2 §5): the device's credentials checked
// against what the server keeps of its secret, the server's own credentials in the form the device
// challenges for, failed attempts counted per device with a lock-out, the server's secret sealed at
// rest, and the per-session secret that makes a RespURI unguessable.
import {
  base64,
  basicCredential,
  digestFromSecretDigest,
  digestsEqual,
  parseBasicCredential,
  parseHmacHeader,
  secretDigest,
  type Cred,
} from "../codec";

export type AuthType = "syncml:auth-basic" | "syncml:auth-md5" | "syncml:auth-MAC";
export const AUTH_TYPES: readonly AuthType[] = ["syncml:auth-basic", "syncml:auth-md5", "syncml:auth-MAC"];

/** What verification needs of the device's account: never its password, only B64(MD5(name:secret)). */
export interface ClientAuth {
  authType: AuthType;
  username: string;
  /** B64(MD5(username ":" password)). */
  digest: string;
  /** The nonce of the server's last Chal (raw), and the one before it. */
  nonce: Uint8Array;
  previousNonce?: Uint8Array;
}

/**
 * "ok"; "missing" (407: no credentials); "wrong" (401, counted as a failed guess); "stale" (401, but
 * the credentials are right for the nonce before the current one: a device that missed our last
 * Chal, not a guess, so it is not counted).
 */
export type Verdict = "ok" | "missing" | "wrong" | "stale";

export function verifyClient(a: ClientAuth, m: { cred?: Cred; hmac?: string; body: Uint8Array }): Verdict {
  if (a.authType === "syncml:auth-MAC") {
    if (!m.hmac) return "missing";
    try {
      const h = parseHmacHeader(m.hmac);
      if (h.username !== a.username || h.algorithm.toUpperCase() !== "MD5") return "wrong";
      if (digestsEqual(h.mac, digestFromSecretDigest(a.digest, a.nonce, m.body))) return "ok";
      return a.previousNonce && digestsEqual(h.mac, digestFromSecretDigest(a.digest, a.previousNonce, m.body)) ? "stale" : "wrong";
    } catch {
      return "wrong";
    }
  }
  const cred = m.cred;
  if (!cred) return "missing";
  const type = cred.meta?.type ?? "syncml:auth-basic";
  if (type !== a.authType) return "wrong";
  if (type === "syncml:auth-basic") {
    try {
      const { username, password } = parseBasicCredential(cred.data);
      return username === a.username && digestsEqual(secretDigest(username, password), a.digest) ? "ok" : "wrong";
    } catch {
      return "wrong";
    }
  }
  if (digestsEqual(cred.data, digestFromSecretDigest(a.digest, a.nonce))) return "ok";
  return a.previousNonce && digestsEqual(cred.data, digestFromSecretDigest(a.digest, a.previousNonce)) ? "stale" : "wrong";
}

/** The server's identity towards the device. */
export interface ServerAuth {
  serverId: string;
  /** The server's password, opened from its sealed form (basic credentials need it whole). */
  password: string;
  /** What the device asked for in its last Chal (md5 until it says otherwise). */
  type: AuthType;
  /** The nonce the device last gave the server (raw). */
  nonce: Uint8Array;
}

/** SyncHdr Cred of the type the device challenges for; undefined for MAC (a response header carries it). */
export function serverCred(s: ServerAuth): Cred | undefined {
  if (s.type === "syncml:auth-MAC") return undefined;
  if (s.type === "syncml:auth-basic") return { meta: { type: "syncml:auth-basic", format: "b64" }, data: basicCredential(s.serverId, s.password) };
  return { meta: { type: "syncml:auth-md5", format: "b64" }, data: digestFromSecretDigest(secretDigest(s.serverId, s.password), s.nonce) };
}

/** The x-syncml-hmac response header over `body` (§5.4.1 transport binding). */
export function serverHmac(s: ServerAuth, body: Uint8Array): string {
  return `algorithm=MD5, username="${s.serverId}", mac=${digestFromSecretDigest(secretDigest(s.serverId, s.password), s.nonce, body)}`;
}

export const randomNonce = (): string => base64(crypto.getRandomValues(new Uint8Array(16)));

// ------------------------------------------------------------------ failed attempts, per device

export interface LockoutPolicy {
  /** Failed guesses in one window that lock the device out. */
  maxFailures: number;
  windowMs: number;
  /** How long a lock-out lasts. */
  lockMs: number;
}

export const DEFAULT_LOCKOUT: LockoutPolicy = { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 15 * 60_000 };

export interface FailureState {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

export const isLocked = (f: FailureState, now: number): boolean => f.lockedUntil > now;

/** One more failed guess; `lockedNow` is true for the guess that starts a lock-out (the operator alert). */
export function registerFailure(f: FailureState, now: number, p: LockoutPolicy): { state: FailureState; lockedNow: boolean } {
  const fresh = now - f.windowStart > p.windowMs;
  const failures = (fresh ? 0 : f.failures) + 1;
  const state: FailureState = { failures, windowStart: fresh ? now : f.windowStart, lockedUntil: f.lockedUntil };
  if (failures >= p.maxFailures && !isLocked(f, now)) {
    state.lockedUntil = now + p.lockMs;
    return { state, lockedNow: true };
  }
  return { state, lockedNow: false };
}

// ------------------------------------------------------------------ the server's secret at rest

const SEAL_INFO = new TextEncoder().encode("oma-edge dm server secret v1");

/**
 * The AES-GCM key that seals server secrets, derived (HKDF-SHA-256) from the DM_SECRET_KEY Worker
 * secret, so any long random string serves as the setting.
 */
export async function sealingKey(setting: string): Promise<CryptoKey> {
  if (setting.length < 16) throw new Error("DM_SECRET_KEY must be at least 16 characters");
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(setting), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: SEAL_INFO }, base, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
}

const b64 = (u: Uint8Array) => btoa(String.fromCharCode(...u));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** "v1.<iv>.<ciphertext>"; the device id is bound in as associated data (a row copied to another device does not open). */
export async function sealSecret(key: CryptoKey, secret: string, devId: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new TextEncoder().encode(devId) }, key, new TextEncoder().encode(secret)));
  return `v1.${b64(iv)}.${b64(ct)}`;
}

export async function openSecret(key: CryptoKey, sealed: string, devId: string): Promise<string> {
  const [v, iv, ct] = sealed.split(".");
  if (v !== "v1" || !iv || !ct) throw new Error("a sealed DM server secret of an unknown form");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(iv), additionalData: new TextEncoder().encode(devId) }, key, unb64(ct));
  return new TextDecoder().decode(plain);
}

// ------------------------------------------------------------------ the RespURI secret

/** 256 random bits, base64url: the last path segment of a session's RespURI. */
export function newSessionSecret(): string {
  return b64(crypto.getRandomValues(new Uint8Array(32))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** What the object keeps of a session secret (hex SHA-256); the job model's session key is built from it. */
export async function sessionSecretHash(secret: string): Promise<string> {
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret)));
  return [...h].map((x) => x.toString(16).padStart(2, "0")).join("");
}
