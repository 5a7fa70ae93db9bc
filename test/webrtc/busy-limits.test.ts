// Busy callees, the rate limit on placing calls, unknown session ids, and the signaling user
// object's alarm (it follows the notification queue's rules, issue 11).
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, device, enc, registerClient, twin } from "../helpers";
import { eventually, newBox, plan, queueView, receiver, release, until } from "../notify/support";
import { dataAnswer, dataOffer, detectChannelForm, listen, placeCall, sessions } from "./fixtures";

const client = await registerClient(["twinning:primary", "twinning:secondary", "webrtc:call"]);
await detectChannelForm(await device(client));
const answer = (path: string, d: { token: string }) => call("PUT", `${path}/answer`, { token: d.token, body: { wrtcsAnswer: { sdp: dataAnswer() } } });
const post = (caller: { address: string; token: string }, callee: { address: string }) =>
  call("POST", sessions(caller), { token: caller.token, body: { wrtcsSession: { tParticipantAddress: callee.address, offer: { sdp: dataOffer() } } } });

describe("Busy", () => {
  it("a callee in a Connected call gets no invitation: the new session is Busy and its caller hears Busy; after the hang-up it rings again", async () => {
    const [a, b, c] = [await device(client), await device(client), await device(client)];
    const [lb, lc] = [await listen(b), await listen(c)];
    const first = await placeCall(a, b);
    expect((await answer(first.path(b), b)).status).toBe(200);

    const second = await post(c, b);
    expect(second.status, second.text).toBe(201);
    expect(second.json.wrtcsSession.status).toBe("Busy");
    expect(await lc.next("wrtcsEventNotification")).toMatchObject({ eventType: "Busy", reason: "Busy" });
    expect(lb.of("wrtcsSessionInvitationNotification")).toHaveLength(1);
    const id = second.json.wrtcsSession.resourceURL.split("/").pop();
    // The busy callee was never rung, so it is no participant of that session.
    expect((await call("GET", `${sessions(b)}/${id}`, { token: b.token })).status).toBe(403);

    // The caller of a Connected call is in a call too.
    expect((await post(c, a)).json.wrtcsSession.status).toBe("Busy");

    expect((await call("DELETE", first.path(a), { token: a.token })).status).toBe(204);
    const third = await placeCall(c, b);
    expect(third.res.json.wrtcsSession.status).toBe("Initial");
    expect((await lb.next("wrtcsSessionInvitationNotification", 2)).link[0].href).toContain(third.id);
  });

  it("a device that is only ringing still rings for a second call (call waiting); answering one makes it Busy for the next", async () => {
    const [a, b, c, d] = [await device(client), await device(client), await device(client), await device(client)];
    const lb = await listen(b);
    const one = await placeCall(a, b);
    const two = await placeCall(c, b);
    expect(two.res.json.wrtcsSession.status).toBe("Initial");
    await lb.next("wrtcsSessionInvitationNotification", 2);
    expect((await answer(two.path(b), b)).status).toBe(200);
    // The first call still rings (the callee may decline it); a new one finds the callee Busy.
    expect((await call("GET", `${one.path(b)}/status`, { token: b.token })).json.wrtcsSessionStatus.status).toBe("Initial");
    expect((await post(d, b)).json.wrtcsSession.status).toBe("Busy");
  });

  it("HLF-TE-002/003: with the primary in a call, a call to its address rings only its twins that are On", async () => {
    const [phone, watch, friend, caller] = [await device(client), await device(client), await device(client), await device(client)];
    await twin(phone, watch, "watch");
    const [lp, lw] = [await listen(phone), await listen(watch)];
    const busyCall = await placeCall(friend, phone);
    // The first call rings both; the phone answers it.
    await lw.next("wrtcsSessionInvitationNotification");
    expect((await answer(busyCall.path(phone), phone)).status).toBe(200);
    const c = await placeCall(caller, phone);
    expect(c.res.json.wrtcsSession.status).toBe("Initial");
    expect((await lw.next("wrtcsSessionInvitationNotification", 2)).link[0].href).toContain(c.id);
    expect(lp.of("wrtcsSessionInvitationNotification")).toHaveLength(1);
    expect((await answer(c.path(watch), watch)).status).toBe(200);
  });
});

describe("Rate limit on placing calls (Workers Rate Limiting binding)", () => {
  // The local simulator counts in fixed windows aligned to the wall clock: twice the limit + 1 calls
  // put more than the limit in one window whichever way a boundary falls.
  it("10 calls a minute from one device, then 429 POL0001 with Retry-After, and the callee is not rung for a refused call", async () => {
    const [a, b] = [await device(client), await device(client)];
    const lb = await listen(b);
    const answers = [];
    for (let i = 0; i < 21; i++) answers.push(await post(a, b));
    const limited = answers.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    const placed = answers.filter((r) => r.status === 201);
    expect(placed.length + limited.length).toBe(21);
    expect(limited[0]!.json.requestError.policyException).toMatchObject({ messageId: "POL0001" });
    expect(limited[0]!.json.requestError.policyException.variables[0]).toMatch(/calls placed from this device/);
    expect(limited[0]!.headers.get("retry-after")).toBe("60");
    await lb.next("wrtcsSessionInvitationNotification", placed.length);
    await new Promise((r) => setTimeout(r, 200));
    expect(lb.of("wrtcsSessionInvitationNotification")).toHaveLength(placed.length);
    // Another device is counted on its own.
    expect((await post(await device(client), b)).status).toBe(201);
  });
});

describe("Unknown session ids", () => {
  const tables = (id: string) =>
    runInDurableObject(env.CALL_SESSIONS.getByName(id), async (_o, state) => ({
      tables: state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\'").toArray().map((r) => r.name),
      alarm: await state.storage.getAlarm(),
    }));

  it("GET, PUT and DELETE on an id that was never created: 404 naming the id, and nothing is written for it", async () => {
    const a = await device(client);
    const id = "AAAAAAAAAAAAAAAAAAAAAA";
    const path = `${sessions(a)}/${id}`;
    const answers = [
      await call("GET", path, { token: a.token }),
      await call("GET", `${path}/status`, { token: a.token }),
      await call("GET", `${path}/ice`, { token: a.token }),
      await call("PUT", `${path}/status`, { token: a.token, body: { wrtcsSessionStatus: { status: "Ringing" } } }),
      await call("PUT", `${path}/answer`, { token: a.token, body: { wrtcsAnswer: { sdp: dataAnswer() } } }),
      await call("PUT", `${path}/offer`, { token: a.token, body: { wrtcsOffer: { sdp: dataOffer() } } }),
      await call("PUT", `${path}/ice`, { token: a.token, body: { wrtcsIceCandidates: [{ candidate: "" }] } }),
      await call("DELETE", path, { token: a.token }),
    ];
    for (const r of answers) {
      expect(r.status, r.text).toBe(404);
      expect(r.json.requestError.serviceException).toMatchObject({ messageId: "SVC0002", variables: ["sessionId", `${id} not found`] });
    }
    expect(await tables(id)).toEqual({ tables: [], alarm: null });
  });
});

describe("The signaling user object's alarm (the notification queue's rules, issue 11)", () => {
  const view = (address: string) => queueView(env.SIGNALING_USERS.getByName(address));

  it("an invitation queued while a run is in flight is left to that run, which re-arms for the failed head; a lost alarm is re-armed by the next notification", async () => {
    const [a, b] = [await device(client), await device(client)];
    const box = newBox();
    await plan(box, { fail: 1, hold: 1 });
    const sub = await call("POST", `/webrtcsignaling/v1/${enc(b.address)}/subscriptions`, {
      token: b.token, body: { wrtcsNotificationSubscription: { callbackReference: { notifyURL: `${receiver}/box/${box}` } } },
    });
    expect(sub.status).toBe(201);
    await placeCall(a, b);
    await until(box, 1, 0);
    // A second call's invitation arrives during the run (the runtime answers getAlarm() with null then).
    await placeCall(await device(client), b);
    const during = await view(b.address);
    expect(during.queue).toHaveLength(2);
    expect(during.alarm).toBeNull();
    await release(box);
    const after = await eventually(() => view(b.address), (v) => v.queue[0]?.attempts === 1 && v.alarm !== null, "the run to re-arm for the retry");
    expect(after.alarm!).toBeGreaterThanOrEqual(after.queue[0]!.next_at);
    const all = await until(box, 2);
    expect(all.map((r) => r.status)).toEqual([500, 200, 200]);

    // The alarm is lost (deleted) with nothing queued; the next invitation arms it again from storage.
    await runInDurableObject(env.SIGNALING_USERS.getByName(b.address), (_o, state) => state.storage.deleteAlarm());
    await placeCall(await device(client), b);
    await until(box, 3);
  });
});
