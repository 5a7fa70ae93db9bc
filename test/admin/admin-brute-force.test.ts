// The admin token cannot be guessed: wrong admin tokens are counted per calling address (the audit
// log's object, src/admin/guard.ts) and AUTH_FAILURE_LIMIT (10) of them lock that address out of
// every admin route, with 429 POL0001 and Retry-After, even for the right token, until the lock ends.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, device, ORIGIN, registerClient } from "../helpers";

const LIMIT = 10;
let last = 0;
const freshAddress = () => `198.51.100.${++last % 250}`;

async function adminCall(path: string, token: string | undefined, address: string, method = "GET") {
  const headers: Record<string, string> = { "CF-Connecting-IP": address };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await SELF.fetch(`${ORIGIN}${path}`, { method, headers });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), json: (await res.json().catch(() => undefined)) as any };
}
const RIGHT = ADMIN.Authorization.slice("Bearer ".length);

describe("Brute-force protection of the admin token", () => {
  it("ten wrong admin tokens from one address: nine 401, then 429 POL0001 with Retry-After; then the right token from there is 429 too", async () => {
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await adminCall("/admin/v1/clients", `guess-${i}`, address)).status);
    expect(statuses).toEqual([...Array(LIMIT - 1).fill(401), 429]);
    const locked = await adminCall("/admin/v1/audit", RIGHT, address);
    expect(locked.status).toBe(429);
    expect(locked.json.requestError.policyException.messageId).toBe("POL0001");
    expect(locked.json.requestError.policyException.variables[0]).toMatch(/too many wrong admin tokens from this address; retry after \d+ s/);
    expect(Number(locked.retryAfter)).toBeGreaterThan(800);
  });

  it("a lock binds only its address: the operator elsewhere keeps the admin API", async () => {
    const address = freshAddress();
    for (let i = 0; i < LIMIT; i++) await adminCall("/admin/v1/clients", `guess-${i}`, address);
    expect((await adminCall("/admin/v1/clients", RIGHT, freshAddress())).status).toBe(200);
  });

  it("concurrent wrong admin tokens are each counted: of 20 at once exactly nine are 401", async () => {
    const address = freshAddress();
    const statuses = (await Promise.all(Array.from({ length: 20 }, (_, i) => adminCall("/admin/v1/clients", `guess-${i}`, address)))).map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMIT - 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(20 - (LIMIT - 1));
  });

  it("a bearer that is neither the admin token nor a valid access token counts at routes that take either (campaigns) and at operator-only routes (DM)", async () => {
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await adminCall(i % 2 ? "/dmws/v1/campaigns" : "/admin/v1/audit", `guess-${i}`, address)).status);
    expect(statuses).toEqual([...Array(LIMIT - 1).fill(401), 429]);
    expect((await adminCall("/dmws/v1/campaigns", RIGHT, address)).status).toBe(429);
  });

  it("a valid access token at an admin route is refused 401 but is no guess of the admin token", async () => {
    const address = freshAddress();
    const { token } = await device(await registerClient());
    for (let i = 0; i < LIMIT + 2; i++) expect((await adminCall("/admin/v1/clients", token, address)).status).toBe(401);
    expect((await adminCall("/admin/v1/clients", RIGHT, address)).status).toBe(200);
  });

  it("a request without a bearer is not a guess, and one without CF-Connecting-IP is not counted", async () => {
    const address = freshAddress();
    for (let i = 0; i < LIMIT + 2; i++) expect((await adminCall("/admin/v1/clients", undefined, address)).status).toBe(401);
    expect((await adminCall("/admin/v1/clients", RIGHT, address)).status).toBe(200);
    for (let i = 0; i < LIMIT + 2; i++) {
      const res = await SELF.fetch(`${ORIGIN}/admin/v1/clients`, { headers: { Authorization: `Bearer guess-${i}` } });
      expect(res.status).toBe(401);
      await res.body?.cancel();
    }
    expect((await SELF.fetch(`${ORIGIN}/admin/v1/clients`, { headers: ADMIN })).status).toBe(200);
  });
});
