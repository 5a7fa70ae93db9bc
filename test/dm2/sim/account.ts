// The DM account's side of the resources (x.1.1 session lists, x.1.2 devices): what the device's owner,
// or the device itself, does with its credentials. Raw answers are returned so tests see every status.

import { AuthClient, type AuthScheme, type Fetcher } from "./http-auth";

export interface Answer<T = unknown> {
  status: number;
  contentType: string | null;
  headers: Headers;
  text: string;
  json?: T;
}

export interface DeviceInfo {
  devId: string;
  name?: string;
  protocol: "DM2.0" | "DM1.2" | "both";
  manufacturer?: string;
  model?: string;
  resourceURL: string;
}

export interface SessionInfo {
  sessionId: string;
  devId: string;
  state: string;
  initiator: string;
  packages: number;
  notification?: { package0: string; sessionNum: number };
  result?: { outcome: "OK" | "failure"; reason?: string; commands: number; succeeded: number; failed: number };
}

export class Dm2Account {
  readonly http: AuthClient;
  readonly root: string;

  constructor(gateway: string, account: string, password: string, scheme: AuthScheme = "digest", fetcher: Fetcher = (u, i) => fetch(u, i)) {
    this.http = new AuthClient(fetcher, { user: account, password }, scheme);
    this.root = `${gateway.replace(/\/+$/, "")}/dm/v2`;
  }

  async call<T = unknown>(method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}): Promise<Answer<T>> {
    const res = await this.http.request(path.startsWith("http") ? path : `${this.root}${path}`, { method, headers: init.headers, body: init.body });
    const text = await res.text();
    const contentType = res.headers.get("Content-Type");
    let json: T | undefined;
    if (contentType?.includes("json") && text) json = JSON.parse(text) as T;
    return { status: res.status, contentType, headers: res.headers, text, json };
  }

  /** POST /devices/new as the HTML form posts it (application/x-www-form-urlencoded). */
  registerWithForm(fields: Record<string, string>, accept = "application/json"): Promise<Answer<{ device: DeviceInfo }>> {
    return this.call("POST", "/devices/new", {
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: accept },
      body: new URLSearchParams(fields).toString(),
    });
  }

  async devices(): Promise<DeviceInfo[]> {
    const a = await this.call<{ deviceList: DeviceInfo[] }>("GET", "/devices", { headers: { Accept: "application/json" } });
    if (a.status !== 200) throw new Error(`GET /devices: ${a.status} ${a.text}`);
    return a.json!.deviceList;
  }

  device(devId: string, accept = "application/json"): Promise<Answer<{ device: DeviceInfo }>> {
    return this.call("GET", `/devices/${encodeURIComponent(devId)}`, { headers: { Accept: accept } });
  }

  updateDevice(devId: string, fields: Record<string, string>): Promise<Answer<{ device: DeviceInfo }>> {
    return this.call("PUT", `/devices/${encodeURIComponent(devId)}`, { headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(fields) });
  }

  unregister(devId: string): Promise<Answer> {
    return this.call("DELETE", `/devices/${encodeURIComponent(devId)}`);
  }

  async pending(): Promise<SessionInfo[]> {
    const a = await this.call<{ sessionList: SessionInfo[] }>("GET", "/sessions/pending", { headers: { Accept: "application/json" } });
    if (a.status !== 200) throw new Error(`GET /sessions/pending: ${a.status} ${a.text}`);
    return a.json!.sessionList;
  }

  async completed(): Promise<SessionInfo[]> {
    const a = await this.call<{ sessionList: SessionInfo[] }>("GET", "/sessions/completed", { headers: { Accept: "application/json" } });
    if (a.status !== 200) throw new Error(`GET /sessions/completed: ${a.status} ${a.text}`);
    return a.json!.sessionList;
  }
}
