// What a DM 2.0 client of the gateway does, as functions: an operator creates a DM account, a device
// (or a browser) logs in with HTTP Basic or Digest (RFC 7616, computed here from the challenge as
// any HTTP client would) and calls the /dm/v2 resources.
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import { ADMIN, call, enc } from "../helpers";

/** DM 2.0 requires TLS; requests to the test Worker carry an https origin (Basic is refused otherwise). */
export const TLS_ORIGIN = "https://gateway.test";
export const INITIATION = "application/vnd.oma.dm.initiation+json";
export const REQUEST = "application/vnd.oma.dm.request+json";
export const RESPONSE = "application/vnd.oma.dm.response+json";
export const SEED = "application/vnd.omadm-cmd+json";

let counter = 0;
export function newAccountId(): string {
  counter += 1;
  return `acct-${Date.now().toString(36)}-${counter}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export interface Account {
  accountId: string;
  password: string;
}

export async function createAccount(extra: Record<string, unknown> = {}): Promise<Account> {
  const accountId = newAccountId();
  const password = `pw-${accountId}-secret`;
  const res = await SELF.fetch(`${TLS_ORIGIN}/admin/v1/dm-accounts/${enc(accountId)}`, {
    method: "PUT", headers: { ...ADMIN, "Content-Type": "application/json" }, body: JSON.stringify({ password, ...extra }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return { accountId, password };
}

export const basicAuth = (a: Account) => `Basic ${btoa(`${a.accountId}:${a.password}`)}`;

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
export const sha256 = async (s: string) => hex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));

/** The Digest challenge among a 401's WWW-Authenticate headers, parsed. */
export function digestChallenge(res: Response): Record<string, string> {
  const all = res.headers.get("www-authenticate") ?? "";
  const start = all.indexOf("Digest ");
  expect(start, `no Digest challenge in ${all}`).toBeGreaterThanOrEqual(0);
  const params: Record<string, string> = {};
  for (const m of all.slice(start + 7).matchAll(/([a-z]+)=(?:"([^"]*)"|([^\s,]+))/gi)) {
    if (m[1]!.toLowerCase() in params) break; // the next challenge (Basic realm=...) begins
    params[m[1]!.toLowerCase()] = m[2] ?? m[3]!;
  }
  return params;
}

/** RFC 7616 §3.4 response for SHA-256, qop=auth. */
export async function digestHeader(a: Account, ch: Record<string, string>, method: string, uri: string, nc = 1, cnonce = crypto.randomUUID().replace(/-/g, "")) {
  const ha1 = await sha256(`${a.accountId}:${ch.realm}:${a.password}`);
  const ha2 = await sha256(`${method}:${uri}`);
  const ncs = nc.toString(16).padStart(8, "0");
  const response = await sha256(`${ha1}:${ch.nonce}:${ncs}:${cnonce}:auth:${ha2}`);
  return `Digest username="${a.accountId}", realm="${ch.realm}", nonce="${ch.nonce}", uri="${uri}", algorithm=SHA-256, qop=auth, nc=${ncs}, cnonce="${cnonce}", response="${response}", opaque="${ch.opaque}"`;
}

export type Dm2Response = Awaited<ReturnType<typeof call>>;

/** A request with Basic credentials over TLS (test/helpers.ts's call, as a DM 2.0 client sends it). */
export function dm2(a: Account | null, method: string, path: string, opts: { body?: unknown; type?: string; accept?: string; headers?: Record<string, string>; origin?: string } = {}): Promise<Dm2Response> {
  return call(method, path, {
    ...opts,
    headers: { ...(opts.headers ?? {}), ...(a ? { Authorization: basicAuth(a) } : {}) },
    type: opts.type ?? INITIATION,
    origin: opts.origin ?? TLS_ORIGIN,
    redirect: "manual",
  });
}

export async function registerDevice(a: Account, devId: string, fields: Record<string, string> = {}) {
  const res = await dm2(a, "POST", "/dm/v2/devices/new", { body: new URLSearchParams({ devId, protocol: "DM2.0", ...fields }).toString(), type: "application/x-www-form-urlencoded", accept: "application/json" });
  expect(res.status, res.text).toBe(201);
  return res.json.device;
}

let devCounter = 0;
export function newDevId(): string {
  devCounter += 1;
  return `IMEI:35${`${Date.now() % 1e9}`.padStart(9, "0")}${`${devCounter}`.padStart(3, "0")}${Math.floor(Math.random() * 10)}`.slice(0, 20);
}
