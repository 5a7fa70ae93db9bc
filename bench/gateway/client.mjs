// What a client of the gateway does, from Node, through the real HTTP API (as test/helpers.ts does
// inside workerd): provision subscribers and a client with the admin token, get access tokens with
// the jwt-bearer grant, and twin devices with an activation code.
import { createHmac, randomBytes, randomUUID } from "node:crypto";

export const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
export const enc = encodeURIComponent;

let serial = 0;
/** A fresh E.164 address; `run` keeps addresses of separate runs apart. */
export function newAddress(run) {
  serial += 1;
  return `tel:+44${run}${String(serial).padStart(7, "0")}`;
}

const b64url = (data) => Buffer.from(data).toString("base64url");

/** RFC 7523 assertion: HS256 over the device key, fresh jti, 2 minutes of life. */
export function assertion(sub, clientId, audience) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const payload = b64url(JSON.stringify({ iss: clientId, sub: sub.address, aud: audience, iat: now, exp: now + 120, jti: randomUUID() }));
  const signature = createHmac("sha256", sub.key).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

export function basicAuth(client) {
  return `Basic ${Buffer.from(`${enc(client.client_id)}:${enc(client.client_secret)}`).toString("base64")}`;
}

/** The form body of a token request for `sub`. */
export function tokenForm(sub, client, audience) {
  return new URLSearchParams({ grant_type: JWT_BEARER, assertion: assertion(sub, client.client_id, audience) }).toString();
}

export class GatewayClient {
  constructor(url, adminToken) {
    this.url = url;
    this.admin = { Authorization: `Bearer ${adminToken}` };
    this.tokenEndpoint = `${url}/oauth/token`;
  }

  async call(method, path, { token, body, headers = {}, expect } = {}) {
    const h = { ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h["Content-Type"] ??= "application/json";
    const init = { method, headers: h, body: typeof body === "string" || body === undefined ? body : JSON.stringify(body) };
    // Seeding runs on a shared machine: a request whose connection failed (no answer at all) is sent
    // again, at most twice. If the first one did arrive, a repeat that may not be repeated (a spent
    // assertion, a used code) fails on its status, as any failure did before.
    let res;
    for (let attempt = 0; ; attempt++) {
      try {
        res = await fetch(`${this.url}${path}`, init);
        break;
      } catch (err) {
        if (attempt >= 2) throw err;
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      }
    }
    const text = await res.text();
    if (expect !== undefined && res.status !== expect) throw new Error(`${method} ${path}: expected ${expect}, got ${res.status} ${text.slice(0, 300)}`);
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  async registerClient() {
    const res = await this.call("POST", "/admin/v1/clients", {
      headers: this.admin,
      body: { name: "bench", scopes: ["twinning:primary", "twinning:secondary"] },
      expect: 201,
    });
    return res.json;
  }

  /** Provisions a subscriber with a fresh device key and gets it an access token with every scope. */
  async device(client, run) {
    const sub = { address: newAddress(run), key: randomBytes(32) };
    await this.call("PUT", `/admin/v1/subscribers/${enc(sub.address)}`, {
      headers: this.admin,
      body: { mno: { mcc: "001", mnc: "01" }, deviceKey: sub.key.toString("base64url") },
      expect: 201,
    });
    const res = await this.call("POST", "/oauth/token", {
      headers: { Authorization: basicAuth(client), "Content-Type": "application/x-www-form-urlencoded" },
      body: tokenForm(sub, client, this.tokenEndpoint),
      expect: 200,
    });
    sub.token = res.json.access_token;
    return sub;
  }

  /** Secondary asks for a code, primary activates with it (the use case, steps 5-7). */
  async twin(primary, secondary, name) {
    const code = await this.call("POST", `/twinning/v1/${enc(secondary.address)}/activationCodes`, { token: secondary.token, body: {}, expect: 201 });
    await this.call("POST", `/twinning/v1/${enc(primary.address)}/twins`, {
      token: primary.token,
      body: { activationCode: code.json.activationCode.code, name },
      expect: 201,
    });
  }
}

/** Runs `fn(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool(n, concurrency, fn) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}
