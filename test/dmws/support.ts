// What the operator and a service provider do in the DM web-services tests: register a provider (an
// OAuth client with dm:manage, client_credentials with private_key_jwt or a secret), grant it, get
// its token, enter devices in the inventory and define groups.
import { SELF } from "cloudflare:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { expect } from "vitest";
import { ADMIN, call, enc, ORIGIN } from "../helpers";

export interface Provider {
  clientId: string;
  token: string;
}

/** A provider authenticating with private_key_jwt (the default) or a client secret. */
export async function newProvider(auth: "private_key_jwt" | "client_secret_basic" = "private_key_jwt", name = "Acme FOTA"): Promise<Provider> {
  if (auth === "client_secret_basic") {
    const reg = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name, scopes: ["dm:manage"], grant_types: ["client_credentials"] } });
    expect(reg.status, reg.text).toBe(201);
    const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa(`${reg.json.client_id}:${reg.json.client_secret}`)}` },
      body: "grant_type=client_credentials&scope=dm%3Amanage",
    });
    const body = (await res.json()) as { access_token: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    return { clientId: reg.json.client_id, token: body.access_token };
  }
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256" };
  const reg = await call("POST", "/admin/v1/clients", {
    headers: ADMIN,
    body: { name, scopes: ["dm:manage"], grant_types: ["client_credentials"], token_endpoint_auth_method: "private_key_jwt", jwks: { keys: [jwk] } },
  });
  expect(reg.status, reg.text).toBe(201);
  const clientId = reg.json.client_id as string;
  const assertion = await new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setIssuer(clientId).setSubject(clientId)
    .setAudience(`${ORIGIN}/oauth/token`).setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID()).sign(privateKey);
  const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "dm:manage", client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion: assertion }).toString(),
  });
  const body = (await res.json()) as { access_token: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return { clientId, token: body.access_token };
}

export interface GrantSpec {
  group: string;
  subtrees: string[];
  operations: ("read" | "write" | "exec")[];
}

export async function grant(p: Provider, grants: GrantSpec[]) {
  const res = await call("PUT", `/admin/v1/dm-providers/${enc(p.clientId)}/grants`, { headers: ADMIN, body: { grants } });
  expect(res.status, res.text).toBe(200);
  return res.json.grants;
}

export async function inventory(devId: string, attrs: Record<string, string>) {
  const res = await call("PUT", `/admin/v1/dm-devices/${enc(devId)}`, { headers: ADMIN, body: attrs });
  expect([200, 201], res.text).toContain(res.status);
}

let groupCounter = 0;
/** A fresh group name per call, so tests never share groups. */
export function newGroupName(prefix = "g"): string {
  groupCounter += 1;
  return `${prefix}-${Date.now().toString(36)}-${groupCounter}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export async function defineGroup(name: string, def: { devices: string[] } | { filter: Record<string, string | string[]> }) {
  const res = await call("PUT", `/admin/v1/dm-groups/${enc(name)}`, { headers: ADMIN, body: def });
  expect([200, 201], res.text).toContain(res.status);
  return res.json.group;
}

/** The provider's call to its API. */
export const asProvider = (p: Provider, method: string, path: string, body?: unknown) => call(method, path, { token: p.token, ...(body !== undefined ? { body } : {}) });

export async function auditOf(provider: Provider, kind?: "refusal" | "grants-changed") {
  const res = await call("GET", `/admin/v1/dm-audit?provider=${enc(provider.clientId)}${kind ? `&kind=${kind}` : ""}`, { headers: ADMIN });
  expect(res.status, res.text).toBe(200);
  return res.json.entries as { seq: number; at: string; provider: string; kind: string; action: string; detail: any }[];
}
