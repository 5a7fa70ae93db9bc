// What the notification tests share: the loopback receiver (receiver.global.ts) and subscribing to it.
import { runInDurableObject } from "cloudflare:test";
import { inject, expect } from "vitest";
import { call, enc, type Device } from "../helpers";

export const receiver = inject("receiverUrl");
let boxCounter = 0;
export const newBox = () => `box-${Date.now()}-${++boxCounter}`;

export interface Received {
  headers: Record<string, string>;
  body: string;
  /** 0 while the receiver holds the request open. */
  status: number;
}
export const received = async (box: string): Promise<Received[]> => (await fetch(`${receiver}/box/${box}`)).json();

/** Plans the receiver's answers: the next `fail` are 500, the next `hold` are held until release(). */
export const plan = (box: string, p: { fail?: number; hold?: number }) =>
  fetch(`${receiver}/plan/${box}?fail=${p.fail ?? 0}&hold=${p.hold ?? 0}`, { method: "PUT" });
export const release = (box: string) => fetch(`${receiver}/release/${box}`, { method: "POST" });

/** Waits (bounded) until the receiver holds `n` requests that were answered `status`. */
export async function until(box: string, n: number, status = 200, ms = 15_000): Promise<Received[]> {
  const end = Date.now() + ms;
  for (;;) {
    const all = await received(box);
    if (all.filter((r) => r.status === status).length >= n) return all;
    if (Date.now() > end) throw new Error(`receiver ${box} got ${all.length} requests, wanted ${n} answered ${status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function subscribe(d: Device, box: string, extra: Record<string, unknown> = {}) {
  const res = await call("POST", `/twinning/v1/${enc(d.address)}/subscriptions`, {
    token: d.token,
    body: { subscription: { callbackReference: { notifyURL: `${receiver}/box/${box}`, callbackData: `data-${box}` }, ...extra } },
  });
  expect(res.status, res.text).toBe(201);
  return res.json.subscription as { resourceURL: string; signingSecret: string };
}

export const note = (r: Received) => JSON.parse(r.body).twinningNotification;

/** What an object hosting a NotificationQueue has due: its alarm and its delivery queue, oldest first. */
export interface QueueView {
  alarm: number | null;
  queue: { notification_id: string; attempts: number; next_at: number }[];
}
export const queueView = (object: DurableObjectStub) =>
  runInDurableObject(object, async (_o, state): Promise<QueueView> => ({
    alarm: await state.storage.getAlarm(),
    queue: state.storage.sql.exec<{ notification_id: string; attempts: number; next_at: number }>("SELECT notification_id, attempts, next_at FROM delivery ORDER BY id").toArray(),
  }));

/** Waits (bounded) for a state of an object, without assuming how long the runtime takes. */
export async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
