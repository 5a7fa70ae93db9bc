// The OMA Notification Channel in the TS's JSON (OMA-TS-REST_NetAPI_NotificationChannel-V1_0), as
// public OMA/GSMA client code sends it, and its limits (issue 11, issue 12 items 4-6).
import { SELF, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, device, enc, ORIGIN, registerClient, twin, type Device } from "../helpers";

const client = await registerClient();

/** The request body of a GSMA RCS / OneAPI client: every number a string. */
const omaChannel = (extra: Record<string, unknown> = {}) => ({
  notificationChannel: {
    applicationTag: "watch-app",
    channelData: { type: "nc:LongPollingData", maxNotifications: "1" },
    channelLifetime: "7200",
    channelType: "LongPolling",
    ...extra,
  },
});

async function createChannel(d: Device, body: unknown = omaChannel()) {
  const res = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body });
  expect(res.status, res.text).toBe(201);
  return res.json.notificationChannel as { channelData: { type: string; channelURL: string; maxNotifications: number }; callbackURL: string; resourceURL: string; channelLifetime: number };
}
const subscribeTo = (d: Device, callbackURL: string) =>
  call("POST", `/twinning/v1/${enc(d.address)}/subscriptions`, { token: d.token, body: { subscription: { callbackReference: { notifyURL: callbackURL, callbackData: "nc" }, clientCorrelator: crypto.randomUUID() } } });
const toggle = (p: Device, status: "On" | "Off") => call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status } });
const poll = async (url: string, query = "timeout=10", init: RequestInit = {}) => {
  const res = await SELF.fetch(`${url}?${query}`, { method: "POST", ...init });
  return { status: res.status, json: (await res.json()) as any };
};

/** Waits (bounded) until the channel object holds `n` polls. */
async function heldPolls(channelURL: string, n: number) {
  const id = new URL(channelURL).pathname.split("/")[5]!;
  const end = Date.now() + 5_000;
  for (;;) {
    const held = await runInDurableObject(env.CHANNELS.getByName(id), (o) => (o as unknown as { waiters: unknown[] }).waiters.length);
    if (held === n) return;
    if (Date.now() > end) throw new Error(`channel holds ${held} polls, wanted ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Notification Channel in OMA JSON (issue 11)", () => {
  it("a LongPolling channel from a GSMA-style request (numbers as strings) is answered in the TS's form, with numbers", async () => {
    const d = await device(client);
    const res = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body: omaChannel({ clientCorrelator: "corr-1" }) });
    expect(res.status, res.text).toBe(201);
    const ch = res.json.notificationChannel;
    const base = `${ORIGIN}/notificationchannel/v1/${enc(d.address)}/channels/`;
    expect(ch).toMatchObject({
      clientCorrelator: "corr-1",
      applicationTag: "watch-app",
      channelType: "LongPolling",
      channelData: { type: "nc:LongPollingData", maxNotifications: 1, channelURL: expect.stringMatching(new RegExp(`^${base}[A-Za-z0-9_-]{22}/poll$`)) },
      callbackURL: expect.stringMatching(/\/callback$/),
      resourceURL: expect.stringMatching(new RegExp(`^${base}[A-Za-z0-9_-]{22}$`)),
    });
    expect(ch.channelLifetime).toBeGreaterThan(7190);
    expect(ch.channelLifetime).toBeLessThanOrEqual(7200);
    expect(res.headers.get("location")).toBe(ch.resourceURL);
  });

  it("a repeated clientCorrelator returns the existing channel (200), not a second one", async () => {
    const d = await device(client);
    const first = await createChannel(d, omaChannel({ clientCorrelator: "again" }));
    const again = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body: omaChannel({ clientCorrelator: "again" }) });
    expect(again.status).toBe(200);
    expect(again.json.notificationChannel.resourceURL).toBe(first.resourceURL);
    const list = await call("GET", `/notificationchannel/v1/acr:Authorization/channels`, { token: d.token });
    expect(list.status).toBe(200);
    expect(list.json.notificationChannelList.notificationChannel.map((c: { resourceURL: string }) => c.resourceURL)).toEqual([first.resourceURL]);
  });

  it("a WebSockets channel in the same form: channelURL is ws://, each message one notificationList entry", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const ch = await createChannel(s, { notificationChannel: { channelType: "WebSockets", channelLifetime: "600" } });
    expect(ch.channelData).toMatchObject({ type: "nc:WebSocketData", channelURL: expect.stringMatching(/^ws:\/\/.*\/ws$/) });
    expect((await subscribeTo(s, ch.callbackURL)).status).toBe(201);
    const upgrade = await SELF.fetch(ch.channelData.channelURL.replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
    expect(upgrade.status).toBe(101);
    const ws = upgrade.webSocket!;
    const got = new Promise<any>((resolve) => ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string))));
    ws.accept();
    await toggle(p, "Off");
    expect((await got).twinningNotification).toMatchObject({ event: "StatusChanged", status: "Off", callbackData: "nc" });
    ws.close(1000, "done");
  });

  it("a long poll answers in notificationList, at most maxNotifications at a time, each under its type's name; a timed-out poll answers 200 with an empty list", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const ch = await createChannel(s);
    await subscribeTo(s, ch.callbackURL);
    await toggle(p, "Off");
    await toggle(p, "On");
    const first = await poll(ch.channelData.channelURL);
    expect(first.status).toBe(200);
    expect(first.json.notificationList).toHaveLength(1);
    expect(Object.keys(first.json.notificationList[0])).toEqual(["twinningNotification"]);
    expect(first.json.notificationList[0].twinningNotification.status).toBe("Off");
    const second = await poll(ch.channelData.channelURL);
    expect(second.json.notificationList.map((n: any) => n.twinningNotification.status)).toEqual(["On"]);
    const empty = await poll(ch.channelData.channelURL, "timeout=0.2");
    expect(empty).toEqual({ status: 200, json: { notificationList: [] } });
  });

  it("lifetime refresh with a string number, then DELETE: the channel is gone", async () => {
    const d = await device(client);
    const ch = await createChannel(d);
    const path = new URL(ch.resourceURL).pathname;
    const refreshed = await call("PUT", `${path}/channelLifetime`, { token: d.token, body: { channelLifetime: "3600" } });
    expect(refreshed.status, refreshed.text).toBe(200);
    expect(refreshed.json).toEqual({ channelLifetime: 3600 });
    expect((await call("GET", path, { token: d.token })).json.notificationChannel.channelLifetime).toBe(3600);
    expect((await call("PUT", `${path}/channelLifetime`, { token: d.token, body: { channelLifetime: "a while" } })).json.requestError.serviceException.variables[0]).toBe("channelLifetime");
    expect((await call("DELETE", path, { token: d.token })).status).toBe(204);
    expect((await call("GET", path, { token: d.token })).status).toBe(404);
    expect((await poll(ch.channelData.channelURL, "timeout=0")).status).toBe(404);
  });

  it("/openapi.json documents the OMA form and that numbers may arrive as strings", async () => {
    const doc = (await (await SELF.fetch(`${ORIGIN}/openapi.json`)).json()) as any;
    expect(doc.info.description).toMatch(/numbers and booleans in request bodies may also be sent as strings/);
    const req = doc.components.schemas.NotificationChannelRequest.properties.notificationChannel.properties;
    expect(req.channelLifetime.type).toEqual(["integer", "string"]);
    expect(req.channelLifetime.description).toMatch(/a string holding one/);
    expect(req.channelData.properties.maxNotifications.type).toEqual(["integer", "string"]);
    expect(doc.components.schemas.NotificationChannel.properties.notificationChannel.properties.channelLifetime.type).toBe("integer");
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      "/notificationchannel/v1/{userId}/channels/{channelId}/channelLifetime",
      "/admin/v1/subscribers/{address}/notifications/dropped",
      "/admin/v1/subscribers/{address}/notifications/dropped/replay",
    ]));
  });

  it("the home-made shape is refused: 400 naming the unknown root", async () => {
    const d = await device(client);
    const res = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body: { channel: { channelType: "LongPolling" } } });
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.messageId).toBe("SVC0002");
  });

  it("subscriptions take OMA string numbers too: duration \"3600\"", async () => {
    const d = await device(client);
    const res = await call("POST", `/twinning/v1/${enc(d.address)}/subscriptions`, {
      token: d.token, body: { subscription: { callbackReference: { notifyURL: "https://hooks.example.com/x" }, duration: "3600" } },
    });
    expect(res.status, res.text).toBe(201);
    expect(Date.parse(res.json.subscription.expiresAt) - Date.now()).toBeGreaterThan(3590_000);
  });
});

describe("Notification Channel limits (issue 12)", () => {
  it("item 4: a long poll whose client hung up does not swallow the next notification; the next poll gets it", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const ch = await createChannel(s);
    await subscribeTo(s, ch.callbackURL);
    const hangUp = new AbortController();
    const dropped = SELF.fetch(`${ch.channelData.channelURL}?timeout=30`, { method: "POST", signal: hangUp.signal }).catch(() => undefined);
    await heldPolls(ch.channelData.channelURL, 1);
    hangUp.abort();
    await dropped;
    await toggle(p, "Off");
    const next = await poll(ch.channelData.channelURL);
    expect(next.json.notificationList.map((n: any) => n.twinningNotification.status)).toEqual(["Off"]);
  });

  it("item 5: at most 10 channels per subscriber, 2 held polls per channel, 5 WebSockets per channel: 403 POL0001 naming the limit", async () => {
    const d = await device(client);
    const channels = [];
    for (let i = 0; i < 10; i++) channels.push(await createChannel(d));
    const over = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body: omaChannel() });
    expect(over.status).toBe(403);
    expect(over.json.requestError.policyException).toMatchObject({ messageId: "POL0001", variables: [expect.stringContaining("at most 10 Notification Channels per subscriber")] });
    // Deleting one frees its place.
    expect((await call("DELETE", new URL(channels[0]!.resourceURL).pathname, { token: d.token })).status).toBe(204);
    await createChannel(d);

    const url = channels[1]!.channelData.channelURL;
    const held = [poll(url, "timeout=2"), poll(url, "timeout=2")];
    await heldPolls(url, 2);
    const third = await poll(url, "timeout=2");
    expect(third.status).toBe(403);
    expect(third.json.requestError.policyException.variables[0]).toMatch(/at most 2 long polls/);
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);

    const wsChannel = await (async () => {
      await call("DELETE", new URL(channels[2]!.resourceURL).pathname, { token: d.token });
      return createChannel(d, { notificationChannel: { channelType: "WebSockets" } });
    })();
    const sockets: WebSocket[] = [];
    for (let i = 0; i < 5; i++) {
      const up = await SELF.fetch(wsChannel.channelData.channelURL.replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
      expect(up.status).toBe(101);
      up.webSocket!.accept();
      sockets.push(up.webSocket!);
    }
    const sixth = await SELF.fetch(wsChannel.channelData.channelURL.replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
    expect(sixth.status).toBe(403);
    expect(((await sixth.json()) as any).requestError.policyException.variables[0]).toMatch(/at most 5 WebSockets/);
    for (const ws of sockets) ws.close(1000, "done");
  });

  it("item 6: malformed percent-encoding in a channel URL (or anywhere) is 400, not 500", async () => {
    for (const path of [
      "/notificationchannel/v1/%E0%A4%A/channels/AAAAAAAAAAAAAAAAAAAAAA/poll?timeout=0",
      "/notificationchannel/v1/tel%3A%2B1%E0%A4%A/channels/AAAAAAAAAAAAAAAAAAAAAA/ws",
      "/twinning/v1/%E0%A4%A/subscriptions",
      "/notificationchannel/v1/acr:Authorization/channels/AAAAAAAAAAAAAAAAAAAAAA/poll?timeout=%",
    ]) {
      const res = await SELF.fetch(`${ORIGIN}${path}`);
      expect(res.status, path).toBe(400);
      expect(((await res.json()) as any).requestError.serviceException).toMatchObject({ messageId: "SVC0002", variables: [expect.stringMatching(/^(path|query)$/), "malformed percent-encoding"] });
    }
    // Well-formed: "tel%3A%2B1%25" is "tel:+1%", decoded once, which is no subscriber address (400
    // naming userId), on the poll and on the WebSocket URL alike; a well-formed unknown channel is 404.
    for (const init of [{}, { headers: { Upgrade: "websocket" } }]) {
      const kind = "headers" in init ? "ws" : "poll?timeout=0";
      const res = await SELF.fetch(`${ORIGIN}/notificationchannel/v1/tel%3A%2B1%25/channels/AAAAAAAAAAAAAAAAAAAAAA/${kind}`, init);
      expect(res.status, kind).toBe(400);
      expect(((await res.json()) as any).requestError.serviceException.variables[0]).toBe("userId");
    }
    expect((await SELF.fetch(`${ORIGIN}/notificationchannel/v1/tel%3A%2B15550001/channels/AAAAAAAAAAAAAAAAAAAAAA/poll?timeout=0`)).status).toBe(404);
  });

  it("requests naming random channel ids leave no stored object behind", async () => {
    const ids = Array.from({ length: 10 }, () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16)))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""));
    for (const id of ids) {
      expect((await SELF.fetch(`${ORIGIN}/notificationchannel/v1/tel%3A%2B15550001/channels/${id}/poll?timeout=0`, { method: "POST" })).status).toBe(404);
      expect((await SELF.fetch(`${ORIGIN}/notificationchannel/v1/tel%3A%2B15550001/channels/${id}/ws`, { headers: { Upgrade: "websocket" } })).status).toBe(404);
    }
    for (const id of ids) {
      const tables = await runInDurableObject(env.CHANNELS.getByName(id), (_o, state) => state.storage.sql.exec("SELECT name FROM sqlite_master").toArray());
      expect(tables, id).toEqual([]);
    }
  });
});
