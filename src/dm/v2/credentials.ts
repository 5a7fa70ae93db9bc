// What a DM account keeps of its password, and the HTTP authentication schemes built on it:
// Basic (RFC 7617) checked against a PBKDF2-SHA-256 hash, Digest (RFC 7616, SHA-256, qop=auth)
// checked against the stored HA1. The password itself is never stored.

/** The Digest protection space; HA1 depends on it, so changing it invalidates every stored HA1. */
export const REALM = "oma-edge DM";
/** The Workers runtime allows at most 100 000 PBKDF2 iterations; use all of them. */
export const PBKDF2_ITERATIONS = 100_000;

const enc = new TextEncoder();
const hex = (b: ArrayBuffer | Uint8Array) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", enc.encode(text)));
}

export interface StoredSecret {
  /** "pbkdf2-sha256$<iterations>$<salt b64>$<hash b64>" */
  basic: string;
  /** hex SHA-256(username ":" realm ":" password) */
  digestHa1: string;
}

async function pbkdf2(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", enc.encode(password), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256));
}

export async function hashSecret(username: string, password: string): Promise<StoredSecret> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await pbkdf2(password, salt, PBKDF2_ITERATIONS);
  return { basic: `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${b64(salt)}$${b64(hash)}`, digestHa1: await sha256Hex(`${username}:${REALM}:${password}`) };
}

export async function verifyBasicSecret(stored: string, password: string): Promise<boolean> {
  const [scheme, iter, salt, hash] = stored.split("$");
  if (scheme !== "pbkdf2-sha256" || !iter || !salt || !hash) return false;
  const got = await pbkdf2(password, unb64(salt), Number(iter));
  const want = unb64(hash);
  return got.length === want.length && crypto.subtle.timingSafeEqual(got, want);
}

/** RFC 7616 §3.4.1 with qop=auth: KD(HA1, nonce:nc:cnonce:qop:H(method:uri)). */
export async function digestResponse(ha1: string, p: { nonce: string; nc: string; cnonce: string; qop: string; method: string; uri: string }): Promise<string> {
  const ha2 = await sha256Hex(`${p.method}:${p.uri}`);
  return sha256Hex(`${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
}

export function timingSafeHexEqual(a: string, b: string): boolean {
  const [x, y] = [enc.encode(a.toLowerCase()), enc.encode(b.toLowerCase())];
  return x.length === y.length && crypto.subtle.timingSafeEqual(x, y);
}

export type Credentials =
  | { scheme: "basic"; username: string; password: string }
  | { scheme: "digest"; username: string; realm: string; nonce: string; uri: string; response: string; qop: string; nc: string; cnonce: string; algorithm: string; opaque?: string }
  | { scheme: "invalid"; why: string };

/** auth-param list of RFC 9110 §11.2: token=token or token="quoted string", comma separated. */
function authParams(s: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]+))\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < s.length && (m = re.exec(s))) {
    out[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!;
    pos = re.lastIndex;
  }
  return pos >= s.trim().length || s.slice(pos).trim() === "" ? out : undefined;
}

/** The Authorization header of a request, parsed; undefined when there is none. */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const sp = header.indexOf(" ");
  const scheme = (sp < 0 ? header : header.slice(0, sp)).toLowerCase();
  const rest = sp < 0 ? "" : header.slice(sp + 1).trim();
  if (scheme === "basic") {
    let decoded: string;
    try {
      decoded = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(unb64(rest));
    } catch {
      return { scheme: "invalid", why: "Basic credentials are not base64 of UTF-8" };
    }
    const colon = decoded.indexOf(":");
    if (colon < 0) return { scheme: "invalid", why: "Basic credentials without user-id:password" };
    return { scheme: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (scheme === "digest") {
    const p = authParams(rest);
    if (!p) return { scheme: "invalid", why: "malformed Digest parameters" };
    for (const k of ["username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce"]) if (!p[k]) return { scheme: "invalid", why: `Digest ${k} missing` };
    return {
      scheme: "digest", username: p.username!, realm: p.realm!, nonce: p.nonce!, uri: p.uri!, response: p.response!, qop: p.qop!, nc: p.nc!, cnonce: p.cnonce!,
      algorithm: p.algorithm ?? "MD5", ...(p.opaque !== undefined ? { opaque: p.opaque } : {}),
    };
  }
  return { scheme: "invalid", why: `unsupported scheme ${scheme}` };
}

/** The two challenges of a 401 (RFC 7616 §3.3, RFC 7617 §2); a browser shows its login dialog for them. */
export function challenges(nonce: string, opaque: string, stale = false): string[] {
  return [
    `Digest realm="${REALM}", qop="auth", algorithm=SHA-256, nonce="${nonce}", opaque="${opaque}", charset=UTF-8${stale ? ", stale=true" : ""}`,
    `Basic realm="${REALM}", charset="UTF-8"`,
  ];
}

/**
 * A Digest nonce: base64url of the issue time (8 bytes, ms) and 128 random bits. It needs no
 * server-side state to issue (the first request of a browser names no account yet); the client's
 * response binds it, and the account accepts each (nonce, nc) once while it is fresh.
 */
export function newNonce(now = Date.now()): string {
  const b = new Uint8Array(24);
  new DataView(b.buffer).setBigUint64(0, BigInt(now));
  crypto.getRandomValues(b.subarray(8));
  return b64(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** When a nonce of {@link newNonce} was issued; undefined for anything else. */
export function nonceIssuedAt(nonce: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{32}$/.test(nonce)) return undefined;
  const b = unb64(nonce.replace(/-/g, "+").replace(/_/g, "/"));
  return Number(new DataView(b.buffer).getBigUint64(0));
}
