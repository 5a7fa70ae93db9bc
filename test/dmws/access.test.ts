// Service providers and access control (issue 16): a provider is an OAuth client; the operator grants
// it by device group, management subtree and operation; anything outside is 403 naming what was
// refused, and recorded in the audit trail.
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, call, enc, ORIGIN } from "../helpers";
import { newDevId } from "../dm/harness";
import { authorize } from "../../src/dmws/access";
import { resolveGroup } from "../../src/dmws/groups";
import { asProvider, auditOf, defineGroup, grant, inventory, newGroupName, newProvider } from "./support";

describe("DMWS access: grants by group, subtree and operation", () => {
  it("a provider (private_key_jwt or secret) sees only the devices its grants cover", async () => {
    const [a, b, other] = [newDevId(), newDevId(), newDevId()];
    const group = newGroupName();
    await defineGroup(group, { devices: [a, b] });
    for (const auth of ["private_key_jwt", "client_secret_basic"] as const) {
      const p = await newProvider(auth);
      await grant(p, [{ group, subtrees: ["./FUMO"], operations: ["read", "write", "exec"] }]);
      const list = await asProvider(p, "GET", "/dmws/v1/devices");
      expect(list.status, list.text).toBe(200);
      expect(list.json.devices.map((d: any) => d.devId)).toEqual([a, b].sort());
      expect((await asProvider(p, "GET", `/dmws/v1/devices/${enc(a)}`)).status).toBe(200);
      const refused = await asProvider(p, "GET", `/dmws/v1/devices/${enc(other)}`);
      expect(refused.status).toBe(403);
      expect(refused.json.requestError.policyException.variables[0]).toBe(`device ${other} not granted to provider ${p.clientId}`);
      expect((await asProvider(p, "GET", "/dmws/v1/grants")).json.grants).toEqual([{ group, subtrees: ["./FUMO"], operations: ["read", "write", "exec"] }]);
    }
  });

  it("a revoked provider token is refused (401) on the provider API and the campaign API; a fresh token of the same provider works", async () => {
    const reg = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Revoked FOTA", scopes: ["dm:manage"], grant_types: ["client_credentials"] } });
    const basic = `Basic ${btoa(`${reg.json.client_id}:${reg.json.client_secret}`)}`;
    const form = { "Content-Type": "application/x-www-form-urlencoded", Authorization: basic };
    const issue = async () => ((await (await SELF.fetch(`${ORIGIN}/oauth/token`, { method: "POST", headers: form, body: "grant_type=client_credentials&scope=dm%3Amanage" })).json()) as { access_token: string }).access_token;
    const token = await issue();
    expect((await call("GET", "/dmws/v1/grants", { token })).status).toBe(200);
    expect((await SELF.fetch(`${ORIGIN}/oauth/revoke`, { method: "POST", headers: form, body: `token=${token}` })).status).toBe(200);
    for (const path of ["/dmws/v1/grants", "/dmws/v1/devices", "/dmws/v1/campaigns"]) {
      const r = await call("GET", path, { token });
      expect(r.status, `${path}: ${r.text}`).toBe(401);
      expect(r.headers.get("www-authenticate")).toMatch(/invalid_token/);
    }
    expect((await call("GET", "/dmws/v1/grants", { token: await issue() })).status).toBe(200);
  });

  it("a filter group selects devices by manufacturer, model, firmware version and MNO, a page at a time", async () => {
    const model = `M-${newGroupName()}`;
    const ids = [newDevId(), newDevId(), newDevId(), newDevId()];
    await inventory(ids[0]!, { manufacturer: "Acme", model, firmwareVersion: "1.0", mno: "001-01" });
    await inventory(ids[1]!, { manufacturer: "Acme", model, firmwareVersion: "1.1", mno: "001-01" });
    await inventory(ids[2]!, { manufacturer: "Acme", model, firmwareVersion: "1.0", mno: "001-02" });
    await inventory(ids[3]!, { manufacturer: "Other", model, firmwareVersion: "1.0", mno: "001-01" });
    const group = newGroupName();
    await defineGroup(group, { filter: { manufacturer: "Acme", model, firmwareVersion: ["1.0", "1.1"], mno: "001-01" } });
    const page1 = await call("GET", `/admin/v1/dm-groups/${enc(group)}/devices?limit=1`, { headers: ADMIN });
    expect(page1.status, page1.text).toBe(200);
    const page2 = await call("GET", `/admin/v1/dm-groups/${enc(group)}/devices?limit=1&cursor=${enc(page1.json.nextCursor)}`, { headers: ADMIN });
    expect(page2.json.nextCursor).toBeUndefined();
    expect([...page1.json.devices, ...page2.json.devices]).toEqual([ids[0]!, ids[1]!].sort());
    // The exported resolver campaigns use gives the same pages.
    const first = await resolveGroup(env, group, { limit: 1 });
    expect(first.items).toEqual(page1.json.devices);
    expect((await resolveGroup(env, group, { cursor: first.nextCursor!, limit: 1 })).items).toEqual(page2.json.devices);
  });

  it("refusals by group, subtree and operation are 403 naming what was refused, and go to the audit trail", async () => {
    const [inside, outside] = [newDevId(), newDevId()];
    const group = newGroupName();
    await defineGroup(group, { devices: [inside] });
    const p = await newProvider();
    await grant(p, [{ group, subtrees: ["./FUMO", "./Vendor/AppX"], operations: ["read", "write"] }]);
    const refusal = (fn: () => Promise<unknown>) => fn().then(() => undefined, (e) => e as { status: number; variables: string[] });

    const byGroup = await refusal(() => authorize(env, p.clientId, [inside, outside], "./FUMO", "write", "test: group"));
    expect(byGroup).toMatchObject({ status: 403, variables: [`device ${outside} not granted to provider ${p.clientId}`] });
    const bySubtree = await refusal(() => authorize(env, p.clientId, [inside], "./SCOMO", "read", "test: subtree"));
    expect(bySubtree).toMatchObject({ status: 403, variables: [`subtree ./SCOMO not granted to provider ${p.clientId}`] });
    const byOperation = await refusal(() => authorize(env, p.clientId, [inside], "./Vendor/AppX/Settings", ["write", "exec"], "test: operation"));
    expect(byOperation).toMatchObject({ status: 403, variables: [`operation exec on ./Vendor/AppX/Settings not granted to provider ${p.clientId}`] });
    // Inside the grant: a subtree below a granted one, a whole group.
    expect(await authorize(env, p.clientId, [inside], "./Vendor/AppX/Settings", "write")).toEqual([inside]);
    expect(await authorize(env, p.clientId, { group }, "./FUMO/x", ["read", "write"])).toEqual([inside]);

    const trail = await auditOf(p, "refusal");
    expect(trail.map((e) => e.action)).toEqual(["test: group", "test: subtree", "test: operation"]);
    expect(trail[0]!.detail.refused.devices).toEqual([outside]);
    expect(trail[1]!.detail.refused.subtree).toBe("./SCOMO");
    expect(trail[2]!.detail.refused.operations).toEqual(["exec"]);
    expect((await auditOf(p, "grants-changed")).length).toBe(1);
  });

  it("grants name an existing OAuth client; bad grants are 400 and change nothing", async () => {
    const p = await newProvider();
    const missing = await call("PUT", `/admin/v1/dm-providers/no-such-client/grants`, { headers: ADMIN, body: { grants: [] } });
    expect(missing.status).toBe(404);
    const bad = await call("PUT", `/admin/v1/dm-providers/${enc(p.clientId)}/grants`, { headers: ADMIN, body: { grants: [{ group: "g", subtrees: ["FUMO"], operations: ["delete"] }] } });
    expect(bad.status).toBe(400);
    expect(bad.json.requestError.serviceException.messageId).toBe("SVC0002");
    expect((await call("GET", `/admin/v1/dm-providers/${enc(p.clientId)}/grants`, { headers: ADMIN })).json.grants).toEqual([]);
  });

  it("the provider API needs a dm:manage token; the admin API the admin token", async () => {
    expect((await call("GET", "/dmws/v1/devices")).status).toBe(401);
    expect((await call("GET", "/admin/v1/dm-audit")).status).toBe(401);
    const p = await newProvider();
    expect((await call("GET", "/admin/v1/dm-audit", { token: p.token })).status).toBe(401);
  });
});
