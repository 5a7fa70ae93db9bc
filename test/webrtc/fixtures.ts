// Session descriptions shaped as Chromium's RTCPeerConnection writes them (a data channel; audio
// and video), and the helpers the signaling tests share.
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import { call, enc, type Device } from "../helpers";

const FP = "sha-256 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4B:A2:2E:E0:6D:6A:5A:1F:2C:9E:3D:11";

export function dataOffer(ufrag = "EsAw"): string {
  return [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "a=extmap-allow-mixed",
    "a=msid-semantic: WMS",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    `a=ice-ufrag:${ufrag}`,
    "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
    "a=ice-options:trickle",
    `a=fingerprint:${FP}`,
    "a=setup:actpass",
    "a=mid:0",
    "a=sctp-port:5000",
    "a=max-message-size:262144",
    "",
  ].join("\r\n");
}

export function dataAnswer(ufrag = "Xk9p"): string {
  return dataOffer(ufrag).replace("a=setup:actpass", "a=setup:active").replace("4611731400430051336", "8227061375443254190");
}

/** Audio and video, for renegotiation (hold: sendonly). */
export function avOffer(direction = "sendrecv"): string {
  const section = (media: string, mid: number, pt: string) => [
    `m=${media} 9 UDP/TLS/RTP/SAVPF ${pt}`,
    "c=IN IP4 0.0.0.0",
    "a=rtcp:9 IN IP4 0.0.0.0",
    "a=ice-ufrag:EsAw",
    "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
    "a=ice-options:trickle",
    `a=fingerprint:${FP}`,
    "a=setup:actpass",
    `a=mid:${mid}`,
    `a=${direction}`,
    "a=rtcp-mux",
    `a=rtpmap:${pt} ${media === "audio" ? "opus/48000/2" : "VP8/90000"}`,
  ];
  return ["v=0", "o=- 4611731400430051336 3 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1", ...section("audio", 0, "111"), ...section("video", 1, "96"), ""].join("\r\n");
}

export const candidate = (port: number, typ = "host") => ({
  candidate: `candidate:842163049 1 udp 2122260223 192.0.2.10 ${port} typ ${typ} generation 0 ufrag EsAw network-id 1`,
  sdpMid: "0",
  sdpMLineIndex: 0,
});

export const sessions = (d: Device | { address: string }) => `/webrtcsignaling/v1/${enc(d.address)}/sessions`;

/** A device's Notification Channel (WebSocket) subscribed to its WebRTC signaling notifications. */
export async function listen(d: Device, callbackData = "rtc") {
  const ch = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body: channelBody() });
  expect(ch.status, ch.text).toBe(201);
  const channel = ch.json.notificationChannel ?? ch.json.channel;
  const sub = await call("POST", `/webrtcsignaling/v1/${enc(d.address)}/subscriptions`, {
    token: d.token,
    body: { wrtcsNotificationSubscription: { callbackReference: { notifyURL: channel.callbackURL, callbackData } } },
  });
  expect(sub.status, sub.text).toBe(201);
  const messages: Record<string, any>[] = [];
  const waiters: (() => void)[] = [];
  const open = async () => {
    const upgrade = await SELF.fetch(channel.channelData.channelURL.replace(/^ws/, "http"), { headers: { Upgrade: "websocket" } });
    expect(upgrade.status).toBe(101);
    const socket = upgrade.webSocket!;
    socket.addEventListener("message", (e) => {
      messages.push(JSON.parse(e.data as string));
      for (const w of waiters.splice(0)) w();
    });
    socket.accept();
    return socket;
  };
  let ws = await open();
  return {
    messages,
    /** All notifications of type `root` so far. */
    of: (root: string) => messages.filter((m) => root in m).map((m) => m[root]),
    /** Waits (bounded) for the `n`-th notification of type `root`. */
    async next(root: string, n = 1, ms = 10_000): Promise<any> {
      const end = Date.now() + ms;
      for (;;) {
        const found = messages.filter((m) => root in m);
        if (found.length >= n) return found[n - 1]![root];
        if (Date.now() > end) throw new Error(`${d.address}: ${found.length} ${root}, wanted ${n}; got ${JSON.stringify(messages).slice(0, 500)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
    close: () => ws.close(1000, "done"),
    /** A new WebSocket on the same channel, as a device opens after its socket dropped. */
    reconnect: async () => void (ws = await open()),
  };
}
export type Listener = Awaited<ReturnType<typeof listen>>;

/** Channel creation in the OMA form when the gateway takes it, else the earlier form. */
let channelForm: "oma" | "legacy" | undefined;
function channelBody() {
  return channelForm === "legacy"
    ? { channel: { channelType: "WebSockets", channelLifeTime: 600 } }
    : { notificationChannel: { channelType: "WebSockets", channelLifetime: 600 } };
}
export async function detectChannelForm(d: Device) {
  const res = await call("POST", `/notificationchannel/v1/${enc(d.address)}/channels`, { token: d.token, body: { notificationChannel: { channelType: "WebSockets", channelLifetime: 600 } } });
  channelForm = res.status === 201 ? "oma" : "legacy";
}

export async function placeCall(caller: Device, callee: { address: string }, sdp = dataOffer()) {
  const res = await call("POST", sessions(caller), { token: caller.token, body: { wrtcsSession: { tParticipantAddress: callee.address, offer: { sdp }, clientCorrelator: "corr-1" } } });
  expect(res.status, res.text).toBe(201);
  const id = res.json.wrtcsSession.resourceURL.split("/").pop() as string;
  return { id, res, path: (d: { address: string }) => `${sessions(d)}/${id}` };
}
