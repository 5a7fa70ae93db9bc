// Requests that name unknown OAuth objects leave no Durable Object behind (issue 12): they are
// refused before anything is written.
import { listDurableObjectIds, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { generateKeyPair, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers";

const form = (body: Record<string, string>, headers: Record<string, string> = {}) =>
  SELF.fetch(`${ORIGIN}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(body).toString(),
  });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function persisted(ns: DurableObjectNamespace<any>, names: string[]): Promise<string[]> {
  const ids = new Set((await listDurableObjectIds(ns)).map((id) => id.toString()));
  return names.filter((n) => ids.has(ns.idFromName(n).toString()));
}

describe("Unknown client_ids and refresh tokens create no Durable Objects", () => {
  it("10 requests with random client_ids in Basic auth, in client_secret_post, as public clients and in assertions: 401, and no object persisted", async () => {
    const ids = Array.from({ length: 10 }, () => `client-${crypto.randomUUID().slice(0, 16)}`);
    for (const id of ids) {
      const basic = await form({ grant_type: "client_credentials" }, { Authorization: `Basic ${btoa(`${id}:wrong-secret`)}` });
      expect(basic.status).toBe(401);
      expect(((await basic.json()) as { error: string }).error).toBe("invalid_client");
      expect((await form({ grant_type: "client_credentials", client_id: id, client_secret: "x" })).status).toBe(401);
      expect((await form({ grant_type: "authorization_code", client_id: id, code: "x", redirect_uri: "https://a.example/cb", code_verifier: "v".repeat(43) })).status).toBe(401);
      const { privateKey } = await generateKeyPair("ES256");
      const assertion = await new SignJWT({}).setProtectedHeader({ alg: "ES256" }).setIssuer(id).setSubject(id).setAudience(`${ORIGIN}/oauth/token`).setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID()).sign(privateKey);
      const asserted = await form({ grant_type: "client_credentials", client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion });
      expect(asserted.status).toBe(401);
    }
    expect(await persisted(env.OAUTH_CLIENTS, ids)).toEqual([]);
  });

  it("random refresh tokens at the token, revocation and introspection endpoints leave no token-family object", async () => {
    const families = Array.from({ length: 10 }, () => crypto.randomUUID());
    const reg = await SELF.fetch(`${ORIGIN}/admin/v1/clients`, {
      method: "POST",
      headers: { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" },
      body: JSON.stringify({ name: "App", scopes: ["twinning:primary"], redirect_uris: ["https://app.example/cb"] }),
    });
    const client = (await reg.json()) as { client_id: string; client_secret: string };
    const auth = { Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` };
    for (const family of families) {
      const token = `${family}.${"A".repeat(43)}`;
      expect((await form({ grant_type: "refresh_token", refresh_token: token }, auth)).status).toBe(400);
      for (const endpoint of ["revoke", "introspect"]) {
        const res = await SELF.fetch(`${ORIGIN}/oauth/${endpoint}`, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded", ...auth },
          body: new URLSearchParams({ token }).toString(),
        });
        expect(res.status).toBe(200);
      }
    }
    expect(await persisted(env.TOKEN_FAMILIES, families)).toEqual([]);
  });
});
