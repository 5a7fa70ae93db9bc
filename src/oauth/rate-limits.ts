// The authorization server's rate limits (bindings in wrangler.toml, helper in src/http/rate-limit.ts).
import type { Env } from "../env";
import type { RateLimitRule } from "../http/rate-limit";

/** Every token and device-authorization request of one client_id, counted once it has authenticated. */
export const clientRequests = (env: Env): RateLimitRule => ({ binding: env.OAUTH_CLIENT_RATE_LIMIT, period: 10, what: "requests from this client" });

/** Device authorizations (RFC 8628 §3.1) for one subscriber: each leaves a device grant for a day. */
export const deviceAuthorizations = (env: Env): RateLimitRule => ({
  binding: env.DEVICE_AUTHORIZATION_RATE_LIMIT,
  period: 60,
  what: "device authorization requests for this subscriber",
});
