// Every DM 2.0 resource of the seed (x.1.1 sessions, x.1.2 devices, x.1.3 alert), driven by the
// simulator's account client and device as the seed describes each one.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Operator, uniqueId } from "./sim/harness";
import { MEDIA } from "./sim/simulator";

const GATEWAY = "https://dm2sim.test";
const op = new Operator(GATEWAY, (url, init) => SELF.fetch(url, init));

describe("the DM 2.0 resources, driven by the simulator", () => {
  it("x.1.2 devices: the HTML registration form, registering with its form data, the list, the device's JSON and HTML, update, unregister", async () => {
    const { owner } = await op.account();
    const d1 = `IMEI:${uniqueId("4901")}`;
    const d2 = `IMEI:${uniqueId("4902")}`;
    const form = await owner.call("GET", "/devices/new", { headers: { Accept: "text/html" } });
    expect(form.status).toBe(200);
    expect(form.contentType).toMatch(/^text\/html/);
    for (const field of ["devId", "name", "protocol", "manufacturer", "model"]) expect(form.text).toMatch(new RegExp(`name="${field}"`));
    expect(form.text).toMatch(/<form[^>]+method="post"/i);

    // As the browser posts the form: 303 to the device's page.
    const browser = await owner.call("POST", "/devices/new", {
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "text/html", "Sec-Fetch-Site": "same-origin", Origin: GATEWAY },
      body: new URLSearchParams({ devId: d1, name: "Kitchen tablet", protocol: "both", manufacturer: "Acme", model: "T1" }).toString(),
    });
    expect(browser.status).toBe(303);
    expect(browser.headers.get("Location")).toMatch(new RegExp(`/dm/v2/devices/${encodeURIComponent(d1)}(\\?|$)`));
    const client = await owner.registerWithForm({ devId: d2, protocol: "DM2.0" });
    expect(client.status).toBe(201);
    expect(client.json!.device).toMatchObject({ devId: d2, protocol: "DM2.0" });

    expect((await owner.devices()).map((d) => d.devId).sort()).toEqual([d1, d2]);
    const info = await owner.device(d1);
    expect(info.json!.device).toMatchObject({ name: "Kitchen tablet", protocol: "both", manufacturer: "Acme", model: "T1" });
    const page = await owner.device(d1, "text/html");
    expect(page.contentType).toMatch(/^text\/html/);
    expect(page.text).toContain("Kitchen tablet");
    expect(page.text).toMatch(/<form[^>]+method="post"/i);

    const put = await owner.updateDevice(d1, { name: "Hall tablet" });
    expect(put.status).toBe(200);
    expect(put.json!.device).toMatchObject({ name: "Hall tablet", manufacturer: "Acme" });
    const viaForm = await owner.call("POST", `/devices/${encodeURIComponent(d1)}`, {
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "text/html", "Sec-Fetch-Site": "same-origin", Origin: GATEWAY },
      body: new URLSearchParams({ name: "Porch tablet" }).toString(),
    });
    expect(viaForm.status).toBe(303);
    expect((await owner.device(d1)).json!.device.name).toBe("Porch tablet");
    // The same form posted from another site is refused: the browser would have added the credentials.
    const crossSite = await owner.call("POST", `/devices/${encodeURIComponent(d1)}`, {
      headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "text/html", "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" },
      body: new URLSearchParams({ name: "pwned" }).toString(),
    });
    expect(crossSite.status).toBe(403);
    expect((await owner.device(d1)).json!.device.name).toBe("Porch tablet");

    expect((await owner.unregister(d2)).status).toBe(204);
    expect((await owner.devices()).map((d) => d.devId)).toEqual([d1]);
    expect((await owner.device(d2)).status).toBe(404);
  });

  it("x.1.1 sessions: pending lists the asked-for and running sessions, completed the finished ones with their brief result; the data URIs live as long as their package", async () => {
    const { device, devId, owner } = await op.device({ "./A": "value-a" });
    await op.queueJob(devId, [{ kind: "Get", target: "./A" }, { kind: "Replace", target: "./B", data: "value-b" }]);
    await op.notify(devId);
    expect((await owner.pending()).map((s) => [s.state, s.initiator])).toEqual([["pending", "server"]]);
    // Open the session by hand to look at its resources before answering.
    const start = await owner.call<{ CMD: (string | number)[][] }>("POST", "/sessions/next", {
      headers: { "Content-Type": MEDIA.initiation, Accept: MEDIA.request, "OMADM-DevID": devId },
      body: JSON.stringify({ Alert: [{ AlertType: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" }] }),
    });
    expect(start.status).toBe(200);
    const [hput, hget, cont] = start.json!.CMD;
    expect((await owner.pending()).map((s) => s.state)).toEqual(["active"]);
    const value = await owner.call("GET", String(hget![1]));
    expect([value.status, value.text]).toEqual([200, "value-b"]);
    const sent = await owner.call("PUT", String(hput![2]), { headers: { "Content-Type": "text/plain" }, body: "value-a" });
    expect(sent.status).toBe(204);
    const next = await owner.call<{ CMD: unknown[][] }>("PUT", String(cont![1]), { headers: { "Content-Type": MEDIA.response }, body: JSON.stringify({ Status: [{ sc: 200 }, { sc: 200 }] }) });
    expect(next.json!.CMD).toEqual([["END"]]);
    // The package is answered: its data URIs are gone.
    expect((await owner.call("GET", String(hget![1]))).status).toBe(404);
    expect(await owner.pending()).toEqual([]);
    const [done] = await owner.completed();
    expect(done).toMatchObject({ devId, state: "completed", result: { outcome: "OK", commands: 2, succeeded: 2, failed: 0 } });
    expect(device.tree.snapshot()).toEqual({ "./A": "value-a" });
  });

  it("x.1.3 POST /alert: a device event with no work waiting is answered END and opens nothing; HPOST data resources take a value too", async () => {
    const { device, devId, owner } = await op.device({ "./A": "a" });
    const s = await device.alert([{ AlertType: "urn:example:at:door-open", SourceURI: "./A", DataType: "text/plain", Data: "open" }]);
    expect(s.packages.map((p) => p.commands)).toEqual([[["END"]]]);
    expect(await owner.pending()).toEqual([]);
    await op.queueJob(devId, [{ kind: "Get", target: "./A" }]);
    const start = await owner.call<{ CMD: (string | number)[][] }>("POST", "/alert", {
      headers: { "Content-Type": MEDIA.initiation, "OMADM-DevID": devId },
      body: JSON.stringify({ Alert: [{ AlertType: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" }] }),
    });
    const [hput] = start.json!.CMD;
    const posted = await owner.call("POST", String(hput![2]), { headers: { "Content-Type": "text/plain" }, body: "posted-a" });
    expect(posted.status).toBe(204);
  });
});
