// RFC 6749 §5.2 errors (and RFC 8628 §3.5 for device polling). OAuth endpoints answer in this
// form rather than the OMA envelope, because that is what OAuth client libraries parse.
import type { Context } from "hono";
import { echo, neutralise } from "../http/errors";
import { overRateLimit, type RateLimitRule } from "../http/rate-limit";
import { IssuerNotConfigured } from "./tokens";

export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope"
  | "unsupported_token_type"
  | "authorization_pending"
  | "slow_down"
  | "expired_token"
  | "access_denied"
  | "invalid_target"
  | "temporarily_unavailable"
  | "server_error";

export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    /** Only for answers other than 400/401: 429 when rate limited, 503 when not configured. */
    readonly status?: 429 | 503,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

/**
 * Over a rate limit at an OAuth endpoint: 429 with Retry-After, in the RFC 6749 §5.2 form. RFC 6749
 * has no code for it; `temporarily_unavailable` (§4.1.2.1: "unable to handle the request due to a
 * temporary overloading") is the nearest registered one, and Retry-After says for how long.
 */
export async function enforceOAuthRateLimit(rule: RateLimitRule, key: string): Promise<void> {
  const retryAfter = await overRateLimit(rule, key);
  if (retryAfter !== undefined) throw tooManyAtOAuth(`too many ${rule.what}`, retryAfter);
}

/** 429 temporarily_unavailable with Retry-After: a rate limit, or an address locked out for guessing (failure-ledger.ts). */
export const tooManyAtOAuth = (what: string, retryAfter: number) =>
  new OAuthError("temporarily_unavailable", `${what}; retry after ${retryAfter} s`, 429, { "Retry-After": String(retryAfter) });

export const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" };

export function oauthErrorResponse(c: Context, err: OAuthError): Response {
  const status = err.status ?? (err.code === "invalid_client" ? 401 : 400);
  const headers: Record<string, string> = { ...NO_STORE, ...err.headers };
  if (status === 401) headers["WWW-Authenticate"] = 'Basic realm="oma-edge", charset="UTF-8"';
  // Neutralised here, where every OAuth error is rendered, as ApiError.body() does for the OMA envelope.
  return c.json({ error: err.code, error_description: neutralise(err.description) }, status, headers);
}

const MAX_FORM_BYTES = 16 * 1024;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** An application/x-www-form-urlencoded body (RFC 6749 §3.2), each parameter at most once. */
export async function readForm(c: Context): Promise<URLSearchParams> {
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) throw new OAuthError("invalid_request", "body must be application/x-www-form-urlencoded");
  const bytes = await c.req.arrayBuffer();
  if (bytes.byteLength > MAX_FORM_BYTES) throw new OAuthError("invalid_request", "request body too large");
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new OAuthError("invalid_request", "body is not valid UTF-8");
  }
  const form = new URLSearchParams(text);
  for (const key of new Set(form.keys())) {
    if (form.getAll(key).length > 1) throw new OAuthError("invalid_request", `parameter ${echo(key)} repeated`);
  }
  return form;
}

/** Runs an OAuth endpoint: its OAuthErrors become RFC 6749 answers; anything else is the app's. */
export async function oauthEndpoint(c: Context, fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OAuthError) return oauthErrorResponse(c, err);
    // A misconfiguration (tokens.ts: ISSUER unset in production) still answers in the OAuth form.
    if (err instanceof IssuerNotConfigured) return oauthErrorResponse(c, new OAuthError("server_error", err.variables.join(": "), 503));
    throw err;
  }
}
