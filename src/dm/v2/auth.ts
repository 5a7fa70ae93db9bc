// HTTP authentication of the DM 2.0 resources with the DM account's credentials: Digest
// (RFC 7616, SHA-256) and Basic (RFC 7617, only over TLS). A request without valid credentials
// gets 401 with both challenges, which is what makes a browser show its login dialog.
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../../env";
import { ApiError } from "../../http/errors";
import { enforceRateLimit } from "../../http/rate-limit";
import { challenges, newNonce, parseAuthorization } from "./credentials";

export const ACCOUNT_ID = /^[A-Za-z0-9._~-]{1,64}$/;
const OPAQUE = "dm2";

const accounts = new WeakMap<Request, string>();

/** The authenticated DM account of the request (set by {@link requireDmAccount}). */
export function accountOf(c: Context<AppEnv>): string {
  const a = accounts.get(c.req.raw);
  if (!a) throw new ApiError(401, "POL0001", ["DM account credentials required"]);
  return a;
}

/** Basic sends the password itself: only over TLS, or on loopback while developing. */
function basicAllowed(url: URL): boolean {
  return url.protocol === "https:" || /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(url.hostname);
}

function unauthorized(c: Context<AppEnv>, why: string, stale = false): Response {
  const body = new ApiError(401, "POL0001", [`invalid credentials: ${why}`]).body();
  const res = c.json(body, 401);
  for (const ch of challenges(newNonce(), OPAQUE, stale)) {
    if (ch.startsWith("Basic") && !basicAllowed(new URL(c.req.url))) continue;
    res.headers.append("WWW-Authenticate", ch);
  }
  res.headers.set("Cache-Control", "no-store");
  return res;
}

/** Every DM 2.0 resource: the DM account of the credentials, or 401 with fresh challenges. */
export const requireDmAccount: MiddlewareHandler<AppEnv> = async (c, next) => {
  const creds = parseAuthorization(c.req.header("authorization"));
  // Counted per account named, before its object verifies anything (requests without credentials are
  // answered 401 here without reaching an object, so they cost nothing to count).
  if (creds && creds.scheme !== "invalid" && ACCOUNT_ID.test(creds.username)) {
    await enforceRateLimit({ binding: c.env.DM2_ACCOUNT_RATE_LIMIT, period: 10, what: "DM 2.0 requests for this account" }, creds.username);
  }
  if (!creds) return unauthorized(c, "none given");
  if (creds.scheme === "invalid") return unauthorized(c, creds.why);
  const url = new URL(c.req.url);
  if (creds.scheme === "basic" && !basicAllowed(url)) return unauthorized(c, "Basic is accepted over TLS only");
  if (!ACCOUNT_ID.test(creds.username)) return unauthorized(c, "unknown user");
  // RFC 7616 §3.4.6: the digest covers the request-target it names; it must be this one.
  if (creds.scheme === "digest" && creds.uri !== url.pathname + url.search) return unauthorized(c, "the Digest uri is not this request's");
  const verdict = await c.env.DM_ACCOUNTS.getByName(creds.username).authenticate(creds, c.req.method);
  if (!verdict.ok) {
    if (verdict.retryAfterMs) {
      const seconds = Math.ceil(verdict.retryAfterMs / 1000);
      throw new ApiError(429, "POL0001", [`too many failed logins; retry after ${seconds} s`], { "Retry-After": String(seconds) });
    }
    if (verdict.reason === "stale") return unauthorized(c, "nonce expired", true);
    if (verdict.reason === "replayed") return unauthorized(c, "nonce count already used (replay)");
    return unauthorized(c, "wrong user or password");
  }
  accounts.set(c.req.raw, creds.username);
  await next();
};
