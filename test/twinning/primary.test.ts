import { describe, expect, it } from "vitest";
import { activate, call, device, enc, registerClient, requestCode, twin } from "../helpers";

const client = await registerClient();

describe("Primary device API", () => {
  it("HLF-PD-001: the primary activates a twin with the secondary's code; status On by default", async () => {
    const p = await device(client);
    const s = await device(client);
    const code = await requestCode(s);
    const res = await activate(p, code.json.activationCode.code, "my-watch");
    expect(res.status).toBe(201);
    expect(res.json.twin).toMatchObject({ secondary: s.address, name: "my-watch", status: "On", secondaryMno: { mcc: "001", mnc: "01" } });
    expect(res.headers.get("location")).toBe(res.json.twin.resourceURL);
    expect(res.json.twin.resourceURL).toBe(`http://gateway.test/twinning/v1/${enc(p.address)}/twins/${enc(s.address)}`);
  });

  it("HLF-PD-003/PD-006: the primary lists several twins with address, name and status", async () => {
    const p = await device(client);
    const [a, b, c] = [await device(client), await device(client), await device(client)];
    await twin(p, a, "watch");
    await twin(p, b, "car");
    await twin(p, c);
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/car/status`, { token: p.token, body: { status: "Off" } });
    const res = await call("GET", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token });
    expect(res.status).toBe(200);
    const list = res.json.twinList.twin.map((t: any) => [t.secondary, t.name, t.status]);
    expect(list).toEqual([
      [a.address, "watch", "On"],
      [b.address, "car", "Off"],
      [c.address, "twin-1", "On"],
    ]);
    expect(res.json.twinList.resourceURL).toBe(`http://gateway.test/twinning/v1/${enc(p.address)}/twins`);
  });

  it("HLF-PD-003: a twin is found by its MSISDN and by its name (case-insensitive)", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s, "My-Car");
    const byAddress = await call("GET", `/twinning/v1/${enc(p.address)}/twins/${enc(s.address)}`, { token: p.token });
    const byName = await call("GET", `/twinning/v1/${enc(p.address)}/twins/my-car`, { token: p.token });
    expect(byAddress.status).toBe(200);
    expect(byName.json).toEqual(byAddress.json);
    const unknown = await call("GET", `/twinning/v1/${enc(p.address)}/twins/nope`, { token: p.token });
    expect(unknown.status).toBe(404);
    expect(unknown.json.requestError.serviceException.variables[0]).toBe("twinId");
  });

  it("HLF-PD-002/TE-002/TE-003: toggling Off keeps the relationship; the secondary sees the change", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s, "watch");
    const off = await call("PUT", `/twinning/v1/${enc(p.address)}/twins/watch/status`, { token: p.token, body: { status: "Off" } });
    expect(off.status).toBe(200);
    expect(off.json.twin).toMatchObject({ status: "Off", statusChangedBy: "primary" });
    const rel = await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    expect(rel.status).toBe(200);
    expect(rel.json.relationship).toMatchObject({ primary: p.address, status: "Off" });
    const list = await call("GET", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token });
    expect(list.json.twinList.twin).toHaveLength(1);
    const on = await call("PUT", `/twinning/v1/${enc(p.address)}/twins/${enc(s.address)}/status`, { token: p.token, body: { status: "On" } });
    expect(on.json.twin.status).toBe("On");
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.status).toBe("On");
  });

  it("HLF-PD-002: toggling to the current status is a no-op that still answers 200", async () => {
    const p = await device(client);
    const s = await device(client);
    const t = await twin(p, s);
    const res = await call("PUT", `/twinning/v1/${enc(p.address)}/twins/${t.name}/status`, { token: p.token, body: { status: "On" } });
    expect(res.status).toBe(200);
    expect(res.json.twin.statusChangedAt).toBe(t.statusChangedAt);
  });

  it("HLF-PD-004/TE-004: the primary deactivates; the secondary is no longer twinned and leaves the list", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s, "watch");
    const del = await call("DELETE", `/twinning/v1/${enc(p.address)}/twins/watch`, { token: p.token });
    expect(del.status).toBe(204);
    expect((await call("GET", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token })).json.twinList.twin).toEqual([]);
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(404);
    expect((await call("DELETE", `/twinning/v1/${enc(p.address)}/twins/watch`, { token: p.token })).status).toBe(404);
    // the name is free again
    const s2 = await device(client);
    expect((await twin(p, s2, "watch")).secondary).toBe(s2.address);
  });

  it("HLF-PD-005: toggle, query and deactivation all work from the primary through acr:Authorization", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s, "w");
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins/w", { token: p.token })).status).toBe(200);
    expect((await call("PUT", "/twinning/v1/acr:Authorization/twins/w/status", { token: p.token, body: { status: "Off" } })).status).toBe(200);
    expect((await call("DELETE", "/twinning/v1/acr:Authorization/twins/w", { token: p.token })).status).toBe(204);
  });

  it("HLF-TE-007: names are the user's choice; without one the enabler names twins twin-1, twin-2 ...", async () => {
    const p = await device(client);
    const a = await twin(p, await device(client));
    const b = await twin(p, await device(client), "twin-3");
    const c = await twin(p, await device(client));
    expect([a.name, b.name, c.name]).toEqual(["twin-1", "twin-3", "twin-2"]);
  });

  it("HLF-TE-007: a name already used by another twin of the primary is 400 naming `name`, and the code stays usable", async () => {
    const p = await device(client);
    await twin(p, await device(client), "watch");
    const s = await device(client);
    const code = (await requestCode(s)).json.activationCode.code;
    const res = await activate(p, code, "WATCH");
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables[0]).toBe("name");
    expect((await activate(p, code, "watch-2")).status).toBe(201);
  });

  it("HLF-TE-007: a name that is not a name is refused", async () => {
    const p = await device(client);
    for (const name of ["", "tel:+1555", "a".repeat(65), "-dash", 42]) {
      const res = await call("POST", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token, body: { activationCode: "123456", name } });
      expect(res.status, String(name)).toBe(400);
      expect(res.json.requestError.serviceException.variables[0]).toBe("name");
    }
  });
});
