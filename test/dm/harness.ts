// The gateway side of the DM tests: provisioning devices, northbound jobs and notifications, and a
// DmClient wired to the Worker through SELF.fetch.
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import { ADMIN, call, enc, ORIGIN } from "../helpers";
import { DmClient, type AuthType, type DmClientOptions, type SessionResult } from "./simulator";
import { story } from "./transcript";

export const SERVER_URL = `${ORIGIN}/dm`;
export const SERVER_ID = "oma-edge";
export const dmFetch = (url: string, init: RequestInit) => SELF.fetch(url, init);

let counter = 0;
/** A fresh IMEI-style device id per call (15 digits), so tests never share devices. */
export function newDevId(): string {
  counter += 1;
  const digits = `${Date.now() % 1e9}`.padStart(9, "0") + `${counter}`.padStart(4, "0") + `${Math.floor(Math.random() * 100)}`.padStart(2, "0");
  return `IMEI:${digits.slice(-15)}`;
}

export interface Credentials {
  authType: AuthType;
  clientUsername: string;
  clientPassword: string;
  serverPassword: string;
}

export async function registerDevice(devId: string, creds: Credentials, extra: Record<string, unknown> = {}) {
  const res = await call("PUT", `/admin/v1/devices/${enc(devId)}`, {
    headers: ADMIN,
    body: { serverId: SERVER_ID, authType: creds.authType, clientUsername: creds.clientUsername, clientPassword: creds.clientPassword, serverPassword: creds.serverPassword, ...extra },
  });
  if (res.status !== 201) throw new Error(`device registration failed: ${res.status} ${res.text}`);
  return res;
}

/** A registered device and its simulator with the matching credentials (override anything). */
export async function device(authType: AuthType = "syncml:auth-basic", overrides: Partial<DmClientOptions> = {}) {
  const devId = overrides.devId ?? newDevId();
  const creds: Credentials = {
    authType,
    clientUsername: `user-${devId.slice(-6)}`,
    clientPassword: `client-secret-${devId.slice(-4)}`,
    serverPassword: `server-secret-${devId.slice(-4)}`,
  };
  await registerDevice(devId, creds);
  const client = new DmClient({
    devId, serverUrl: SERVER_URL, encoding: "xml", authType, username: creds.clientUsername, password: creds.clientPassword,
    serverId: SERVER_ID, serverPassword: creds.serverPassword, fetch: dmFetch, maxMsgSize: 16_000, maxObjSize: 4_000_000,
    ...overrides,
  });
  return { devId, creds, client };
}

export interface JobCommand {
  kind: string;
  target?: string;
  source?: string;
  data?: string;
  format?: string;
  type?: string;
  correlator?: string;
  code?: string;
  items?: string[];
  options?: string;
  commands?: JobCommand[];
}

export async function createJob(devId: string, commands: JobCommand[]) {
  const res = await call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands } });
  expect(res.status, res.text).toBe(201);
  expect(res.json.job).toMatchObject({ state: "queued" });
  expect(typeof res.json.job.jobId).toBe("string");
  return res.json.job as { jobId: string; state: string; resourceURL: string };
}

export async function getJob(devId: string, jobId: string) {
  const res = await call("GET", `/dm/v1/devices/${enc(devId)}/jobs/${enc(jobId)}`, { headers: ADMIN });
  expect(res.status, res.text).toBe(200);
  return res.json.job as { jobId: string; state: string; commands: any[] };
}

export async function notify(devId: string, body: Record<string, unknown> = {}) {
  const res = await call("POST", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN, body });
  expect(res.status, res.text).toBe(201);
  return res.json.notification as { id: string; sessionId: string; package0: string; contentType: string; wspContentType: number };
}

export async function notifications(devId: string) {
  const res = await call("GET", `/dm/v1/devices/${enc(devId)}/notifications`, { headers: ADMIN });
  expect(res.status, res.text).toBe(200);
  return res.json.notificationList as { id: string; sessionId: string; package0: string }[];
}

export async function tree(devId: string): Promise<Record<string, { value: string; format?: string; type?: string }>> {
  const res = await call("GET", `/dm/v1/devices/${enc(devId)}/tree`, { headers: ADMIN });
  expect(res.status, res.text).toBe(200);
  return res.json.tree;
}

/** Raw POST to the device endpoint. */
export async function postDm(body: BodyInit, contentType: string, url = SERVER_URL) {
  const res = await SELF.fetch(url, { method: "POST", headers: { "Content-Type": contentType }, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A session that ran to its end with nothing a conforming server would not send; prints the story otherwise. */
export { story };

export function expectClean(s: SessionResult, outcome: SessionResult["outcome"] = "completed") {
  expect({ outcome: s.outcome, violations: s.violations, error: s.error }, story(s)).toEqual({ outcome, violations: [], error: undefined });
}

/** The job command whose kind (and target) match, searched depth-first. */
export function jobCommand(job: { commands: any[] }, kind: string, target?: string): any {
  const walk = (cmds: any[]): any => {
    for (const c of cmds) {
      if (c.kind === kind && (target === undefined || c.target === target)) return c;
      if (c.children) {
        const f = walk(c.children);
        if (f) return f;
      }
    }
    return undefined;
  };
  return walk(job.commands);
}
