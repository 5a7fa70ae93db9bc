// DM 2.0 over TLS, as the seed requires (x.2: "MUST communicate ... using TLS"): `wrangler dev
// --local-protocol https` (what `npm start -- --local-protocol https` runs) serves the /dm/v2
// resources, and a device runs a whole client-initiated session over it with HTTP Basic, which the
// gateway accepts only over TLS off loopback.
import { request } from "node:https";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
  tls: { protocol: string | null; authorized: boolean };
}

/** One HTTPS request; the run's self-signed certificate is accepted, the connection is TLS all the same. */
function tls(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const url = path.startsWith("https:") ? new URL(path) : new URL(path, base);
  return new Promise((resolveAnswer, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}) }, rejectUnauthorized: false }, (res) => {
      const socket = res.socket as import("node:tls").TLSSocket;
      const info = { protocol: socket.getProtocol?.() ?? null, authorized: socket.authorized };
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => {
        let json: any;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolveAnswer({ status: res.statusCode ?? 0, headers: res.headers, text, json, tls: info });
      });
    });
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe("DM 2.0 over TLS (npm start -- --local-protocol https)", () => {
  let server: DevServer;
  let persist: string;
  const admin = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };
  const accountId = `tls-${Date.now().toString(36)}`;
  const password = "a long TLS-only password";
  const basic = { Authorization: `Basic ${Buffer.from(`${accountId}:${password}`).toString("base64")}` };
  const devId = `IMEI:35${Date.now() % 1e13}`;

  beforeAll(async () => {
    persist = await mkdtemp(join(tmpdir(), "oma-edge-dm2-tls-"));
    server = await startDevServer({ persistTo: persist, localProtocol: "https" });
  });

  afterAll(async () => {
    await server?.stop();
    if (persist) await rm(persist, { recursive: true, force: true });
  });

  it("a client-initiated session over TLS: the job's commands out, the device's statuses and value in, END", async () => {
    expect(server.url).toMatch(/^https:\/\//);
    const put = await tls(server.url, "PUT", `/admin/v1/dm-accounts/${accountId}`, admin, JSON.stringify({ password }));
    expect(put.status, put.text).toBe(201);
    expect(put.tls.protocol).toMatch(/^TLSv1\.[23]$/);
    const reg = await tls(server.url, "POST", "/dm/v2/devices/new", { ...basic, "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" }, new URLSearchParams({ devId, name: "TLS phone" }).toString());
    expect(reg.status, reg.text).toBe(201);
    const job = await tls(server.url, "POST", `/dm/v1/devices/${encodeURIComponent(devId)}/jobs`, admin, JSON.stringify({ commands: [{ kind: "Get", target: "./DevInfo/Mod" }, { kind: "Replace", target: "./Vendor/Mode", data: "eco" }] }));
    expect(job.status, job.text).toBe(201);

    const start = await tls(server.url, "POST", "/dm/v2/sessions/next", { ...basic, "OMADM-DevID": devId, "Content-Type": "application/vnd.oma.dm.initiation+json", Accept: "application/vnd.oma.dm.request+json" },
      JSON.stringify({ Alert: [{ AlertType: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" }] }));
    expect(start.status, start.text).toBe(200);
    expect(start.headers["content-type"]).toBe("application/vnd.oma.dm.request+json");
    const [hput, hget, cont] = start.json.CMD;
    expect([hput[0], hget[0], cont[0]]).toEqual(["HPUT", "HGET", "CONT"]);
    // every ServerURI the device is given is an https one on this server
    for (const u of [hput[2], hget[1], cont[1]]) expect(u, JSON.stringify(start.json)).toMatch(new RegExp(`^${server.url}/dm/v2/sessions/id/`));
    expect((await tls(server.url, "PUT", hput[2], { ...basic, "Content-Type": "text/plain" }, "TLS-9000")).status).toBe(204);
    const value = await tls(server.url, "GET", hget[1], basic);
    expect(value.text).toBe("eco");
    const end = await tls(server.url, "PUT", cont[1], { ...basic, "Content-Type": "application/vnd.oma.dm.response+json" }, JSON.stringify({ Status: [{ sc: 200 }, { sc: 200 }] }));
    expect(end.json).toEqual({ CMD: [["END"]] });

    const done = await tls(server.url, "GET", `/dm/v1/devices/${encodeURIComponent(devId)}/jobs/${job.json.job.jobId}`, admin);
    expect(done.json.job.state).toBe("done");
    expect(done.json.job.commands[0].results).toEqual([{ source: "./DevInfo/Mod", data: "TLS-9000", format: "chr", type: "text/plain" }]);
    const completed = await tls(server.url, "GET", "/dm/v2/sessions/completed", basic);
    expect(completed.json.sessionList[0]).toMatchObject({ devId, state: "completed", result: { outcome: "OK", commands: 2 } });
  });
});
