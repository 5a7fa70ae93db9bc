// Issue 11: a failed delivery must always be retried. The subscriber object's one alarm serves the
// outbox and the notification queue; these tests force the interleavings that stalled it (a request
// arriving while an alarm run is in flight, a peer that does not answer) with a receiver that holds
// a delivery open, and look at the object's alarm and queue through runInDurableObject.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, device, enc, registerClient, twin } from "../helpers";
import { eventually, newBox, note, plan, queueView, received, release, subscribe, until } from "./support";

const client = await registerClient();

const view = (address: string) => queueView(env.SUBSCRIBERS.getByName(address));

describe("Delivery never stalls (issue 11)", () => {
  it("a notification queued while an alarm run is in flight leaves the alarm to that run, which re-arms it for the failed head's retry", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const box = newBox();
    await plan(box, { fail: 1, hold: 1 });
    await subscribe(s, box);
    const toggle = (status: "On" | "Off") => call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status } });

    // The runtime's own alarm run takes the first notification to the receiver, which holds it.
    expect((await toggle("Off")).status).toBe(200);
    await until(box, 1, 0);
    // A second change arrives while that run is in flight. The runtime answers getAlarm() with null
    // during a run; an alarm a request set now could be the run's own time, which the runtime
    // deletes with the run. So the request must leave it to the run.
    expect((await toggle("On")).status).toBe(200);
    const during = await view(s.address);
    expect(during.queue).toHaveLength(2);
    expect(during.alarm).toBeNull();

    // The held delivery fails (500). The run ends with an alarm set for the head's retry: not
    // earlier (the second notification waits behind the head, so it is not due), and not lost.
    await release(box);
    const after = await eventually(() => view(s.address), (v) => v.queue[0]?.attempts === 1 && v.alarm !== null, "the run to record the failure and re-arm");
    expect(after.queue).toHaveLength(2);
    expect(after.alarm!).toBeGreaterThanOrEqual(after.queue[0]!.next_at);

    // The retry comes, then the second notification: in order, the first one under the same id.
    const all = await until(box, 2);
    expect(all.map((r) => r.status)).toEqual([500, 200, 200]);
    expect(all.map((r) => note(r).status)).toEqual(["Off", "Off", "On"]);
    expect(note(all[0]!).notificationId).toBe(note(all[1]!).notificationId);
    expect((await eventually(() => view(s.address), (v) => v.queue.length === 0, "an empty queue")).queue).toEqual([]);
  });

  it("a peer object that does not answer the outbox does not hold up the notifications of the same change", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const box = newBox();
    await subscribe(p, box);
    // The secondary's object stops answering the primary's outbox (as an overloaded or restarting
    // object would): its applyStatus waits until the test lets it go.
    let unblock!: () => void;
    const blocked = new Promise<void>((resolve) => (unblock = resolve));
    const proto = await runInDurableObject(env.SUBSCRIBERS.getByName(s.address), (o) => {
      const proto = Object.getPrototypeOf(o) as { applyStatus: (...args: unknown[]) => Promise<void> };
      const original = proto.applyStatus;
      proto.applyStatus = async function (this: unknown, ...args: unknown[]) {
        if (this === o) await blocked;
        return original.apply(this, args);
      };
      return { proto, original };
    });
    // The toggle's answer waits for the peer; its notification to the primary's own server does not.
    const toggle = call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    try {
      const [r] = await until(box, 1, 200, 5_000);
      expect(note(r!)).toMatchObject({ event: "StatusChanged", status: "Off", actor: "primary" });
    } finally {
      unblock();
      proto.proto.applyStatus = proto.original;
    }
    expect((await toggle).status).toBe(200);
    expect(await received(box)).toHaveLength(1);
  });
});
