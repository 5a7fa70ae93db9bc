// The shared rate-limit helper on the real Workers Rate Limiting binding (the local simulator).
import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import type { AppEnv } from "../../src/env";
import { ApiError, errorResponse } from "../../src/http/errors";
import { enforceRateLimit, overRateLimit, rateLimitBy, type RateLimitRule } from "../../src/http/rate-limit";
import { exhaust, inFreshWindow } from "./rate-limit-probe";

// A binding with a small limit (10 per 60 s), used here with keys no request of the suite uses.
const rule: RateLimitRule = { binding: env.DEVICE_AUTHORIZATION_RATE_LIMIT, period: 60, what: "probes" };

describe("Rate limits answer 429 with Retry-After in the OMA envelope", () => {
  it("within the limit a request passes; past it, 429 POL0001 names what was limited and says when to retry", async () => {
    await inFreshWindow(60);
    const key = `probe-${crypto.randomUUID()}`;
    await expect(enforceRateLimit(rule, key)).resolves.toBeUndefined();
    const left = await exhaust(rule.binding, key);
    expect(left).toBeGreaterThan(0);
    const err = await enforceRateLimit(rule, key).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const api = err as ApiError;
    expect(api.status).toBe(429);
    expect(api.headers["Retry-After"]).toBe("60");
    expect(api.body()).toEqual({
      requestError: { policyException: { messageId: "POL0001", text: expect.any(String), variables: ["too many probes; retry after 60 s"] } },
    });
    // Counted per key: another key is untouched.
    expect(await overRateLimit(rule, `probe-${crypto.randomUUID()}`)).toBeUndefined();
  });

  it("the middleware counts by the key it is given and renders the refusal through the app's error handler", async () => {
    await inFreshWindow(60);
    const app = new Hono<AppEnv>();
    app.onError((err, c) => errorResponse(c, err));
    app.use("/things/:id", rateLimitBy(() => rule, (c) => c.req.param("id")));
    app.get("/things/:id", (c) => c.text("ok"));
    const id = crypto.randomUUID();
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await app.request(`/things/${id}`, {}, env)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.slice(10)).toEqual([429, 429]);
    const refused = await app.request(`/things/${id}`, {}, env);
    expect(refused.headers.get("Retry-After")).toBe("60");
    expect((await refused.json()) as unknown).toMatchObject({ requestError: { policyException: { messageId: "POL0001" } } });
    expect((await app.request(`/things/${crypto.randomUUID()}`, {}, env)).status).toBe(200);
  });

  it("a failing binding lets requests through instead of taking the API down", async () => {
    const broken: RateLimitRule = { binding: { limit: () => Promise.reject(new Error("limiter down")) }, period: 10, what: "probes" };
    await expect(enforceRateLimit(broken, "k")).resolves.toBeUndefined();
  });
});
