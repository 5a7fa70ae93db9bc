/// <reference lib="dom" />
// WebRTC calls between real browsers through the gateway. Three headless Chromium pages (Debian's,
// through playwright-core) are the phone, the watch and a caller. Each page uses only the
// gateway's API: it opens its own Notification Channel WebSocket, subscribes to its signaling
// notifications, and exchanges offer, answer and trickled ICE candidates through
// /webrtcsignaling/v1; an RTCPeerConnection connects and a data channel carries a message each way.
// The gateway is `wrangler dev`, as `npm start` runs it.
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "./dev-server";

const CHROMIUM = "/usr/bin/chromium";
const ADMIN = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };

interface Subscriber {
  address: string;
  key: Buffer;
  token?: string;
}

/**
 * What each page runs: a minimal phone app written against the public API only. Serialised by
 * playwright into the page, so it may use nothing from this file.
 */
function installApp(cfg: { base: string; address: string; token: string }) {
  const w = window as any;
  const api = (path: string, method = "GET", body?: unknown): Promise<{ status: number; json: any }> =>
    fetch(path.startsWith("http") ? path : `${cfg.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${cfg.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    }).then(async (r) => ({ status: r.status, json: r.status === 204 ? undefined : await r.json() }));
  const me = `/webrtcsignaling/v1/${encodeURIComponent(cfg.address)}`;
  const app: any = { notifications: [] as any[], invitations: [] as any[], events: [] as any[], received: [] as string[], log: [] as string[], api };
  w.app = app;
  let pc: RTCPeerConnection | undefined;
  let session: string | undefined; // this device's URL of the session
  let remoteEarly: RTCIceCandidateInit[] = [];
  const localEarly: RTCIceCandidateInit[] = [];
  const sendCandidates = async (c: RTCIceCandidateInit[]) => {
    if (c.length) await api(`${session}/ice`, "PUT", { wrtcsIceCandidates: c });
  };
  const onLocalCandidate = (e: RTCPeerConnectionIceEvent) => {
    if (!e.candidate || e.candidate.candidate === "") return;
    const c = { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex };
    if (session) void sendCandidates([c]);
    else localEarly.push(c);
  };
  const wire = (channel: RTCDataChannel, reply?: string) => {
    app.channel = channel;
    channel.onopen = () => app.log.push("datachannel open");
    channel.onmessage = (m) => {
      app.received.push(String(m.data));
      if (reply) channel.send(reply);
    };
  };

  app.connect = async () => {
    const ch = await api(`/notificationchannel/v1/${encodeURIComponent(cfg.address)}/channels`, "POST", { notificationChannel: { channelType: "WebSockets", channelLifetime: 600 } });
    const channel = ch.json.notificationChannel ?? ch.json.channel;
    const sub = await api(`${me}/subscriptions`, "POST", { wrtcsNotificationSubscription: { callbackReference: { notifyURL: channel.callbackURL, callbackData: cfg.address } } });
    const ws = new WebSocket(channel.channelData.channelURL);
    // One notification at a time, in the order they arrive (an answer is applied before its candidates).
    let chain = Promise.resolve();
    const handle = async (n: any) => {
      app.notifications.push(n);
      if (n.wrtcsSessionInvitationNotification) app.invitations.push(n.wrtcsSessionInvitationNotification);
      if (n.wrtcsEventNotification) app.events.push(n.wrtcsEventNotification);
      if (n.wrtcsAnswerNotification && pc) {
        await pc.setRemoteDescription({ type: "answer", sdp: n.wrtcsAnswerNotification.answer.sdp });
        for (const c of remoteEarly.splice(0)) await pc.addIceCandidate(c);
      }
      if (n.wrtcsIceNotification) {
        for (const c of n.wrtcsIceNotification.iceCandidates) {
          if (c.candidate === "") continue;
          if (pc?.remoteDescription) await pc.addIceCandidate(c);
          else remoteEarly.push(c);
        }
      }
    };
    ws.onmessage = (m) => {
      if (m.data === "pong") return;
      const n = JSON.parse(m.data);
      chain = chain.then(() => handle(n)).catch((err) => app.log.push(`error: ${err}`));
    };
    await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
    return { channel: ch.status, subscription: sub.status };
  };

  /** The caller: an offer with a data channel, then candidates as they come. */
  app.call = async (callee: string) => {
    pc = new RTCPeerConnection();
    app.pc = pc;
    pc.onicecandidate = onLocalCandidate;
    wire(pc.createDataChannel("chat"));
    app.channel.onopen = () => app.channel.send(`hello from ${cfg.address}`);
    await pc.setLocalDescription(await pc.createOffer());
    const res = await api(`${me}/sessions`, "POST", { wrtcsSession: { tParticipantAddress: callee, offer: { sdp: pc.localDescription!.sdp } } });
    if (res.status !== 201) return res;
    session = res.json.wrtcsSession.resourceURL;
    await sendCandidates(localEarly.splice(0));
    return res;
  };

  /** A callee device: answer the invitation it got (the gateway decides whether this device wins). */
  app.answer = async () => {
    const inv = app.invitations[app.invitations.length - 1];
    session = inv.link[0].href;
    await api(`${session}/status`, "PUT", { wrtcsSessionStatus: { status: "Ringing" } });
    pc = new RTCPeerConnection();
    app.pc = pc;
    pc.onicecandidate = onLocalCandidate;
    pc.ondatachannel = (e) => wire(e.channel, `hello from ${cfg.address}`);
    await pc.setRemoteDescription({ type: "offer", sdp: inv.offer.sdp });
    for (const c of remoteEarly.splice(0)) await pc.addIceCandidate(c);
    const answer = await pc.createAnswer();
    // The answer is sent before it is applied: a device that lost the race gathers nothing.
    const res = await api(`${session}/answer`, "PUT", { wrtcsAnswer: { sdp: answer.sdp } });
    if (res.status === 200) await pc.setLocalDescription(answer);
    else pc.close();
    return res;
  };

  app.ring = async () => {
    const inv = app.invitations[app.invitations.length - 1];
    return api(`${inv.link[0].href}/status`, "PUT", { wrtcsSessionStatus: { status: "Ringing" } });
  };
  app.state = () => pc?.connectionState;
  app.hangUp = () => api(session!, "DELETE");
}

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("WebRTC calls between headless Chromium pages", () => {
  let server: DevServer;
  let persist: string;
  let profile: string;
  let context: BrowserContext;
  let client: { client_id: string; client_secret: string };
  const stamp = String(Date.now() % 1_000_000).padStart(6, "0");
  const phone: Subscriber = { address: `tel:+1555${stamp}01`, key: randomBytes(32) };
  const watch: Subscriber = { address: `tel:+1555${stamp}02`, key: randomBytes(32) };
  const caller: Subscriber = { address: `tel:+1555${stamp}03`, key: randomBytes(32) };
  const pages = new Map<string, Page>();

  const json = async (res: Response) => ({ status: res.status, body: (await res.json().catch(() => undefined)) as any });
  async function tokenFor(s: Subscriber, scope: string): Promise<string> {
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(s.address)
      .setAudience(`${server.url}/oauth/token`).setIssuedAt().setExpirationTime("2m").setJti(randomUUID())
      .sign(s.key);
    const res = await json(await fetch(`${server.url}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}` },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion, scope }),
    }));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return res.body.access_token;
  }
  const bearer = (t: string) => ({ Authorization: `Bearer ${t}`, "Content-Type": "application/json" });

  async function openApp(s: Subscriber): Promise<Page> {
    const page = await context.newPage();
    page.on("console", (m) => m.type() === "error" && console.log(`[${s.address}] ${m.text()}`));
    await page.goto(`${server.url}/openapi.json`); // any page of the gateway's origin
    await page.evaluate(installApp, { base: server.url, address: s.address, token: s.token! });
    expect(await page.evaluate(() => (window as any).app.connect())).toEqual({ channel: 201, subscription: 201 });
    pages.set(s.address, page);
    return page;
  }
  const until = (page: Page, fn: string, timeout = 20_000) => page.waitForFunction(fn, undefined, { timeout, polling: 50 });

  beforeAll(async () => {
    persist = await mkdtemp(join(tmpdir(), "oma-edge-webrtc-"));
    profile = await mkdtemp(join(tmpdir(), "oma-edge-webrtc-chromium-"));
    server = await startDevServer({ persistTo: persist });
    for (const s of [phone, watch, caller]) {
      const put = await fetch(`${server.url}/admin/v1/subscribers/${encodeURIComponent(s.address)}`, {
        method: "PUT", headers: ADMIN, body: JSON.stringify({ mno: { mcc: "001", mnc: "01" }, deviceKey: s.key.toString("base64url") }),
      });
      expect(put.status).toBe(201);
    }
    const reg = await fetch(`${server.url}/admin/v1/clients`, { method: "POST", headers: ADMIN, body: JSON.stringify({ name: "Phone app", scopes: ["twinning:primary", "twinning:secondary", "webrtc:call"] }) });
    client = (await reg.json()) as typeof client;
    phone.token = await tokenFor(phone, "twinning:primary webrtc:call");
    watch.token = await tokenFor(watch, "twinning:secondary webrtc:call");
    caller.token = await tokenFor(caller, "webrtc:call");
    // The watch is twinned with the phone (use case step 7).
    const code = await json(await fetch(`${server.url}/twinning/v1/acr:Authorization/activationCodes`, { method: "POST", headers: bearer(watch.token), body: "{}" }));
    const twin = await json(await fetch(`${server.url}/twinning/v1/acr:Authorization/twins`, { method: "POST", headers: bearer(phone.token), body: JSON.stringify({ activationCode: code.body.activationCode.code, name: "watch" }) }));
    expect(twin.status, JSON.stringify(twin.body)).toBe(201);

    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        // Host candidates as real addresses, not mDNS names, so pages on one machine connect.
        "--disable-features=WebRtcHideLocalIpsWithMdns",
      ],
    });
    for (const s of [phone, watch, caller]) await openApp(s);
  });

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    for (const dir of [persist, profile]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const app = (s: Subscriber) => pages.get(s.address)!;

  it("HLF-TE-002: a call to the phone rings the phone and the watch; the watch answers, connects and exchanges a message each way; the phone is cancelled", async () => {
    const placed = await app(caller).evaluate((callee) => (window as any).app.call(callee), phone.address);
    expect(placed.status).toBe(201);
    await until(app(phone), "window.app.invitations.length === 1");
    await until(app(watch), "window.app.invitations.length === 1");
    for (const s of [phone, watch]) {
      expect(await app(s).evaluate(() => (window as any).app.invitations[0].originatorAddress)).toBe(caller.address);
    }
    await app(phone).evaluate(() => (window as any).app.ring());
    const answered = await app(watch).evaluate(() => (window as any).app.answer());
    expect(answered.status).toBe(200);
    // The phone stops ringing at once.
    await until(app(phone), "window.app.events.some((e) => e.eventType === 'Cancelled' && e.reason === 'AnsweredElsewhere')");
    await until(app(caller), "window.app.pc.connectionState === 'connected'");
    await until(app(watch), "window.app.pc.connectionState === 'connected'");
    await until(app(watch), `window.app.received.includes("hello from ${caller.address}")`);
    await until(app(caller), `window.app.received.includes("hello from ${watch.address}")`);
    // The phone, too late, is refused.
    const late = await app(phone).evaluate(() => (window as any).app.answer());
    expect(late.status).toBe(409);
    expect(late.json.requestError.serviceException.variables[0]).toBe("answer refused: the call was answered on another device");
    expect((await app(caller).evaluate(() => (window as any).app.hangUp())).status).toBe(204);
    await until(app(watch), "window.app.events.some((e) => e.eventType === 'SessionEnded')");
  });

  it("HLF-TE-003: with the watch toggled Off only the phone rings; the phone answers and connects", async () => {
    const off = await fetch(`${server.url}/twinning/v1/acr:Authorization/relationship/status`, { method: "PUT", headers: bearer(watch.token!), body: JSON.stringify({ status: "Off" }) });
    expect(off.status).toBe(200);
    const before = await app(watch).evaluate(() => (window as any).app.invitations.length);
    const placed = await app(caller).evaluate((callee) => (window as any).app.call(callee), phone.address);
    expect(placed.status).toBe(201);
    await until(app(phone), "window.app.invitations.length === 2");
    expect((await app(phone).evaluate(() => (window as any).app.answer())).status).toBe(200);
    await until(app(caller), "window.app.pc.connectionState === 'connected'");
    await until(app(phone), `window.app.received.includes("hello from ${caller.address}")`);
    await until(app(caller), `window.app.received.includes("hello from ${phone.address}")`);
    // By now any invitation for the watch would have arrived long ago.
    expect(await app(watch).evaluate(() => (window as any).app.invitations.length)).toBe(before);
    expect((await app(phone).evaluate(() => (window as any).app.hangUp())).status).toBe(204);
  });
});
