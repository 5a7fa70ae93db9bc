import { SELF, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callbackUrlProblem } from "../../src/notify/callback-url";
import { call, device, enc, ORIGIN, registerClient, twin, type Device } from "../helpers";
import { newBox, note, received, receiver, subscribe, until, type Received } from "./support";

const client = await registerClient();

async function verifySignature(secret: string, r: Received): Promise<boolean> {
  const m = r.headers["x-notification-signature"]?.match(/^t=(\d+),v1=([0-9a-f]{64})$/);
  if (!m) return false;
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const mac = Uint8Array.from(m[2]!.match(/../g)!.map((h) => parseInt(h, 16)));
  const fresh = Math.abs(Date.now() / 1000 - Number(m[1])) < 300;
  return fresh && crypto.subtle.verify("HMAC", key, mac, new TextEncoder().encode(`${m[1]}.${r.body}`));
}

describe("Toggle notifications by callback (HLF-PD-007, SD-008)", () => {
  it("HLF-PD-007: a toggle by the secondary reaches the primary's server, signed, with callbackData and a unique id", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "watch");
    const box = newBox();
    const sub = await subscribe(p, box);
    await call("PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: "Off" } });
    const [r] = await until(box, 1);
    expect(await verifySignature(sub.signingSecret, r!)).toBe(true);
    expect(await verifySignature("whsec_wrong", r!)).toBe(false);
    expect(note(r!)).toMatchObject({ event: "StatusChanged", primary: p.address, secondary: s.address, name: "watch", status: "Off", actor: "secondary", callbackData: `data-${box}` });
    expect(note(r!).notificationId).toBe(r!.headers["x-notification-id"]);
    expect(Date.parse(note(r!).timestamp)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("HLF-SD-008: a toggle by the primary reaches the secondary's server", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "car");
    const box = newBox();
    await subscribe(s, box);
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/car/status`, { token: p.token, body: { status: "Off" } });
    const [r] = await until(box, 1);
    expect(note(r!)).toMatchObject({ event: "StatusChanged", status: "Off", actor: "primary", primary: p.address, secondary: s.address });
  });

  it("activation and deactivation are notified to both sides", async () => {
    const [p, s] = [await device(client), await device(client)];
    const [pb, sb] = [newBox(), newBox()];
    await subscribe(p, pb);
    await subscribe(s, sb);
    await twin(p, s, "w");
    await call("DELETE", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    for (const box of [pb, sb]) {
      const got = (await until(box, 2)).map(note);
      expect(got.map((n) => [n.event, n.actor])).toEqual([["Activated", "primary"], ["Deactivated", "secondary"]]);
    }
  });

  it("a receiver that fails twice then succeeds gets the notification exactly once more after the failures (same id)", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const box = newBox();
    await fetch(`${receiver}/plan/${box}?fail=2`, { method: "PUT" });
    await subscribe(s, box);
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    const all = await until(box, 1);
    expect(all.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(all.map((r) => note(r).notificationId)).size).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await received(box)).toHaveLength(3);
    expect(await env.SUBSCRIBERS.getByName(s.address).notificationStats()).toMatchObject({ delivered: 1, dropped: 0, queued: 0 });
  });

  it("a receiver that keeps failing is retried for a bounded period, then the notification is dropped and counted", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const box = newBox();
    await fetch(`${receiver}/plan/${box}?fail=1000`, { method: "PUT" });
    await subscribe(s, box);
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    await until(box, 1, 500);
    // A day later: the retry window has passed. (A retry already in flight may still reschedule
    // once with its older view, so the next attempt is made due until the drop is seen.)
    const stub = env.SUBSCRIBERS.getByName(s.address);
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
    expect(stats).toMatchObject({ delivered: 0, dropped: 1, queued: 0 });
  });

  it("order holds over 50 rapid toggles", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const [pb, sb] = [newBox(), newBox()];
    await subscribe(p, pb);
    await subscribe(s, sb);
    const statuses = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? "Off" : "On"));
    for (const [i, status] of statuses.entries()) {
      const res = i % 3 === 0
        ? await call("PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status } })
        : await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status } });
      expect(res.status).toBe(200);
    }
    for (const box of [pb, sb]) {
      const got = (await until(box, 50)).map(note);
      expect(got.map((n) => n.status)).toEqual(statuses);
      const times = got.map((n) => Date.parse(n.timestamp));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
    }
  });
});

describe("Subscriptions (OMA REST NetAPI)", () => {
  it("create, list, read, delete; a repeated clientCorrelator returns the existing one", async () => {
    const d = await device(client);
    const box = newBox();
    const first = await subscribe(d, box, { clientCorrelator: "corr-1" });
    expect(first.resourceURL).toMatch(new RegExp(`^${ORIGIN}/twinning/v1/${enc(enc(d.address)).replace(/%/g, "%")}|/subscriptions/`));
    const again = await call("POST", `/twinning/v1/${enc(d.address)}/subscriptions`, {
      token: d.token, body: { subscription: { callbackReference: { notifyURL: `${receiver}/box/${box}` }, clientCorrelator: "corr-1" } },
    });
    expect(again.status).toBe(200);
    expect(again.json.subscription.resourceURL).toBe(first.resourceURL);
    expect(again.json.subscription.signingSecret).toBeUndefined();
    const list = await call("GET", "/twinning/v1/acr:Authorization/subscriptions", { token: d.token });
    expect(list.json.subscriptionList.subscription).toHaveLength(1);
    const path = new URL(first.resourceURL).pathname;
    expect((await call("GET", path, { token: d.token })).json.subscription.clientCorrelator).toBe("corr-1");
    expect((await call("DELETE", path, { token: d.token })).status).toBe(204);
    expect((await call("GET", path, { token: d.token })).status).toBe(404);
  });

  it("only the subscriber's own token manages its subscriptions", async () => {
    const [a, b] = [await device(client), await device(client)];
    const sub = await subscribe(a, newBox());
    const path = new URL(sub.resourceURL).pathname;
    expect((await call("GET", path, { token: b.token })).status).toBe(403);
    expect((await call("DELETE", path, { token: b.token })).status).toBe(403);
    expect((await call("GET", path)).status).toBe(401);
  });

  it("a deleted subscription receives nothing more", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const box = newBox();
    const sub = await subscribe(s, box);
    await call("DELETE", new URL(sub.resourceURL).pathname, { token: s.token });
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    await runDurableObjectAlarm(env.SUBSCRIBERS.getByName(s.address));
    expect(await received(box)).toEqual([]);
  });

  it("refuses callback URLs that could reach internal addresses: 400 SVC0002 naming notifyURL", async () => {
    const d = await device(client);
    const refused = [
      "http://example.com/hook", // not https
      "https://user:pass@example.com/hook", // credentials
      "https://10.0.0.5/hook",
      "https://172.16.3.4/hook",
      "https://192.168.1.1/hook",
      "https://169.254.169.254/latest/meta-data", // cloud metadata
      "https://100.64.0.1/hook", // CGNAT
      "https://0.0.0.0/hook",
      "https://167772161/hook", // 10.0.0.1 in decimal
      "https://0x0a000001/hook", // 10.0.0.1 in hex
      "https://[fd00::1]/hook",
      "https://[fe80::1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "https://metadata.google.internal/computeMetadata",
      "https://printer.local/hook",
      "https://intranet/hook",
      "ftp://example.com/hook",
      "not a url",
    ];
    for (const notifyURL of refused) {
      const res = await call("POST", `/twinning/v1/${enc(d.address)}/subscriptions`, { token: d.token, body: { subscription: { callbackReference: { notifyURL } } } });
      expect(res.status, notifyURL).toBe(400);
      expect(res.json.requestError.serviceException).toMatchObject({ messageId: "SVC0002", variables: ["subscription.callbackReference.notifyURL", expect.any(String)] });
    }
    expect((await call("GET", "/twinning/v1/acr:Authorization/subscriptions", { token: d.token })).json.subscriptionList.subscription).toEqual([]);
  });

  it("loopback callbacks only when configured for local development, and never over http elsewhere", () => {
    for (const url of ["http://127.0.0.1:9/x", "http://localhost/x", "https://[::1]/x", "http://127.1/x"]) {
      expect(callbackUrlProblem(url, { allowLoopback: false }), url).toBeTruthy();
      expect(callbackUrlProblem(url, { allowLoopback: true }), url).toBeUndefined();
    }
    expect(callbackUrlProblem("https://hooks.example.com/x", { allowLoopback: false })).toBeUndefined();
    expect(callbackUrlProblem("http://hooks.example.com/x", { allowLoopback: true })).toBeTruthy();
  });
});

describe("OMA Notification Channel", () => {
  async function channel(d: Device, channelType: "LongPolling" | "WebSockets") {
    const res = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body: { notificationChannel: { channelType, channelLifetime: 600 } } });
    expect(res.status, res.text).toBe(201);
    return res.json.notificationChannel as { channelData: { channelURL: string }; callbackURL: string; resourceURL: string; channelLifetime: number };
  }
  const subscribeChannel = (d: Device, ch: { callbackURL: string }) =>
    call("POST", `/twinning/v1/${enc(d.address)}/subscriptions`, { token: d.token, body: { subscription: { callbackReference: { notifyURL: ch.callbackURL, callbackData: "nc" } } } });

  it("a toggle on the primary reaches the secondary's long poll", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const ch = await channel(s, "LongPolling");
    expect((await subscribeChannel(s, ch)).status).toBe(201);
    const poll = SELF.fetch(`${ch.channelData.channelURL}?timeout=10`, { method: "POST" });
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    const res = await poll;
    expect(res.status).toBe(200);
    const { notificationList } = (await res.json()) as any;
    expect(notificationList[0].twinningNotification).toMatchObject({ event: "StatusChanged", status: "Off", actor: "primary", callbackData: "nc" });
  });

  it("a long poll with nothing to say returns an empty list after its timeout", async () => {
    const d = await device(client);
    const ch = await channel(d, "LongPolling");
    const res = await SELF.fetch(`${ch.channelData.channelURL}?timeout=0.2`);
    expect(((await res.json()) as any).notificationList).toEqual([]);
  });

  it("a toggle on the primary reaches the secondary's WebSocket; notifications that came while it was away wait for it", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const ch = await channel(s, "WebSockets");
    expect(ch.channelData.channelURL).toMatch(/^ws:\/\//);
    await subscribeChannel(s, ch);
    // While no device is connected: it waits in the channel.
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    await new Promise((r) => setTimeout(r, 300));
    const upgrade = await SELF.fetch(ch.channelData.channelURL.replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
    expect(upgrade.status).toBe(101);
    const ws = upgrade.webSocket!;
    const messages: any[] = [];
    let wake: () => void = () => {};
    ws.addEventListener("message", (e) => {
      messages.push(JSON.parse(e.data as string));
      wake();
    });
    ws.accept();
    const next = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${messages.length} messages`)), 10_000);
        wake = () => messages.length >= n && (clearTimeout(t), resolve());
        wake();
      });
    await next(1);
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "On" } });
    await next(2);
    expect(messages.map((m) => m.twinningNotification.status)).toEqual(["Off", "On"]);
    ws.close(1000, "done");
  });

  it("GET, lifetime refresh and DELETE; a deleted channel stops delivering", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const ch = await channel(s, "LongPolling");
    await subscribeChannel(s, ch);
    const path = new URL(ch.resourceURL).pathname;
    expect((await call("GET", path, { token: s.token })).json.notificationChannel.channelData.channelURL).toBe(ch.channelData.channelURL);
    expect((await call("GET", path, { token: p.token })).status).toBe(403);
    const refreshed = await call("PUT", `${path}/channelLifetime`, { token: s.token, body: { channelLifetime: 3600 } });
    expect(refreshed.json.channelLifetime).toBeGreaterThan(3500);
    expect((await call("DELETE", path, { token: s.token })).status).toBe(204);
    expect((await call("GET", path, { token: s.token })).status).toBe(404);
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    await runDurableObjectAlarm(env.SUBSCRIBERS.getByName(s.address));
    expect((await SELF.fetch(`${ch.channelData.channelURL}?timeout=0`)).status).toBe(404);
    expect(await env.SUBSCRIBERS.getByName(s.address).notificationStats()).toMatchObject({ delivered: 0, dropped: 1 });
  });

  it("a channel's callbackURL cannot be used by a subscription of another subscriber, nor posted to from outside", async () => {
    const [a, b] = [await device(client), await device(client)];
    const ch = await channel(a, "LongPolling");
    const res = await subscribeChannel(b, ch);
    expect(res.status).toBe(400);
    expect((await SELF.fetch(ch.callbackURL, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status).toBe(403);
  });
});
