// The Twinning API's rate limits (bindings in wrangler.toml, helper in src/http/rate-limit.ts).
// They are the outer fence; the lockout that makes codes unguessable is each primary's own count,
// kept in its object's transaction (HLF-TE-005).
import type { Env } from "../env";
import type { RateLimitRule } from "../http/rate-limit";

/** Activation-code requests of one secondary: each leaves a device grant for a day. */
export const codeRequests = (env: Env): RateLimitRule => ({ binding: env.ACTIVATION_CODE_RATE_LIMIT, period: 60, what: "activation code requests for this subscriber" });

/** Activation attempts naming one code, whoever makes them. */
export const guessesPerCode = (env: Env): RateLimitRule => ({ binding: env.ACTIVATION_GUESS_PER_CODE_RATE_LIMIT, period: 60, what: "activation attempts with this code" });

/** Activation attempts of every primary together (one key). */
export const guessesOverall = (env: Env): RateLimitRule => ({ binding: env.ACTIVATION_GUESS_RATE_LIMIT, period: 10, what: "activation attempts on this gateway" });
export const ALL_PRIMARIES = "all";
