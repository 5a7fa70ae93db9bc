// RFC 8259 §8.1: JSON bodies are UTF-8. Invalid bytes are 400 SVC0002 naming the body on every API
// (issue 12), and nothing is stored.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, call, device, enc, ORIGIN, registerClient } from "../helpers";

const client = await registerClient();
const p = await device(client);

/** `{"<field>":"ab<C3 28 FF>cd", ...rest}` as raw bytes: C3 28 is a broken two-byte sequence, FF never occurs in UTF-8. */
function badUtf8(field: string, rest: Record<string, unknown> = {}): Uint8Array {
  return withBadBytes({ [field]: "ab\u0000cd", ...rest });
}

/** `doc` serialised with the bytes C3 28 FF where its one NUL character is. */
function withBadBytes(doc: unknown): Uint8Array {
  const [head, tail] = JSON.stringify(doc).split("\\u0000") as [string, string];
  const enc8 = new TextEncoder();
  return new Uint8Array([...enc8.encode(head), 0xc3, 0x28, 0xff, ...enc8.encode(tail)]);
}

async function send(method: string, path: string, body: Uint8Array, headers: Record<string, string>) {
  const res = await SELF.fetch(`${ORIGIN}${path}`, { method, headers: { "Content-Type": "application/json", ...headers }, body });
  return { status: res.status, json: (await res.json()) as any };
}

const expected = { requestError: { serviceException: { messageId: "SVC0002", text: expect.any(String), variables: ["body", "not valid UTF-8 (RFC 8259 §8.1)"] } } };

describe("Invalid UTF-8 in a JSON body is refused, naming the body", () => {
  it("a client name with bytes C3 28 FF: 400 SVC0002, and no client is registered", async () => {
    const res = await send("POST", "/admin/v1/clients", badUtf8("name", { scopes: ["twinning:primary"] }), ADMIN);
    expect(res.status).toBe(400);
    expect(res.json).toEqual(expected);
    expect(res.json.client_id).toBeUndefined();
  });

  it("callbackData of a subscription with invalid bytes: 400 SVC0002, and no subscription is stored", async () => {
    const path = `/twinning/v1/${enc(p.address)}/subscriptions`;
    const before = await call("GET", path, { token: p.token });
    const body = withBadBytes({ subscription: { callbackReference: { notifyURL: "https://app.example.com/notify", callbackData: "ab\u0000cd" } } });
    const res = await send("POST", path, body, { Authorization: `Bearer ${p.token}` });
    expect(res.status).toBe(400);
    expect(res.json).toEqual(expected);
    expect((await call("GET", path, { token: p.token })).json).toEqual(before.json);
  });

  it("the same on a JSON body with a +json media type and a charset parameter", async () => {
    const res = await send("POST", `/twinning/v1/${enc(p.address)}/twins`, badUtf8("activationCode"), {
      Authorization: `Bearer ${p.token}`,
      "Content-Type": "application/merge-patch+json; charset=utf-8",
    });
    expect(res.status).toBe(400);
    expect(res.json).toEqual(expected);
  });

  it("valid UTF-8 beyond ASCII passes: a client named in Greek and with an emoji is registered as sent", async () => {
    const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Εφαρμογή 📱", scopes: ["twinning:primary"] } });
    expect(res.status).toBe(201);
    expect(res.json.name).toBe("Εφαρμογή 📱");
  });
});

describe("OAuth form bodies are UTF-8 too", () => {
  it("a token request with raw invalid bytes is invalid_request, saying so", async () => {
    const body = new Uint8Array([...new TextEncoder().encode("grant_type=client_credentials&scope=ab"), 0xc3, 0x28, 0xff]);
    const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
      body,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: "invalid_request", error_description: "body is not valid UTF-8" });
  });
});
