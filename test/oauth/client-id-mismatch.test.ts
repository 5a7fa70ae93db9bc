// RFC 6749 §2.3 ("MUST NOT use more than one authentication method in each request") and §3.2.1:
// one request names one client. A body client_id that names another client than the one HTTP Basic
// authenticates is refused, as a client_id that contradicts a private_key_jwt assertion already is.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, basic, call, ORIGIN, type Client } from "../helpers";

async function register(body: Record<string, unknown>): Promise<Client> {
  const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Mismatch app", scopes: ["twinning:primary", "twinning:secondary"], ...body } });
  expect(res.status, res.text).toBe(201);
  return res.json;
}

const post = async (path: string, auth: string, form: Record<string, string>) => {
  const res = await SELF.fetch(`${ORIGIN}${path}`, {
    method: "POST",
    headers: { Authorization: auth, "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, headers: res.headers, json: (await res.json().catch(() => null)) as any };
};

describe("RFC 6749 §2.3, §3.2.1: a body client_id must name the client HTTP Basic authenticates", () => {
  it("the token endpoint refuses Basic A with client_id B (or a garbage client_id) as invalid_client, and issues nothing", async () => {
    const a = await register({ grant_types: ["client_credentials"] });
    const b = await register({ grant_types: ["client_credentials"] });
    for (const named of [b.client_id, "garbage", ""]) {
      const res = await post("/oauth/token", basic(a), { grant_type: "client_credentials", scope: "twinning:primary", client_id: named });
      expect(res.status, named).toBe(401);
      expect(res.json).toEqual({ error: "invalid_client", error_description: "client_id does not match the client authenticated by HTTP Basic" });
      expect(res.headers.get("www-authenticate")).toMatch(/^Basic /);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
  });

  it("a body client_id equal to the Basic client is still accepted (RFC 6749 §3.2.1 allows it)", async () => {
    const a = await register({ grant_types: ["client_credentials"] });
    const res = await post("/oauth/token", basic(a), { grant_type: "client_credentials", scope: "twinning:primary", client_id: a.client_id });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.access_token).toBeTruthy();
  });

  it("revocation, introspection and device authorization refuse the same mismatch", async () => {
    const a = await register({ grant_types: ["client_credentials", "urn:ietf:params:oauth:grant-type:device_code"] });
    const b = await register({ grant_types: ["client_credentials"] });
    const issued = await post("/oauth/token", basic(a), { grant_type: "client_credentials", scope: "twinning:primary" });
    expect(issued.status).toBe(200);
    const token = issued.json.access_token as string;
    for (const [path, form] of [
      ["/oauth/revoke", { token, client_id: b.client_id }],
      ["/oauth/introspect", { token, client_id: b.client_id }],
      ["/oauth/device_authorization", { scope: "twinning:secondary", client_id: b.client_id }],
    ] as const) {
      const res = await post(path, basic(a), form);
      expect(res.status, path).toBe(401);
      expect(res.json, path).toMatchObject({ error: "invalid_client" });
    }
    // The refused revocation revoked nothing.
    const still = await post("/oauth/introspect", basic(a), { token });
    expect(still.json.active).toBe(true);
  });
});
