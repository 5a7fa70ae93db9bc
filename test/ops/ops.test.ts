// Issue 18, "What an operator needs": GET /healthz, structured logs without secrets, and metrics with a
// local view that tests (and operators without Analytics Engine) can read.
import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { redact, redactPath, REDACTED } from "../../src/ops/redact";
import { ADMIN, call, device, enc, ORIGIN, registerClient, twin } from "../helpers";

const client = await registerClient();

describe("GET /healthz", () => {
  it("answers 200 after a Durable Object round trip and a WASM decode, without credentials", async () => {
    const res = await SELF.fetch(`${ORIGIN}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ status: "ok", checks: { durableObject: { ok: true }, wasm: { ok: true } } });
    expect(JSON.stringify(body)).not.toMatch(/tel:|token/);
  });

  it("is described as a public operation", async () => {
    const doc = (await (await SELF.fetch(`${ORIGIN}/openapi.json`)).json()) as any;
    expect(doc.paths["/healthz"].get.security).toEqual([]);
    expect(doc.paths["/healthz"].get.responses["503"]).toBeDefined();
  });
});

describe("Metrics", () => {
  const snapshot = async () => (await call("GET", "/admin/v1/metrics", { headers: ADMIN })).json;

  it("are for the operator only", async () => {
    expect((await call("GET", "/admin/v1/metrics")).status).toBe(401);
  });

  it("count requests by route pattern (never by id), errors by status, and latency", async () => {
    const before = await snapshot();
    const unknown = `tel:+1999${Date.now() % 10_000_000}`;
    await call("GET", `/admin/v1/subscribers/${enc(unknown)}`, { headers: ADMIN });
    const after = await snapshot();
    const key = "GET /admin/v1/subscribers/:address";
    expect(after.requests[key].count).toBe((before.requests[key]?.count ?? 0) + 1);
    expect(after.errors[`404 ${key}`]).toBe((before.errors[`404 ${key}`] ?? 0) + 1);
    expect(after.requests[key].avgMs).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(after)).not.toContain(unknown);
  });

  it("count the capability events that are wired: activations and toggles", async () => {
    const before = (await snapshot()).events;
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    const after = (await snapshot()).events;
    expect(after["twinning.activation"]).toBe((before["twinning.activation"] ?? 0) + 1);
    expect(after["twinning.toggle primary"]).toBe((before["twinning.toggle primary"] ?? 0) + 1);
  });
});

describe("Structured logs", () => {
  afterEach(() => vi.restoreAllMocks());

  it("one JSON line per request, with its correlator and no bearer token, query string or channel capability", async () => {
    const lines: string[] = [];
    for (const level of ["log", "warn", "error"] as const) vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    const secret = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZWw6KzEifQ.c2lnbmF0dXJl";
    const res = await SELF.fetch(`${ORIGIN}/notificationchannel/v1/acr%3AAuthorization/channels/AAAAAAAAAAAAAAAAAAAAAA/poll?login_hint_token=${secret}`, {
      headers: { Authorization: `Bearer ${secret}`, "x-correlator": "corr-ops-1" },
    });
    await res.arrayBuffer();
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.event === "request" && l.correlator === "corr-ops-1");
    expect(line).toMatchObject({ level: "warn", method: "GET", status: res.status, route: "/notificationchannel/v1/:userId/channels/:channelId/poll" });
    expect(line.path).toContain(`/channels/${REDACTED}/poll`);
    expect(lines.join("\n")).not.toContain(secret);
    expect(lines.join("\n")).not.toContain("AAAAAAAAAAAAAAAAAAAAAA");
  });

  it("redaction: credentials by field name anywhere, bearer tokens and JWTs in text, capability ids in URLs", () => {
    const out = redact({
      authorization: "Bearer abc.def",
      nested: { client_secret: "s3cret", deviceKey: "k", note: "sent Bearer zzz to the peer", list: [{ password: "p" }] },
      url: "https://gw.example/notificationchannel/v1/tel%3A%2B1/channels/Tq3Jm0xY8fZkLw2VbN5sRa/ws?access_token=x",
      status: 401,
    }) as any;
    expect(out).toEqual({
      authorization: REDACTED,
      nested: { client_secret: REDACTED, deviceKey: REDACTED, note: `sent Bearer ${REDACTED} to the peer`, list: [{ password: REDACTED }] },
      url: `https://gw.example/notificationchannel/v1/tel%3A%2B1/channels/${REDACTED}/ws`,
      status: 401,
    });
    expect(redactPath("/oauth/authorize?login_hint_token=eyJ.x.y")).toBe("/oauth/authorize");
  });
});
