// The operator's side for the simulator's tests, over any fetch (SELF.fetch in workerd, fetch against
// wrangler dev): DM accounts through the admin API, northbound jobs and notifications.

import { Dm2Account } from "./account";
import type { Fetcher } from "./http-auth";
import { Dm2Device, type Dm2DeviceOptions } from "./simulator";
import type { TreeNode } from "./tree";

export const ADMIN_TOKEN = "dev-admin-token";

export interface JobCommandDoc {
  kind: string;
  target?: string;
  status?: string;
  error?: string;
  results?: { source: string; data: string; format?: string; type?: string }[];
  alerts?: { type?: string; source?: string; format?: string; data?: string }[];
  children?: JobCommandDoc[];
}

export interface JobDoc {
  jobId: string;
  state: string;
  attempts: number;
  commands: JobCommandDoc[];
  reason?: string;
}

let counter = 0;
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}-${Math.random().toString(36).slice(2, 6)}`;
}

export class Operator {
  constructor(
    readonly gateway: string,
    readonly fetcher: Fetcher,
  ) {}

  private async admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; text: string }> {
    const res = await this.fetcher(`${this.gateway}${path}`, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, text, json: text && res.headers.get("Content-Type")?.includes("json") ? JSON.parse(text) : undefined };
  }

  /** A new DM account and its owner's client. */
  async account(password = "simulated account password"): Promise<{ accountId: string; password: string; owner: Dm2Account }> {
    const accountId = uniqueId("sim");
    const r = await this.admin("PUT", `/admin/v1/dm-accounts/${accountId}`, { password });
    if (r.status !== 201) throw new Error(`PUT dm-account: ${r.status} ${r.text}`);
    return { accountId, password, owner: new Dm2Account(this.gateway, accountId, password, "digest", this.fetcher) };
  }

  /** A new account with one registered DM 2.0 device, and that device's simulator. */
  async device(tree: Record<string, string | TreeNode> = {}, extra: Partial<Dm2DeviceOptions> = {}) {
    const acct = await this.account();
    const devId = `IMEI:${uniqueId("35")}`;
    const reg = await acct.owner.registerWithForm({ devId, name: "Simulated", protocol: "DM2.0" });
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${reg.text}`);
    const device = new Dm2Device({ gateway: this.gateway, account: acct.accountId, password: acct.password, devId, fetch: this.fetcher, tree, ...extra });
    return { ...acct, devId, device };
  }

  async queueJob(devId: string, commands: unknown[], extra: Record<string, unknown> = {}): Promise<JobDoc> {
    const r = await this.admin("POST", `/dm/v1/devices/${encodeURIComponent(devId)}/jobs`, { commands, ...extra });
    if (r.status !== 201) throw new Error(`POST job: ${r.status} ${r.text}`);
    return r.json.job;
  }

  async job(devId: string, jobId: string): Promise<JobDoc> {
    const r = await this.admin("GET", `/dm/v1/devices/${encodeURIComponent(devId)}/jobs/${jobId}`);
    if (r.status !== 200) throw new Error(`GET job: ${r.status} ${r.text}`);
    return r.json.job;
  }

  async notify(devId: string): Promise<{ sessionId: string; package0: string; id: string }> {
    const r = await this.admin("POST", `/dm/v1/devices/${encodeURIComponent(devId)}/notifications`, {});
    if (r.status !== 201 && r.status !== 200) throw new Error(`POST notification: ${r.status} ${r.text}`);
    return r.json.notification;
  }

  async outbox(devId: string): Promise<{ package0: string }[]> {
    const r = await this.admin("GET", `/dm/v1/devices/${encodeURIComponent(devId)}/notifications`);
    if (r.status !== 200) throw new Error(`GET notifications: ${r.status} ${r.text}`);
    return (r.json.notificationList ?? r.json.notifications ?? []) as { package0: string }[];
  }
}
