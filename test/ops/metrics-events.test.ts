// Issue 18, metrics: the capability events reach src/ops/metrics.ts, and GET /admin/v1/metrics (the
// local view of the Analytics Engine data points) counts them: deactivations from each side and by the
// operator, notifications delivered and dropped, DM sessions, WebRTC calls.
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createAccount, dm2, newDevId, registerDevice } from "../dm2/helpers";
import { ADMIN, call, device, enc, registerClient, twin } from "../helpers";
import { device as dmDevice } from "../dm/harness";
import { newBox, plan, subscribe, until } from "../notify/support";
import { placeCall } from "../webrtc/fixtures";

const client = await registerClient(["twinning:primary", "twinning:secondary", "webrtc:call"]);
const events = async (): Promise<Record<string, number>> => (await call("GET", "/admin/v1/metrics", { headers: ADMIN })).json.events;
const grew = (before: Record<string, number>, after: Record<string, number>, name: string) => (after[name] ?? 0) - (before[name] ?? 0);

describe("Metrics of the capabilities", () => {
  it("count deactivations by who ended the twin: the primary, the secondary, the operator", async () => {
    const before = await events();
    const [p, s1, s2, s3] = [await device(client), await device(client), await device(client), await device(client)];
    await twin(p, s1, "a");
    await twin(p, s2, "b");
    await twin(p, s3, "c");
    expect((await call("DELETE", `/twinning/v1/${enc(p.address)}/twins/a`, { token: p.token })).status).toBe(204);
    expect((await call("DELETE", `/twinning/v1/${enc(s2.address)}/relationship`, { token: s2.token })).status).toBe(204);
    expect((await call("DELETE", `/admin/v1/subscribers/${enc(p.address)}/twins/c`, { headers: ADMIN })).status).toBe(204);
    const after = await events();
    expect(grew(before, after, "twinning.deactivation primary")).toBe(1);
    expect(grew(before, after, "twinning.deactivation secondary")).toBe(1);
    expect(grew(before, after, "twinning.deactivation operator")).toBe(1);
    expect(grew(before, after, "twinning.activation")).toBe(3);
  });

  it("count notifications delivered and dropped", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const ok = newBox();
    await subscribe(s, ok);
    const before = await events();
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    await until(ok, 1);
    const delivered = await events();
    expect(grew(before, delivered, "notify.delivered")).toBeGreaterThanOrEqual(1);
    expect(grew(before, delivered, "notify.dropped")).toBe(0);

    const [q, t] = [await device(client), await device(client)];
    await twin(q, t, "w");
    const failing = newBox();
    await plan(failing, { fail: 1000 });
    await subscribe(t, failing);
    await call("PUT", `/twinning/v1/${enc(q.address)}/twins/w/status`, { token: q.token, body: { status: "Off" } });
    await until(failing, 1, 500);
    const stub = env.SUBSCRIBERS.getByName(t.address);
    await runInDurableObject(stub, (_o, state) => state.storage.sql.exec("UPDATE delivery SET first_at = first_at - ?", 86_400_000));
    let stats = await stub.notificationStats();
    for (let i = 0; i < 20 && stats.dropped === 0; i++) {
      await runInDurableObject(stub, async (_o, state) => {
        state.storage.sql.exec("UPDATE delivery SET next_at = 0");
        await state.storage.setAlarm(Date.now());
      });
      await runDurableObjectAlarm(stub);
      stats = await stub.notificationStats();
    }
    expect(stats.dropped).toBe(1);
    expect(grew(delivered, await events(), "notify.dropped")).toBe(1);
  });

  it("count DM sessions and WebRTC calls", async () => {
    const before = await events();
    const { client: dm } = await dmDevice();
    await dm.startSession();
    const [caller, callee] = [await device(client), await device(client)];
    await placeCall(caller, callee);
    const after = await events();
    expect(grew(before, after, "dm.session")).toBeGreaterThanOrEqual(1);
    expect(grew(before, after, "webrtc.session")).toBe(1);
  });

  it("count DM 2.0 sessions apart (dm.session with the detail DM2.0)", async () => {
    const account = await createAccount();
    const devId = newDevId();
    await registerDevice(account, devId);
    const before = await events();
    const res = await dm2(account, "POST", "/dm/v2/sessions/next", { body: {}, headers: { "OMADM-DevID": devId } });
    expect(res.status, res.text).toBe(200);
    expect(grew(before, await events(), "dm.session DM2.0")).toBe(1);
  });
});
