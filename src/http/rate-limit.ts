// Rate limits on the Workers Rate Limiting binding (`[[ratelimits]]` in wrangler.toml).
//
// Each limit is one binding: `simple = { limit, period }` is its setting, `namespace_id` must be
// unique in the Cloudflare account, and `period` is 10 or 60 (the only periods the platform has).
// The binding counts per Cloudflare location and approximately (it is eventually consistent): it
// bounds floods, it is not an exact quota. One-time codes that must never be guessed more than N
// times keep their own count inside their Durable Object's transaction; this is the outer fence.
//
// Locally (`wrangler dev`, the vitest pool) the binding runs in the simulator with fixed windows
// aligned to the wall clock (epoch = floor(now / period)); counters persist for the life of the
// process and are shared by every Worker of it.
//
// Usage, in a handler:
//   await enforceRateLimit({ binding: c.env.MY_LIMIT, period: 60, what: "code requests" }, subscriber);
// or as middleware:
//   app.use("/dm/s/:devId", rateLimitBy({ binding: ..., period: 10, what: "DM messages" }, (c) => c.req.param("devId")));
// Over the limit: 429 POL0001 in the OMA envelope, with `Retry-After` (RFC 9110 §10.2.3).
// Endpoints that answer in another error form (the OAuth token endpoint, RFC 6749 §5.2) call
// `overRateLimit` and build their own answer from its retry-after.
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "./errors";

export type RateLimitPeriod = 10 | 60;

export interface RateLimitRule {
  /** The `[[ratelimits]]` binding that counts. */
  binding: RateLimit;
  /** The binding's `simple.period`, in seconds (it is not readable at run time). */
  period: RateLimitPeriod;
  /** What is being limited, in words, for the error text ("token requests for this client"). */
  what: string;
}

let warned = false;

/**
 * Counts one request against `key`. Undefined when it is within the limit; otherwise the seconds
 * after which a retry may succeed. The platform does not say when its window ends, so that is the
 * whole period: an upper bound that always holds.
 *
 * If the binding itself fails, the request is let through and the failure logged: a rate limiter
 * outage must not take the API down with it (the limits that guard secrets are enforced in their
 * objects as well).
 */
export async function overRateLimit(rule: RateLimitRule, key: string): Promise<number | undefined> {
  try {
    const { success } = await rule.binding.limit({ key });
    return success ? undefined : rule.period;
  } catch (err) {
    if (!warned) {
      warned = true;
      console.error(`rate limiter for ${rule.what} failed; letting requests through`, err instanceof Error ? err.message : String(err));
    }
    return undefined;
  }
}

/** 429 POL0001 naming what was limited, with Retry-After. */
export const tooManyRequests = (what: string, retryAfter: number) =>
  new ApiError(429, "POL0001", [`too many ${what}; retry after ${retryAfter} s`], { "Retry-After": String(retryAfter) });

/** Counts one request against `key` and throws 429 (OMA envelope) when it is over the limit. */
export async function enforceRateLimit(rule: RateLimitRule, key: string): Promise<void> {
  const retryAfter = await overRateLimit(rule, key);
  if (retryAfter !== undefined) throw tooManyRequests(rule.what, retryAfter);
}

/**
 * Middleware form: `keyOf` names who is counted (a device id, a subscriber, the caller's address);
 * undefined skips counting (the route's own validation then answers).
 */
export function rateLimitBy(rule: (c: Context<AppEnv>) => RateLimitRule, keyOf: (c: Context<AppEnv>) => string | undefined): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = keyOf(c);
    if (key !== undefined) await enforceRateLimit(rule(c), key);
    await next();
  };
}
