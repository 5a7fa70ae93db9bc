// The way from a transition to the device: the call session's outbox carries what a transition queued
// to each device's SignalingUserObject in order per device (a message that could not be handed over
// is retried by the session's alarm), and that object delivers it at once, not only when its alarm runs.
// A device's object refuses the invitation (as an overloaded or restarting object would) through a
// patch of that one instance's signal(), so the test can act while the invitation waits for its retry.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, device, registerClient } from "../helpers";
import { eventually } from "../notify/support";
import { candidate, detectChannelForm, listen, placeCall } from "./fixtures";

const client = await registerClient(["webrtc:call"]);
await detectChannelForm(await device(client));

type Signal = (id: string, root: string, fields: Record<string, unknown>) => Promise<void>;

/** Makes `address`'s SignalingUserObject throw on invitations until the returned function is called. */
async function refuseInvitations(address: string): Promise<() => void> {
  let refusing = true;
  const patch = await runInDurableObject(env.SIGNALING_USERS.getByName(address), (o) => {
    const proto = Object.getPrototypeOf(o) as { signal: Signal };
    const original = proto.signal;
    proto.signal = async function (this: unknown, id, root, fields) {
      if (this === o && refusing && root === "wrtcsSessionInvitationNotification") throw new Error("object overloaded");
      return original.call(this, id, root, fields);
    };
    return { proto, original };
  });
  return () => {
    refusing = false;
    patch.proto.signal = patch.original;
  };
}

const outboxOf = (sessionId: string) =>
  runInDurableObject(env.CALL_SESSIONS.getByName(sessionId), async (_o, state) => ({
    alarm: await state.storage.getAlarm(),
    rows: state.storage.sql.exec<{ root: string; attempts: number; next_at: number }>("SELECT root, attempts, next_at FROM outbox ORDER BY id").toArray(),
  }));

describe("From a transition to the device", () => {
  it("a message to a device waits behind an earlier one that failed: the caller's ICE candidates never reach the callee before the invitation", async () => {
    const [a, b] = [await device(client), await device(client)];
    const lb = await listen(b);
    const release = await refuseInvitations(b.address);
    let c;
    try {
      c = await placeCall(a, b);
      // The invitation failed once and waits for its retry; the caller trickles meanwhile.
      expect((await call("PUT", `${c.path(a)}/ice`, { token: a.token, body: { wrtcsIceCandidates: [candidate(50000)] } })).status).toBe(204);
      const held = await outboxOf(c.id);
      expect(held.rows.map((r) => r.root)).toEqual(["wrtcsSessionInvitationNotification", "wrtcsIceNotification"]);
      expect(held.rows[0]!.attempts).toBeGreaterThanOrEqual(1);
      // The candidates were not handed over behind the failed invitation's back, and the alarm is set for its retry.
      expect(held.rows[1]!.attempts).toBe(0);
      expect(held.alarm).not.toBeNull();
      expect(held.alarm!).toBeLessThanOrEqual(held.rows[0]!.next_at);
      expect(lb.messages).toEqual([]);
    } finally {
      release();
    }
    // The alarm retries: the invitation arrives, then the candidates.
    await lb.next("wrtcsIceNotification");
    expect(lb.messages.map((m) => Object.keys(m)[0])).toEqual(["wrtcsSessionInvitationNotification", "wrtcsIceNotification"]);
    expect((await eventually(() => outboxOf(c.id), (v) => v.rows.length === 0, "an empty outbox")).rows).toEqual([]);
  });

  it("a call rings even when the callee's object never runs its alarm: the request that queued the invitation delivers it", async () => {
    const [a, b] = [await device(client), await device(client)];
    const lb = await listen(b);
    // The runtime's alarm is lost for this object (as a scheduler that dropped it would leave it): its runs do nothing.
    const ran: number[] = [];
    await runInDurableObject(env.SIGNALING_USERS.getByName(b.address), (o) => {
      (o as unknown as { alarm: () => Promise<void> }).alarm = async () => void ran.push(Date.now());
    });
    const c = await placeCall(a, b);
    expect(new URL((await lb.next("wrtcsSessionInvitationNotification")).link[0].href).pathname).toBe(c.path(b));
    // And the cancel that follows, in order.
    expect((await call("DELETE", c.path(a), { token: a.token })).status).toBe(204);
    expect(await lb.next("wrtcsEventNotification")).toMatchObject({ eventType: "Cancelled", reason: "CallerCancelled" });
    expect(lb.messages.map((m) => Object.keys(m)[0])).toEqual(["wrtcsSessionInvitationNotification", "wrtcsEventNotification"]);
  });

  it("a callee whose channel WebSocket dropped (a server restart closes it 1006) is rung when it reconnects: the invitation waits in its channel", async () => {
    const [a, b] = [await device(client), await device(client)];
    const lb = await listen(b);
    lb.close();
    // The channel object has seen the socket go before the call is placed.
    const channelSockets = async () => {
      const subs = await call("GET", `/webrtcsignaling/v1/${encodeURIComponent(b.address)}/subscriptions`, { token: b.token });
      const channelId = subs.json.wrtcsNotificationSubscriptionList.wrtcsNotificationSubscription[0].callbackReference.notifyURL.split("/channels/")[1].split("/")[0];
      return runInDurableObject(env.CHANNELS.getByName(channelId), (_o, state) => state.getWebSockets().length);
    };
    await eventually(channelSockets, (n) => n === 0, "the channel to see its socket closed");
    const c = await placeCall(a, b);
    // Delivered to the channel (nothing for the user object to retry); no socket has it yet.
    await eventually(() => call("GET", `/webrtcsignaling/v1/${encodeURIComponent(b.address)}/subscriptions`, { token: b.token }), (r) => r.json.wrtcsNotificationSubscriptionList.wrtcsNotificationSubscription[0].deliveryState.queued === 0, "the delivery");
    expect(lb.messages).toEqual([]);
    await lb.reconnect();
    expect(new URL((await lb.next("wrtcsSessionInvitationNotification")).link[0].href).pathname).toBe(c.path(b));
  });
});
