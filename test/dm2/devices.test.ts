// The devices of a DM account (x.1.2): the HTML registration form, registration with form data or
// JSON, the device page with its update form, update and removal; every one scoped to the account.
import { describe, expect, it } from "vitest";
import { ADMIN, call, enc } from "../helpers";
import { createAccount, dm2, newDevId, registerDevice } from "./helpers";

const FORM = "application/x-www-form-urlencoded";
const HTML = "text/html,application/xhtml+xml,*/*;q=0.8";
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe("DM 2.0 devices of an account", () => {
  it("GET /devices/new is an accessible HTML form: labelled fields, hints, the protocol choice", async () => {
    const a = await createAccount();
    const res = await dm2(a, "GET", "/dm/v2/devices/new", { accept: HTML });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    for (const f of ["devId", "name", "manufacturer", "model"]) expect(res.text).toContain(`<label for="${f}">`);
    expect(res.text).toContain('<form method="post" action="/dm/v2/devices/new"');
    expect(res.text).toMatch(/<input type="radio" name="protocol" value="DM2.0"[^>]* checked>/);
    expect(res.text).toContain('<html lang="en">');
  });

  it("a browser's form registers the device (303 to its page) and it is listed; the page shows it with an update form", async () => {
    const a = await createAccount();
    const devId = newDevId();
    const res = await dm2(a, "POST", "/dm/v2/devices/new", { body: form({ devId, name: "Kitchen tablet", protocol: "both", model: "T1" }), type: FORM, accept: HTML });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/dm/v2/devices/${enc(devId)}?registered=1`);
    const list = await dm2(a, "GET", "/dm/v2/devices");
    expect(list.json.deviceList).toEqual([expect.objectContaining({ devId, name: "Kitchen tablet", protocol: "both", model: "T1" })]);
    const page = await dm2(a, "GET", `/dm/v2/devices/${enc(devId)}`, { accept: HTML });
    expect(page.text).toContain(`<span id="dev-id">${devId}</span>`);
    expect(page.text).toContain(`action="/dm/v2/devices/${enc(devId)}"`);
    expect(page.text).toContain('value="Kitchen tablet"');
    const html = await dm2(a, "GET", "/dm/v2/devices", { accept: HTML });
    expect(html.text).toContain(devId);
  });

  it("a bad form comes back 400 with every error beside its field and in a summary, and every value typed kept", async () => {
    const a = await createAccount();
    const typed = { devId: "IMEI 1234", name: "x".repeat(65), protocol: "DM3.0", manufacturer: "Acme <b>Corp</b>", model: "M-1" };
    const res = await dm2(a, "POST", "/dm/v2/devices/new", { body: form(typed), type: FORM, accept: HTML });
    expect(res.status).toBe(400);
    expect(res.text).toContain('role="alert"');
    expect(res.text).toContain('id="devId-error"');
    expect(res.text).toContain('id="name-error"');
    expect(res.text).toContain('id="protocol-error"');
    expect(res.text).toMatch(/id="devId" name="devId" value="IMEI 1234" aria-describedby="devId-hint devId-error" aria-invalid="true"/);
    expect(res.text).toContain(`value="${"x".repeat(65)}"`);
    expect(res.text).toContain('value="Acme &lt;b&gt;Corp&lt;/b&gt;"');
    expect(res.text).toContain('value="M-1"');
    expect((await dm2(a, "GET", "/dm/v2/devices")).json.deviceList).toEqual([]);
  });

  it("a client registers with form data or JSON (201 + Location); a bad field is 400 naming it", async () => {
    const a = await createAccount();
    const devId = newDevId();
    const res = await dm2(a, "POST", "/dm/v2/devices/new", { body: { devId, name: "Car" }, type: "application/json", accept: "application/json" });
    expect(res.status, res.text).toBe(201);
    expect(res.headers.get("location")).toBe(res.json.device.resourceURL);
    expect(res.json.device).toMatchObject({ devId, name: "Car", protocol: "DM2.0" });
    const bad = await dm2(a, "POST", "/dm/v2/devices/new", { body: { devId: newDevId(), protocol: 12 }, type: "application/json", accept: "application/json" });
    expect(bad.json.requestError.serviceException.variables[0]).toBe("protocol");
    const unknown = await dm2(a, "POST", "/dm/v2/devices/new", { body: { devId: newDevId(), colour: "red" }, type: "application/json", accept: "application/json" });
    expect(unknown.json.requestError.serviceException.variables[0]).toBe("colour");
    expect((await dm2(a, "POST", "/dm/v2/devices/new", { body: "<x/>", type: "application/xml", accept: "application/json" })).status).toBe(415);
    expect((await dm2(a, "POST", "/dm/v2/devices/new", { body: "{", type: "application/json", accept: "application/json" })).status).toBe(400);
  });

  it("a device ID belongs to one account: the same account twice and another account are both 409; the form says so and keeps the values", async () => {
    const a = await createAccount();
    const b = await createAccount();
    const devId = newDevId();
    await registerDevice(a, devId);
    expect((await dm2(a, "POST", "/dm/v2/devices/new", { body: form({ devId }), type: FORM, accept: "application/json" })).status).toBe(409);
    const other = await dm2(b, "POST", "/dm/v2/devices/new", { body: form({ devId, name: "Mine?" }), type: FORM, accept: HTML });
    expect(other.status).toBe(409);
    expect(other.text).toContain("registered to another DM account");
    expect(other.text).toContain('value="Mine?"');
    expect((await dm2(b, "GET", "/dm/v2/devices")).json.deviceList).toEqual([]);
  });

  it("PUT updates the fields given; the page's form (POST) updates and redirects; the device ID cannot change", async () => {
    const a = await createAccount();
    const devId = newDevId();
    await registerDevice(a, devId, { name: "Old", model: "M" });
    const put = await dm2(a, "PUT", `/dm/v2/devices/${enc(devId)}`, { body: { name: "New" }, type: "application/json", accept: "application/json" });
    expect(put.json.device).toMatchObject({ name: "New", model: "M" });
    const post = await dm2(a, "POST", `/dm/v2/devices/${enc(devId)}`, { body: form({ name: "Formed", protocol: "DM2.0", manufacturer: "", model: "M2" }), type: FORM, accept: HTML });
    expect(post.status).toBe(303);
    expect((await dm2(a, "GET", `/dm/v2/devices/${enc(devId)}`)).json.device).toMatchObject({ name: "Formed", model: "M2" });
    const bad = await dm2(a, "POST", `/dm/v2/devices/${enc(devId)}`, { body: form({ name: "y".repeat(70), protocol: "DM2.0", model: "kept" }), type: FORM, accept: HTML });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('id="name-error"');
    expect(bad.text).toContain('value="kept"');
    expect((await dm2(a, "PUT", `/dm/v2/devices/${enc(devId)}`, { body: { devId: "other" }, type: "application/json" })).status).toBe(400);
  });

  it("a form posted from another site is refused (it would ride on the browser's stored credentials)", async () => {
    const a = await createAccount();
    const res = await dm2(a, "POST", "/dm/v2/devices/new", { body: form({ devId: newDevId() }), type: FORM, accept: HTML, headers: { Origin: "https://evil.example", "Sec-Fetch-Site": "cross-site" } });
    expect(res.status).toBe(403);
    expect((await dm2(a, "GET", "/dm/v2/devices")).json.deviceList).toEqual([]);
  });

  it("DELETE unregisters the device; its jobs API forgets a DM 2.0-only device; another account cannot see or delete it", async () => {
    const a = await createAccount();
    const b = await createAccount();
    const devId = newDevId();
    await registerDevice(a, devId);
    expect((await call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands: [{ kind: "Get", target: "./DevInfo/Mod" }] } })).status).toBe(201);
    expect((await dm2(b, "DELETE", `/dm/v2/devices/${enc(devId)}`)).status).toBe(404);
    expect((await dm2(b, "PUT", `/dm/v2/devices/${enc(devId)}`, { body: { name: "x" }, type: "application/json" })).status).toBe(404);
    expect((await dm2(a, "DELETE", `/dm/v2/devices/${enc(devId)}`)).status).toBe(204);
    expect((await dm2(a, "GET", `/dm/v2/devices/${enc(devId)}`)).status).toBe(404);
    expect((await call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands: [{ kind: "Get", target: "./DevInfo/Mod" }] } })).status).toBe(404);
    // now free for another account
    await registerDevice(b, devId);
  });
});
