// What a client of the gateway does, as functions: provision, register, get tokens, call the API.
import { SELF } from "cloudflare:test";
import { SignJWT } from "jose";

export const ORIGIN = "http://gateway.test";
export const ADMIN = { Authorization: "Bearer dev-admin-token" };

let counter = 0;
/** A fresh E.164 address per call, so tests never share subscribers. */
export function newAddress(): string {
  counter += 1;
  return `tel:+1555${String(Date.now() % 1_000_000).padStart(6, "0")}${String(counter).padStart(4, "0")}`.slice(0, 20);
}

export interface CallOptions {
  token?: string;
  /** A string or bytes as they are; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** The body's Content-Type when `headers` names none (default application/json). */
  type?: string;
  accept?: string;
  origin?: string;
  redirect?: "follow" | "manual" | "error";
}

export async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.accept) headers.Accept = opts.accept;
  let body: string | Uint8Array | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" || opts.body instanceof Uint8Array ? opts.body : JSON.stringify(opts.body);
    headers["Content-Type"] ??= opts.type ?? "application/json";
  }
  const res = await SELF.fetch(`${opts.origin ?? ORIGIN}${path}`, { method, headers, body, ...(opts.redirect ? { redirect: opts.redirect } : {}) });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export const enc = encodeURIComponent;

export interface Subscriber {
  address: string;
  key: Uint8Array;
}

export async function provision(address = newAddress(), mno = { mcc: "001", mnc: "01" }): Promise<Subscriber> {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const deviceKey = btoa(String.fromCharCode(...key)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const res = await call("PUT", `/admin/v1/subscribers/${enc(address)}`, { headers: ADMIN, body: { mno, deviceKey } });
  if (res.status !== 201) throw new Error(`provision failed: ${res.status} ${res.text}`);
  return { address, key };
}

export interface Client {
  client_id: string;
  client_secret: string;
}

export async function registerClient(scopes = ["twinning:primary", "twinning:secondary"], name = "Test app"): Promise<Client> {
  const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name, scopes } });
  if (res.status !== 201) throw new Error(`client registration failed: ${res.status} ${res.text}`);
  return res.json;
}

export async function assertion(sub: Subscriber, client: Client, overrides: Record<string, unknown> = {}, key = sub.key) {
  return new SignJWT({ ...overrides })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(client.client_id)
    .setSubject(sub.address)
    .setAudience(`${ORIGIN}/oauth/token`)
    .setIssuedAt()
    .setExpirationTime("2m")
    .setJti(crypto.randomUUID())
    .sign(key);
}

export function basic(client: Client): string {
  return `Basic ${btoa(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`)}`;
}

/** `auth` null sends no Authorization header. */
export async function requestToken(client: Client, form: Record<string, string>, auth: string | null = basic(client)) {
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded" };
  if (auth) headers.Authorization = auth;
  const res = await SELF.fetch(`${ORIGIN}/oauth/token`, { method: "POST", headers, body: new URLSearchParams(form).toString() });
  return { status: res.status, headers: res.headers, json: (await res.json()) as any };
}

/** Without `scope`, the token carries every scope the client is registered for. */
export async function token(sub: Subscriber, client: Client, scope?: string): Promise<string> {
  const form: Record<string, string> = { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: await assertion(sub, client) };
  if (scope) form.scope = scope;
  const res = await requestToken(client, form);
  if (res.status !== 200) throw new Error(`token failed: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json.access_token;
}

/** A provisioned subscriber with a token for every scope of `client`. */
export async function device(client: Client) {
  const sub = await provision();
  return { ...sub, token: await token(sub, client) };
}

export type Device = Awaited<ReturnType<typeof device>>;

export async function requestCode(secondary: Device, body?: unknown) {
  return call("POST", `/twinning/v1/${enc(secondary.address)}/activationCodes`, { token: secondary.token, body: body ?? {} });
}

export async function activate(primary: Device, code: string, name?: string) {
  return call("POST", `/twinning/v1/${enc(primary.address)}/twins`, { token: primary.token, body: name ? { activationCode: code, name } : { activationCode: code } });
}

/** Twins `secondary` to `primary` through the API, as the use case does. */
export async function twin(primary: Device, secondary: Device, name?: string) {
  const code = await requestCode(secondary);
  if (code.status !== 201) throw new Error(`code failed: ${code.status} ${code.text}`);
  const res = await activate(primary, code.json.activationCode.code, name);
  if (res.status !== 201) throw new Error(`activation failed: ${res.status} ${res.text}`);
  return res.json.twin;
}
