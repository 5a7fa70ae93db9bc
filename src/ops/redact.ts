// What a log line may carry: never a credential, a secret or a capability. Used by every line src/ops writes.

/** Field names whose values are credentials or secrets wherever they appear. */
const SECRET_KEY = /authorization|token|secret|password|passwd|assertion|api[-_]?key|device[-_]?key|code_verifier|^code$|activationcode|user_code|device_code|cookie|signature|hmac|nonce/i;

/** A Notification Channel's channelURL / callbackURL: the 22-character id is the capability. */
const CHANNEL_CAPABILITY = /(\/channels\/)[A-Za-z0-9_-]{22}(?=\/|$)/g;
const BEARER = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
/** Anything JWT-shaped (three base64url parts), wherever it turns up in free text. */
const JWT = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;

export const REDACTED = "[redacted]";

/** A URL path as it may be logged: channel capabilities cut out, the query string dropped (it can carry tokens). */
export function redactPath(pathOrUrl: string): string {
  let path = pathOrUrl;
  try {
    if (/^[a-z]+:\/\//i.test(pathOrUrl)) {
      const u = new URL(pathOrUrl);
      path = `${u.origin}${u.pathname}`;
    }
  } catch {
    // not a URL: treated as a path
  }
  return redactText(path.split("?")[0]!).replace(CHANNEL_CAPABILITY, `$1${REDACTED}`);
}

export function redactText(text: string): string {
  return text.replace(BEARER, `$1 ${REDACTED}`).replace(JWT, REDACTED).replace(CHANNEL_CAPABILITY, `$1${REDACTED}`);
}

/** A deep copy of `value` that is safe to log. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return "[…]";
  if (typeof value === "string") return /^[a-z]+:\/\//i.test(value) ? redactPath(value) : redactText(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? REDACTED : redact(v, depth + 1);
    return out;
  }
  return value;
}
