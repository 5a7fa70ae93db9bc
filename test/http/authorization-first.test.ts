// Authorization before input errors: a caller that may not use a resource (another subscriber's
// {userId}: 403) or whose token was revoked (401) is told that, not what is wrong with its body.
// Only the transport checks (413 size, 415 type, UTF-8) come before, as they do before any route.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, device, enc, ORIGIN, registerClient } from "../helpers";

const post = (path: string, token: string, body: string, type = "application/json") =>
  call("POST", path, { token, body, type });

describe("Authorization comes before input errors", () => {
  it("another subscriber's {userId} with a malformed or schema-invalid body is 403, not 400", async () => {
    const client = await registerClient();
    const [a, b] = [await device(client), await device(client)];
    const path = `/twinning/v1/${enc(b.address)}/twins`;
    for (const body of ["{not json", JSON.stringify({ activationCode: 42 }), "[]"]) {
      const res = await post(path, a.token, body);
      expect(res.status, body).toBe(403);
      expect(res.json.requestError.policyException.variables[0]).toBe("userId is not the subscriber of the access token");
    }
  });

  it("a revoked token with a malformed or schema-invalid body is 401 invalid_token, not 400", async () => {
    const client = await registerClient();
    const a = await device(client);
    const revoke = await SELF.fetch(`${ORIGIN}/oauth/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
      body: `token=${a.token}`,
    });
    expect(revoke.status).toBe(200);
    for (const body of ["{not json", JSON.stringify({ activationCode: 42 })]) {
      const res = await post(`/twinning/v1/${enc(a.address)}/twins`, a.token, body);
      expect(res.status, body).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/invalid_token/);
    }
  });

  it("the subscriber's own {userId} with a bad body is still 400 naming what is wrong", async () => {
    const client = await registerClient();
    const a = await device(client);
    const malformed = await post(`/twinning/v1/${enc(a.address)}/twins`, a.token, "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.json.requestError.serviceException.variables).toEqual(["body", "malformed JSON"]);
    const wrongType = await post(`/twinning/v1/acr%3AAuthorization/twins`, a.token, JSON.stringify({ activationCode: 42 }));
    expect(wrongType.status).toBe(400);
    expect(wrongType.json.requestError.serviceException.variables[0]).toBe("activationCode");
  });

  it("transport checks still come first: a body that is not JSON is 415, whoever the {userId} is", async () => {
    const client = await registerClient();
    const [a, b] = [await device(client), await device(client)];
    const res = await post(`/twinning/v1/${enc(b.address)}/twins`, a.token, "activationCode=1", "text/plain");
    expect(res.status).toBe(415);
  });
});
