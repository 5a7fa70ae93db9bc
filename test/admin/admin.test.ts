import { describe, expect, it } from "vitest";
import { ADMIN, call, device, enc, newAddress, provision, registerClient, twin } from "../helpers";

const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

describe("Operator admin API", () => {
  it("provisions, reads, updates and removes a subscriber; the device key is never returned", async () => {
    const address = newAddress();
    const path = `/admin/v1/subscribers/${enc(address)}`;
    const put = await call("PUT", path, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey: key } });
    expect(put.status).toBe(201);
    expect(put.json.subscriber).toMatchObject({ address, mno: { mcc: "001", mnc: "01" }, role: "none" });
    expect(put.text).not.toContain(key);
    const update = await call("PUT", path, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "02" }, deviceKey: key } });
    expect(update.status).toBe(200);
    expect((await call("GET", path, { headers: ADMIN })).json.subscriber.mno).toEqual({ mcc: "001", mnc: "02" });
    expect((await call("DELETE", path, { headers: ADMIN })).status).toBe(204);
    expect((await call("GET", path, { headers: ADMIN })).status).toBe(404);
    expect((await call("DELETE", path, { headers: ADMIN })).status).toBe(404);
  });

  it("refuses bad provisioning input, naming the field", async () => {
    const path = `/admin/v1/subscribers/${enc(newAddress())}`;
    const short = await call("PUT", path, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey: "c2hvcnQ" } });
    expect(short.status).toBe(400);
    expect(short.json.requestError.serviceException.variables[0]).toBe("deviceKey");
    const mno = await call("PUT", path, { headers: ADMIN, body: { mno: { mcc: "01", mnc: "01" }, deviceKey: key } });
    expect(mno.json.requestError.serviceException.variables[0]).toBe("mno.mcc");
    const address = await call("PUT", `/admin/v1/subscribers/${enc("tel:5551234")}`, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey: key } });
    expect(address.json.requestError.serviceException.variables[0]).toBe("address");
  });

  it("requires the admin token", async () => {
    const path = `/admin/v1/subscribers/${enc(newAddress())}`;
    for (const headers of [{}, { Authorization: "Bearer wrong" }] as Record<string, string>[]) {
      const res = await call("GET", path, { headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
    const client = await call("POST", "/admin/v1/clients", { body: { name: "x", scopes: ["twinning:primary"] } });
    expect(client.status).toBe(401);
  });

  it("registers a client once, returning its secret; unknown scopes are refused", async () => {
    const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Watch app", scopes: ["twinning:secondary"] } });
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ name: "Watch app", scopes: ["twinning:secondary"] });
    expect(res.json.client_secret.length).toBeGreaterThanOrEqual(43);
    const bad = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "x", scopes: ["root"] } });
    expect(bad.status).toBe(400);
    expect(bad.json.requestError.serviceException.variables[0]).toBe("scopes.0");
  });

  it("removing a twinned subscriber ends its relationships on both sides", async () => {
    const client = await registerClient();
    const [p, s1, s2] = [await device(client), await device(client), await device(client)];
    await twin(p, s1);
    await twin(p, s2);
    expect((await call("DELETE", `/admin/v1/subscribers/${enc(p.address)}`, { headers: ADMIN })).status).toBe(204);
    for (const s of [s1, s2]) {
      expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(404);
      expect((await call("GET", `/admin/v1/subscribers/${enc(s.address)}`, { headers: ADMIN })).json.subscriber.role).toBe("none");
    }
    const [q, s] = [await device(client), await device(client)];
    await twin(q, s);
    await call("DELETE", `/admin/v1/subscribers/${enc(s.address)}`, { headers: ADMIN });
    expect((await call("GET", `/twinning/v1/${enc(q.address)}/twins`, { token: q.token })).json.twinList.twin).toEqual([]);
  });

  it("a re-provisioned subscriber starts clean", async () => {
    const sub = await provision();
    await call("DELETE", `/admin/v1/subscribers/${enc(sub.address)}`, { headers: ADMIN });
    const again = await call("PUT", `/admin/v1/subscribers/${enc(sub.address)}`, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey: key } });
    expect(again.status).toBe(201);
    expect(again.json.subscriber.role).toBe("none");
  });
});
