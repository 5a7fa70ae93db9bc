// RFC 6749 §2.3.1 / §10.10: the token endpoint must protect client secrets against guessing. Wrong
// secrets are counted per client and per calling address (CF-Connecting-IP, an IPv6 /64), exactly,
// in the client's object; AUTH_FAILURE_LIMIT (10) of them within AUTH_FAILURE_LOCK_SECONDS lock that
// address out, even for the right secret, while every other address goes on authenticating.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CLIENT_REPLICAS } from "../../src/oauth/object-names";
import { ORIGIN, registerClient, type Client } from "../helpers";

const LIMIT = 10;
let lastOctet = 0;
/** A fresh IPv4 address from TEST-NET-3 per call. */
const freshAddress = () => `203.0.113.${++lastOctet % 250}`;

async function tokenRequest(client: Client, secret: string, address?: string, how: "basic" | "post" = "basic") {
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
  if (address) headers["CF-Connecting-IP"] = address;
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  if (how === "basic") headers.Authorization = `Basic ${btoa(`${client.client_id}:${secret}`)}`;
  else form.set("client_id", client.client_id), form.set("client_secret", secret);
  const res = await SELF.fetch(`${ORIGIN}/oauth/token`, { method: "POST", headers, body: form.toString() });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), json: (await res.json()) as any };
}

describe("Brute-force protection of client secrets (RFC 6749 §2.3.1, §10.10)", () => {
  it("ten wrong secrets from one address lock it out with 429 temporarily_unavailable and Retry-After; the ninth is still 401", async () => {
    const client = await registerClient(["twinning:primary"]);
    const address = freshAddress();
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT; i++) statuses.push((await tokenRequest(client, `wrong-${i}`, address, i % 2 ? "post" : "basic")).status);
    expect(statuses).toEqual([...Array(LIMIT - 1).fill(401), 429]);
    const locked = await tokenRequest(client, "wrong-again", address);
    expect(locked.status).toBe(429);
    expect(locked.json.error).toBe("temporarily_unavailable");
    expect(locked.json.error_description).toMatch(/too many wrong client credentials from this address/);
    expect(Number(locked.retryAfter)).toBeGreaterThan(800);
    expect(Number(locked.retryAfter)).toBeLessThanOrEqual(900);
  });

  it("a locked address is refused even with the right secret, at every credential replica; another address still gets tokens", async () => {
    const client = await registerClient(["twinning:primary"]);
    const address = freshAddress();
    for (let i = 0; i < LIMIT; i++) await tokenRequest(client, `wrong-${i}`, address);
    // Enough requests to pass every replica more than once (client-auth.ts takes them in turn).
    const right = await Promise.all(Array.from({ length: CLIENT_REPLICAS + 4 }, () => tokenRequest(client, client.client_secret, address)));
    expect(right.map((r) => r.status)).toEqual(right.map(() => 429));
    const elsewhere = await tokenRequest(client, client.client_secret, freshAddress());
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.json.access_token).toBeTypeOf("string");
  });

  it("concurrent wrong guesses are each counted: of 25 at once exactly nine are answered 401, the rest 429", async () => {
    const client = await registerClient(["twinning:primary"]);
    const address = freshAddress();
    const results = await Promise.all(Array.from({ length: 25 }, (_, i) => tokenRequest(client, `guess-${i}`, address)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(LIMIT - 1);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25 - (LIMIT - 1));
  });

  it("the addresses of one IPv6 /64 share their count; another /64 is not affected", async () => {
    const client = await registerClient(["twinning:primary"]);
    for (let i = 0; i < LIMIT; i++) await tokenRequest(client, `wrong-${i}`, `2001:db8:aa:1:${i.toString(16)}::${i + 1}`);
    expect((await tokenRequest(client, client.client_secret, "2001:db8:aa:1:ffff::1")).status).toBe(429);
    expect((await tokenRequest(client, client.client_secret, "[2001:0db8:00aa:0001::beef]")).status).toBe(429);
    expect((await tokenRequest(client, client.client_secret, "2001:db8:aa:2::1")).status).toBe(200);
  });

  it("the count is per client: a lock for one client leaves the same address free to authenticate another", async () => {
    const [a, b] = [await registerClient(["twinning:primary"]), await registerClient(["twinning:primary"])];
    const address = freshAddress();
    for (let i = 0; i < LIMIT; i++) await tokenRequest(a, `wrong-${i}`, address);
    expect((await tokenRequest(a, a.client_secret, address)).status).toBe(429);
    expect((await tokenRequest(b, b.client_secret, address)).status).toBe(200);
  });

  it("a request that did not come through the edge (no CF-Connecting-IP) is not counted: local development never locks itself out", async () => {
    const client = await registerClient(["twinning:primary"]);
    for (let i = 0; i < LIMIT + 2; i++) expect((await tokenRequest(client, `wrong-${i}`)).status).toBe(401);
    expect((await tokenRequest(client, client.client_secret)).status).toBe(200);
  });

  it("fewer wrong secrets than the limit lock nothing: the right secret from that address still works", async () => {
    const client = await registerClient(["twinning:primary"]);
    const address = freshAddress();
    for (let i = 0; i < LIMIT - 1; i++) expect((await tokenRequest(client, `wrong-${i}`, address)).status).toBe(401);
    expect((await tokenRequest(client, client.client_secret, address)).status).toBe(200);
  });
});
