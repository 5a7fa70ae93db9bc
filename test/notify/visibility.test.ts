// Issue 11, visibility for the operator: a subscription's delivery state, and dropped notifications
// listed and replayed through the admin API.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN, call, device, enc, registerClient, twin } from "../helpers";
import { newBox, note, plan, received, subscribe, until } from "./support";

const client = await registerClient();

describe("Delivery state and dropped notifications (issue 11)", () => {
  it("GET of a subscription shows its delivery state; the operator lists what was dropped and replays it", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const box = newBox();
    await plan(box, { fail: 1000 });
    const sub = await subscribe(s, box);
    const path = new URL(sub.resourceURL).pathname;
    const fresh = (await call("GET", path, { token: s.token })).json.subscription.deliveryState;
    expect(fresh).toEqual({ consecutiveFailures: 0, dropped: 0, queued: 0 });

    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    await until(box, 1, 500);
    const stub = env.SUBSCRIBERS.getByName(s.address);
    // Read once the failure is recorded (the receiver answers before the object writes it down).
    let failing;
    for (let i = 0; i < 100; i++) {
      failing = (await call("GET", path, { token: s.token })).json.subscription.deliveryState;
      if (failing.consecutiveFailures > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(failing).toMatchObject({ lastOutcome: "HTTP 500", consecutiveFailures: expect.any(Number), dropped: 0, queued: 1 });
    expect(Date.parse(failing.lastAttempt)).toBeGreaterThan(Date.now() - 60_000);
    expect(Date.parse(failing.nextAttempt)).toBeGreaterThan(Date.parse(failing.lastAttempt));
    expect((await call("GET", "/twinning/v1/acr:Authorization/subscriptions", { token: s.token })).json.subscriptionList.subscription[0].deliveryState.queued).toBe(1);

    // A day later the retry window has passed: the next attempt drops it.
    for (let i = 0; i < 20 && (await stub.notificationStats()).dropped === 0; i++) {
      await runInDurableObject(stub, async (_o, state) => {
        state.storage.sql.exec("UPDATE delivery SET first_at = first_at - 86400000, next_at = 0");
        await state.storage.setAlarm(Date.now());
      });
      await runDurableObjectAlarm(stub);
    }
    const after = (await call("GET", path, { token: s.token })).json.subscription.deliveryState;
    expect(after).toMatchObject({ lastOutcome: "retry window passed (HTTP 500)", dropped: 1, queued: 0 });
    expect(after.nextAttempt).toBeUndefined();

    const list = await call("GET", `/admin/v1/subscribers/${enc(s.address)}/notifications/dropped`, { headers: ADMIN });
    expect(list.status, list.text).toBe(200);
    const [dropped] = list.json.droppedNotificationList.droppedNotification;
    const sent = note((await received(box))[0]!);
    expect(dropped).toMatchObject({ notificationId: sent.notificationId, reason: "retry window passed (HTTP 500)", notification: { twinningNotification: { status: "Off" } } });
    expect(dropped.attempts).toBeGreaterThanOrEqual(2);

    // The receiver is back; the operator replays; it arrives under the same notificationId.
    await plan(box, { fail: 0 });
    const replay = await call("POST", `/admin/v1/subscribers/${enc(s.address)}/notifications/dropped/replay`, { headers: ADMIN, body: {} });
    expect(replay.json).toEqual({ replayed: 1 });
    const [ok] = (await until(box, 1)).filter((r) => r.status === 200);
    expect(note(ok!).notificationId).toBe(sent.notificationId);
    expect((await call("GET", `/admin/v1/subscribers/${enc(s.address)}/notifications/dropped`, { headers: ADMIN })).json.droppedNotificationList.droppedNotification).toEqual([]);
    let healed;
    for (let i = 0; i < 100; i++) {
      healed = (await call("GET", path, { token: s.token })).json.subscription.deliveryState;
      if (healed.lastOutcome === "delivered") break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(healed).toMatchObject({ lastOutcome: "delivered", consecutiveFailures: 0, dropped: 1, queued: 0 });
  });

  it("the admin routes need the admin token; an unknown subscriber is 404; only named ids are replayed", async () => {
    const d = await device(client);
    expect((await call("GET", `/admin/v1/subscribers/${enc(d.address)}/notifications/dropped`, { token: d.token })).status).toBe(401);
    expect((await call("GET", `/admin/v1/subscribers/${enc("tel:+15559990001")}/notifications/dropped`, { headers: ADMIN })).status).toBe(404);
    const none = await call("POST", `/admin/v1/subscribers/${enc(d.address)}/notifications/dropped/replay`, { headers: ADMIN, body: { notificationIds: ["not-a-dropped-id"] } });
    expect(none.json).toEqual({ replayed: 0 });
  });
});
