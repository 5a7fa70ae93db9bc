// Issue 18, "What an operator needs": list (paginated), read and delete subscribers, clients and
// devices; rotate a client's secret; a subscriber's twins and grants; every admin action audited.
import { describe, expect, it } from "vitest";
import { ADMIN, basic, call, device, enc, provision, registerClient, requestToken, token, twin } from "../helpers";
import { codeGrant, registerWebApp, tokenRequest } from "../oauth/flows";

/** A fresh number range, so this file's listings hold only what it provisioned. */
const range = () => `tel:+1777${String(Math.floor(Math.random() * 1e6)).padStart(6, "0")}`;

const dmAccount = (devId: string) => ({ serverId: "oma-edge", authType: "syncml:auth-md5", clientUsername: devId, clientPassword: "device-secret", serverPassword: "server-secret" });

describe("Operator admin API: listings, reads and removals", () => {
  it("lists subscribers a page at a time with a cursor, finds them by the start of the number, and a removed one leaves the list", async () => {
    const prefix = range();
    const addresses = ["01", "02", "03", "04", "05"].map((n) => `${prefix}${n}`);
    for (const a of addresses) await provision(a);
    const first = await call("GET", `/admin/v1/subscribers?limit=2&prefix=${enc(prefix)}`, { headers: ADMIN });
    expect(first.status).toBe(200);
    expect(first.json.subscribers.map((s: any) => s.address)).toEqual(addresses.slice(0, 2));
    expect(first.json.subscribers[0]).toMatchObject({ mno: { mcc: "001", mnc: "01" }, role: "none" });
    const seen: string[] = [...first.json.subscribers.map((s: any) => s.address)];
    let cursor = first.json.cursor;
    while (cursor) {
      const next = await call("GET", `/admin/v1/subscribers?limit=2&prefix=${enc(prefix)}&cursor=${enc(cursor)}`, { headers: ADMIN });
      seen.push(...next.json.subscribers.map((s: any) => s.address));
      cursor = next.json.cursor;
    }
    expect(seen).toEqual(addresses);
    expect((await call("DELETE", `/admin/v1/subscribers/${enc(addresses[2]!)}`, { headers: ADMIN })).status).toBe(204);
    const after = await call("GET", `/admin/v1/subscribers?prefix=${enc(prefix)}`, { headers: ADMIN });
    expect(after.json.subscribers.map((s: any) => s.address)).toEqual([addresses[0], addresses[1], addresses[3], addresses[4]]);
    expect(after.json.cursor).toBeUndefined();
  });

  it("refuses a bad page request with the OMA envelope naming the parameter", async () => {
    const res = await call("GET", "/admin/v1/subscribers?limit=1000", { headers: ADMIN });
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables[0]).toBe("limit");
    const cursor = await call("GET", "/admin/v1/clients?cursor=%25%25", { headers: ADMIN });
    expect(cursor.status).toBe(400);
    expect(cursor.json.requestError.serviceException.variables[0]).toBe("cursor");
    expect((await call("GET", "/admin/v1/devices")).status).toBe(401);
  });

  it("lists, reads (never the secret) and removes a client; a removed client gets no token", async () => {
    const client = await registerClient(["twinning:primary"], "Listed app");
    const sub = await provision();
    const list = await call("GET", `/admin/v1/clients?prefix=${enc(client.client_id)}`, { headers: ADMIN });
    expect(list.json.clients).toEqual([expect.objectContaining({ client_id: client.client_id, name: "Listed app", scopes: ["twinning:primary"] })]);
    const read = await call("GET", `/admin/v1/clients/${enc(client.client_id)}`, { headers: ADMIN });
    expect(read.status).toBe(200);
    expect(read.text).not.toContain(client.client_secret);
    expect(read.json.client_secret).toBeUndefined();
    await token(sub, client);
    expect((await call("DELETE", `/admin/v1/clients/${enc(client.client_id)}`, { headers: ADMIN })).status).toBe(204);
    expect((await call("GET", `/admin/v1/clients/${enc(client.client_id)}`, { headers: ADMIN })).status).toBe(404);
    expect((await call("GET", `/admin/v1/clients?prefix=${enc(client.client_id)}`, { headers: ADMIN })).json.clients).toEqual([]);
    await expect(token(sub, client)).rejects.toThrow(/401/);
    expect((await call("DELETE", `/admin/v1/clients/${enc(client.client_id)}`, { headers: ADMIN })).status).toBe(404);
  });

  it("rotating a client's secret: the new one, shown once, authenticates; the old one stops at once", async () => {
    const client = await registerClient(["twinning:primary"]);
    const sub = await provision();
    await token(sub, client);
    const rotated = await call("POST", `/admin/v1/clients/${enc(client.client_id)}/secret`, { headers: ADMIN });
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get("cache-control")).toBe("no-store");
    const fresh = { client_id: client.client_id, client_secret: rotated.json.client_secret as string };
    expect(fresh.client_secret.length).toBeGreaterThanOrEqual(43);
    expect(fresh.client_secret).not.toBe(client.client_secret);
    const old = await requestToken(client, { grant_type: "client_credentials" }, basic(client));
    expect(old.status).toBe(401);
    expect(await token(sub, fresh)).toBeTruthy();
    expect((await call("GET", `/admin/v1/clients/${enc(client.client_id)}`, { headers: ADMIN })).text).not.toContain(fresh.client_secret);
    const publicClient = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Public", scopes: ["twinning:secondary"], token_endpoint_auth_method: "none", grant_types: ["urn:ietf:params:oauth:grant-type:device_code"] } });
    expect(publicClient.status, publicClient.text).toBe(201);
    expect((await call("POST", `/admin/v1/clients/${enc(publicClient.json.client_id)}/secret`, { headers: ADMIN })).status).toBe(404);
  });

  it("lists, reads and removes managed devices", async () => {
    const stem = `IMEI:777${String(Math.floor(Math.random() * 1e9)).padStart(9, "0")}`;
    const ids = [`${stem}1`, `${stem}2`, `${stem}3`];
    for (const id of ids) expect((await call("PUT", `/admin/v1/devices/${enc(id)}`, { headers: ADMIN, body: dmAccount(id) })).status).toBe(201);
    const first = await call("GET", `/admin/v1/devices?limit=2&prefix=${enc(stem)}`, { headers: ADMIN });
    expect(first.json.devices.map((d: any) => d.devId)).toEqual(ids.slice(0, 2));
    expect(first.text).not.toContain("device-secret");
    const second = await call("GET", `/admin/v1/devices?limit=2&prefix=${enc(stem)}&cursor=${enc(first.json.cursor)}`, { headers: ADMIN });
    expect(second.json.devices.map((d: any) => d.devId)).toEqual([ids[2]]);
    expect((await call("DELETE", `/admin/v1/devices/${enc(ids[0]!)}`, { headers: ADMIN })).status).toBe(204);
    expect((await call("GET", `/admin/v1/devices?prefix=${enc(stem)}`, { headers: ADMIN })).json.devices.map((d: any) => d.devId)).toEqual(ids.slice(1));
  });
});

describe("Operator admin API: a subscriber's twins and grants", () => {
  it("shows a primary's twins and a secondary's primary; the operator ends a twin on both sides", async () => {
    const client = await registerClient();
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "watch");
    const twins = await call("GET", `/admin/v1/subscribers/${enc(p.address)}/twins`, { headers: ADMIN });
    expect(twins.status).toBe(200);
    expect(twins.json.twins).toEqual([expect.objectContaining({ twinId: s.address, name: "watch", status: "On", statusChangedBy: "primary" })]);
    const secondary = await call("GET", `/admin/v1/subscribers/${enc(s.address)}/twins`, { headers: ADMIN });
    expect(secondary.json).toMatchObject({ twins: [], relationship: { primary: p.address, name: "watch", status: "On" } });
    expect((await call("DELETE", `/admin/v1/subscribers/${enc(p.address)}/twins/watch`, { headers: ADMIN })).status).toBe(204);
    expect((await call("GET", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token })).json.twinList.twin).toEqual([]);
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(404);
    const again = await call("DELETE", `/admin/v1/subscribers/${enc(p.address)}/twins/watch`, { headers: ADMIN });
    expect(again.status).toBe(404);
    expect(again.json.requestError.serviceException.variables[0]).toBe("twinId");
    expect((await call("GET", `/admin/v1/subscribers/${enc(range())}99/twins`, { headers: ADMIN })).status).toBe(404);
  });

  it("lists a subscriber's grants without any token value, and revoking one ends its refresh and access tokens", async () => {
    const client = await registerWebApp();
    const sub = await provision();
    const tokens = await codeGrant(client, sub);
    const list = await call("GET", `/admin/v1/subscribers/${enc(sub.address)}/tokens`, { headers: ADMIN });
    expect(list.status).toBe(200);
    expect(list.json.grants).toEqual([expect.objectContaining({ clientId: client.client_id, scope: "twinning:primary", active: true })]);
    expect(list.text).not.toContain(tokens.refresh_token);
    expect(list.text).not.toContain(tokens.access_token);
    const familyId = list.json.grants[0].familyId as string;
    expect((await call("DELETE", `/admin/v1/subscribers/${enc(sub.address)}/tokens/${enc(familyId)}`, { headers: ADMIN })).status).toBe(204);
    expect((await tokenRequest(client, { grant_type: "refresh_token", refresh_token: tokens.refresh_token })).status).toBe(400);
    expect((await call("GET", `/twinning/v1/${enc(sub.address)}/twins`, { token: tokens.access_token })).status).toBe(401);
    const after = await call("GET", `/admin/v1/subscribers/${enc(sub.address)}/tokens`, { headers: ADMIN });
    expect(after.json.grants[0]).toMatchObject({ familyId, active: false });
    expect(after.json.grants[0].revokedAt).toBeTruthy();
    const other = await provision();
    expect((await call("DELETE", `/admin/v1/subscribers/${enc(other.address)}/tokens/${enc(familyId)}`, { headers: ADMIN })).status).toBe(404);
  });
});

describe("Operator admin API: the audit log", () => {
  it("records every admin action (who, what, when, outcome) and every refusal, never a secret, newest first and paginated", async () => {
    const client = await registerClient(["twinning:primary"], "Audited app");
    const target = `/admin/v1/clients/${client.client_id}`;
    const rotated = await call("POST", `/admin/v1/clients/${enc(client.client_id)}/secret`, { headers: ADMIN });
    await call("DELETE", `/admin/v1/clients/${enc(client.client_id)}`, { headers: { Authorization: "Bearer not-the-admin-token" } });
    await call("DELETE", `/admin/v1/clients/${enc(client.client_id)}`, { headers: ADMIN });
    await call("DELETE", `/admin/v1/clients/${enc(client.client_id)}`, { headers: ADMIN });
    const log = await call("GET", `/admin/v1/audit?target=${enc(target)}`, { headers: ADMIN });
    expect(log.status).toBe(200);
    expect(log.json.entries.map((e: any) => [e.actor, e.action, e.status, e.outcome])).toEqual([
      ["admin", "DELETE /admin/v1/clients/:clientId", 404, "failed"],
      ["admin", "DELETE /admin/v1/clients/:clientId", 204, "ok"],
      ["anonymous", "DELETE /admin/v1/clients/:clientId", 401, "refused"],
      ["admin", "POST /admin/v1/clients/:clientId/secret", 200, "ok"],
    ]);
    const [failed] = log.json.entries;
    expect(failed.detail).toMatch(/clientId/);
    expect(failed.target).toBe(target);
    expect(Date.parse(failed.time)).toBe(failed.at);
    expect(failed.correlator).toBeTruthy();
    for (const secret of [client.client_secret, rotated.json.client_secret, "not-the-admin-token", "dev-admin-token"]) expect(log.text).not.toContain(secret);
    const registered = await call("GET", `/admin/v1/audit?target=${enc("/admin/v1/clients")}&limit=1`, { headers: ADMIN });
    expect(registered.json.entries).toHaveLength(1);
    const older = await call("GET", `/admin/v1/audit?target=${enc("/admin/v1/clients")}&limit=1&cursor=${registered.json.cursor}`, { headers: ADMIN });
    expect(older.json.entries[0].seq).toBeLessThan(registered.json.entries[0].seq);
    const reads = await call("GET", `/admin/v1/audit?target=${enc(target)}&actor=anonymous`, { headers: ADMIN });
    expect(reads.json.entries).toHaveLength(1);
    expect((await call("GET", "/admin/v1/audit")).status).toBe(401);
  });
});
