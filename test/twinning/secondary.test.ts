import { describe, expect, it } from "vitest";
import { activate, call, device, enc, registerClient, requestCode, twin } from "../helpers";

const client = await registerClient();

describe("Secondary device API", () => {
  it("HLF-SD-001/SD-003: a secondary gets a six-digit code and the identity of the MNO that generated it", async () => {
    const s = await device(client);
    const res = await requestCode(s);
    expect(res.status).toBe(201);
    expect(res.json.activationCode.code).toMatch(/^[0-9]{6}$/);
    expect(res.json.activationCode.mno).toEqual({ mcc: "001", mnc: "01" });
    expect(Date.parse(res.json.activationCode.expiresAt)).toBeGreaterThan(Date.now());
    expect(res.headers.get("location")).toBe(res.json.activationCode.resourceURL);
  });

  it("HLF-SD-001: the request body is optional", async () => {
    const s = await device(client);
    const res = await call("POST", `/twinning/v1/${enc(s.address)}/activationCodes`, { token: s.token });
    expect(res.status, res.text).toBe(201);
  });

  it("HLF-SD-002/TE-006: a primary MNO served by this gateway generates the code and is named in the answer", async () => {
    const s = await device(client);
    const res = await requestCode(s, { primaryMno: { mcc: "001", mnc: "01" } });
    expect(res.status).toBe(201);
    expect(res.json.activationCode.mno).toEqual({ mcc: "001", mnc: "01" });
  });

  it("HLF-TE-006: a primary MNO with no inter-MNO peer is refused with SVC0003 listing the MNOs served", async () => {
    const s = await device(client);
    const res = await requestCode(s, { primaryMno: { mcc: "310", mnc: "260" } });
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.messageId).toBe("SVC0003");
    expect(res.json.requestError.serviceException.variables[0]).toBe("primaryMno");
    expect(res.json.requestError.serviceException.variables[1]).toContain("001-01");
  });

  it("HLF-SD-002: a malformed primaryMno is 400 SVC0002 naming the field", async () => {
    const s = await device(client);
    const res = await requestCode(s, { primaryMno: { mcc: "1", mnc: "01" } });
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables[0]).toBe("primaryMno.mcc");
  });

  it("HLF-SD-006: the secondary queries its status and sees its primary; 404 when not twinned", async () => {
    const p = await device(client);
    const s = await device(client);
    const before = await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    expect(before.status).toBe(404);
    expect(before.json.requestError.serviceException.messageId).toBe("SVC0002");
    await twin(p, s, "my-watch");
    const res = await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    expect(res.status).toBe(200);
    expect(res.json.relationship).toMatchObject({ primary: p.address, status: "On", name: "my-watch", primaryMno: { mcc: "001", mnc: "01" } });
  });

  it("HLF-SD-004/TE-002: the secondary toggles Off and On; the primary sees each change", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s, "car");
    const off = await call("PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: "Off" } });
    expect(off.status).toBe(200);
    expect(off.json.relationship).toMatchObject({ status: "Off", statusChangedBy: "secondary" });
    const seen = await call("GET", `/twinning/v1/${enc(p.address)}/twins/car`, { token: p.token });
    expect(seen.json.twin).toMatchObject({ status: "Off", statusChangedBy: "secondary" });
    const on = await call("PUT", `/twinning/v1/acr:Authorization/relationship/status`, { token: s.token, body: { status: "On" } });
    expect(on.json.relationship.status).toBe("On");
    expect((await call("GET", `/twinning/v1/${enc(p.address)}/twins/car`, { token: p.token })).json.twin.status).toBe("On");
  });

  it("HLF-SD-004: toggling when not twinned is 404", async () => {
    const s = await device(client);
    const res = await call("PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: "Off" } });
    expect(res.status).toBe(404);
  });

  it("HLF-SD-007/TE-004: the secondary deactivates; the twin leaves the primary's list for good", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s);
    const del = await call("DELETE", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    expect(del.status).toBe(204);
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(404);
    const list = await call("GET", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token });
    expect(list.json.twinList.twin).toEqual([]);
    expect((await call("DELETE", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(404);
  });

  it("HLF-SD-007: after deactivation the secondary may be twinned again", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s);
    await call("DELETE", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    const again = await twin(p, s, "again");
    expect(again.name).toBe("again");
  });

  it("HLF-SD-005: the secondary's operations need its own twinning token", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s);
    const other = await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: p.token });
    expect(other.status).toBe(403);
    const none = await call("GET", `/twinning/v1/${enc(s.address)}/relationship`);
    expect(none.status).toBe(401);
  });

  it("a code request while already twinned is POL1037 (HLF-TE-009)", async () => {
    const p = await device(client);
    const s = await device(client);
    await twin(p, s);
    const res = await requestCode(s);
    expect(res.status).toBe(403);
    expect(res.json.requestError.policyException.messageId).toBe("POL1037");
    const code = await requestCode(p);
    expect(code.status).toBe(403);
    expect(code.json.requestError.policyException.messageId).toBe("POL1037");
  });

  it("a code is bound to the secondary that asked for it", async () => {
    const p = await device(client);
    const s = await device(client);
    const code = (await requestCode(s)).json.activationCode.code;
    const res = await activate(p, code);
    expect(res.json.twin.secondary).toBe(s.address);
  });
});
