// Bad input gets a clear 400 naming what was wrong and changes nothing; subscriptions.
import { inject, beforeAll, describe, expect, it } from "vitest";
import { call, device, enc, registerClient } from "../helpers";
import { answerMatchesOffer, candidateProblem, checkSdp } from "../../src/webrtc/sdp";
import { avOffer, candidate, dataAnswer, dataOffer, detectChannelForm, listen, placeCall, sessions } from "./fixtures";

const client = await registerClient(["twinning:primary", "twinning:secondary", "webrtc:call"]);
const receiver = inject("receiverUrl");
beforeAll(async () => detectChannelForm(await device(client)));

const variables = (res: { json: any }) => (res.json.requestError.serviceException ?? res.json.requestError.policyException).variables;

describe("Malformed SDP is refused with the line and the rule", () => {
  const cases: [string, (sdp: string) => string, RegExp][] = [
    ["empty", () => "", /empty session description/],
    ["not starting with v=0", (s) => s.replace("v=0\r\n", ""), /line 1: the first line must be v=0/],
    ["a line without type=value", (s) => s.replace("s=-", "s -"), /line 3: expected "<type>=<value>"/],
    ["an unknown session-level type", (s) => s.replace("t=0 0", "t=0 0\r\nx=1"), /line 5: "x=" is not a session-level line/],
    ["a bad origin", (s) => s.replace(/^o=.*$/m, "o=- abc 2 IN IP4 127.0.0.1"), /line 2: expected "o=<username>/],
    ["no t= line", (s) => s.replace("t=0 0\r\n", ""), /missing the mandatory "t=" line/],
    ["no media section", (s) => s.slice(0, s.indexOf("m=")), /no media section/],
    ["a bad m= line", (s) => s.replace("m=application 9", "m=application port"), /line 8: expected "m=<audio\|video/],
    ["media without ICE credentials", (s) => s.replace(/a=ice-pwd:.*\r\n/, ""), /line 8: media section without a=ice-pwd/],
    ["media without a DTLS fingerprint", (s) => s.replace(/a=fingerprint:.*\r\n/, ""), /without a=fingerprint/],
    ["a malformed fingerprint", (s) => s.replace(/a=fingerprint:.*/, "a=fingerprint:sha-256 nothex"), /a=fingerprint:<hash>/],
    ["a bad setup role", (s) => s.replace("a=setup:actpass", "a=setup:sometimes"), /a=setup must be/],
    ["a NUL byte", (s) => s.replace("s=-", "s=\u0000"), /control character/],
    ["a session line after media", (s) => s + "t=0 0\r\n", /"t=" is not allowed inside a media section/],
  ];
  for (const [name, mutate, why] of cases) {
    it(`${name}: 400 naming wrtcsSession.offer.sdp`, async () => {
      const [a, b] = [await device(client), await device(client)];
      const res = await call("POST", sessions(a), { token: a.token, body: { wrtcsSession: { tParticipantAddress: b.address, offer: { sdp: mutate(dataOffer()) } } } });
      expect(res.status, res.text).toBe(400);
      expect(variables(res)[0]).toBe("wrtcsSession.offer.sdp");
      expect(variables(res)[1]).toMatch(why);
    });
  }

  it("LF-only line ends and media sections with port 0 are accepted; the parser reports the media", () => {
    expect(checkSdp(dataOffer().replace(/\r\n/g, "\n")).media).toEqual(["application"]);
    expect(checkSdp(avOffer()).media).toEqual(["audio", "video"]);
    expect(checkSdp(avOffer().replace("m=video 9", "m=video 0").replace(/(m=video[\s\S]*?)a=ice-ufrag:\S+\r\n/, "$1")).media).toEqual(["audio", "video"]);
  });

  it("an answer must have the offer's media sections (RFC 3264 §6): 400 naming wrtcsAnswer.sdp, and the call keeps ringing", async () => {
    expect(answerMatchesOffer({ media: ["audio", "video"] }, { media: ["video", "audio"] })).toMatch(/media section 1 is video in the answer but audio/);
    const [a, b] = [await device(client), await device(client)];
    const c = await placeCall(a, b, avOffer());
    const res = await call("PUT", `${c.path(b)}/answer`, { token: b.token, body: { wrtcsAnswer: { sdp: dataAnswer() } } });
    expect(res.status).toBe(400);
    expect(variables(res)).toEqual(["wrtcsAnswer.sdp", "the answer has 1 media sections, the offer 2 (RFC 3264 §6)"]);
    const bad = await call("PUT", `${c.path(b)}/answer`, { token: b.token, body: { wrtcsAnswer: { sdp: "v=0\r\nnope" } } });
    expect(variables(bad)[0]).toBe("wrtcsAnswer.sdp");
    expect((await call("GET", `${c.path(b)}/status`, { token: b.token })).json.wrtcsSessionStatus.status).toBe("Initial");
  });

  it("a renegotiation offer is checked too: 400 naming wrtcsOffer.sdp", async () => {
    const [a, b] = [await device(client), await device(client)];
    const c = await placeCall(a, b);
    await call("PUT", `${c.path(b)}/answer`, { token: b.token, body: { wrtcsAnswer: { sdp: dataAnswer() } } });
    const res = await call("PUT", `${c.path(a)}/offer`, { token: a.token, body: { wrtcsOffer: { sdp: "v=1" } } });
    expect(variables(res)[0]).toBe("wrtcsOffer.sdp");
  });
});

describe("Other bad input", () => {
  it("ICE candidates: malformed lines, too many, wrong types are 400 naming the candidate", async () => {
    expect(candidateProblem(candidate(1).candidate)).toBeUndefined();
    expect(candidateProblem("candidate:1 1 udp 2122260223 abc123.local 54321 typ host")).toBeUndefined();
    expect(candidateProblem("candidate:1 1 udp 1 10.0.0.1 99999 typ host")).toBe("port above 65535");
    const [a, b] = [await device(client), await device(client)];
    const c = await placeCall(a, b);
    const bad = await call("PUT", `${c.path(a)}/ice`, { token: a.token, body: { wrtcsIceCandidates: [candidate(1), { candidate: "hello", sdpMid: "0" }] } });
    expect(bad.status).toBe(400);
    expect(variables(bad)[0]).toBe("wrtcsIceCandidates.1.candidate");
    expect(variables(bad)[1]).toMatch(/RFC 8839/);
    expect(variables(await call("PUT", `${c.path(a)}/ice`, { token: a.token, body: { wrtcsIceCandidates: [] } }))[0]).toBe("wrtcsIceCandidates");
    expect(variables(await call("PUT", `${c.path(a)}/ice`, { token: a.token, body: { wrtcsIceCandidates: [{ ...candidate(1), sdpMLineIndex: "0" }] } }))[0]).toBe("wrtcsIceCandidates.0.sdpMLineIndex");
  });

  it("session requests: unknown callee 404, oneself 400, bad address, unknown field, malformed JSON, wrong content type, unknown status", async () => {
    const [a, b] = [await device(client), await device(client)];
    const post = (body: unknown, headers?: Record<string, string>) => call("POST", sessions(a), { token: a.token, body, ...(headers ? { headers } : {}) });
    const nobody = await post({ wrtcsSession: { tParticipantAddress: "tel:+19999999999", offer: { sdp: dataOffer() } } });
    expect(nobody.status).toBe(404);
    expect(variables(nobody)[0]).toBe("wrtcsSession.tParticipantAddress");
    expect(variables(await post({ wrtcsSession: { tParticipantAddress: a.address, offer: { sdp: dataOffer() } } }))).toEqual(["wrtcsSession.tParticipantAddress", "a subscriber cannot call its own address"]);
    expect(variables(await post({ wrtcsSession: { tParticipantAddress: "sip:bob@example.com", offer: { sdp: dataOffer() } } }))[0]).toBe("wrtcsSession.tParticipantAddress");
    expect(variables(await post({ wrtcsSession: { tParticipantAddress: b.address, offer: { sdp: dataOffer() }, extra: 1 } }))[0]).toBe("wrtcsSession");
    expect(variables(await post({ wrtcsSession: { tParticipantAddress: b.address } }))[0]).toBe("wrtcsSession.offer");
    expect(variables(await post({ wrtcsSession: { tParticipantAddress: b.address, offer: { sdp: 42 } } }))[0]).toBe("wrtcsSession.offer.sdp");
    const malformed = await post('{"wrtcsSession":');
    expect(malformed.status).toBe(400);
    expect(variables(malformed)[0]).toBe("body");
    expect((await post("x", { "Content-Type": "text/plain" })).status).toBe(415);
    expect(variables(await post({ wrtcsSession: { tParticipantAddress: b.address, offer: { sdp: "v=0\r\n" + "a=x\r\n".repeat(7000) } } }))).toEqual(["wrtcsSession.offer.sdp", "malformed SDP: longer than 32768 bytes"]);
    expect((await post({ wrtcsSession: { tParticipantAddress: b.address, offer: { sdp: "v=0\r\n" + "a=x\r\n".repeat(14000) } } })).status).toBe(413);
    const c = await placeCall(a, b);
    const status = await call("PUT", `${c.path(b)}/status`, { token: b.token, body: { wrtcsSessionStatus: { status: "Initial" } } });
    expect(variables(status)[0]).toBe("wrtcsSessionStatus.status");
    // Nothing of the refused requests reached the callee's session list: the one call is still Initial.
    expect((await call("GET", `${c.path(b)}/status`, { token: b.token })).json.wrtcsSessionStatus.status).toBe("Initial");
  });
});

describe("Subscriptions", () => {
  it("POST, GET, list and DELETE; a repeated clientCorrelator returns the existing one; a deleted one delivers nothing", async () => {
    const [a, b] = [await device(client), await device(client)];
    const base = `/webrtcsignaling/v1/${enc(b.address)}/subscriptions`;
    const body = { wrtcsNotificationSubscription: { callbackReference: { notifyURL: `${receiver}/box/rtc-${Date.now()}`, callbackData: "cb" }, clientCorrelator: "app-1", duration: "3600" } };
    const created = await call("POST", base, { token: b.token, body });
    expect(created.status, created.text).toBe(201);
    const sub = created.json.wrtcsNotificationSubscription;
    expect(sub.signingSecret).toMatch(/^whsec_/);
    expect(new Date(sub.expiresAt).getTime()).toBeGreaterThan(Date.now() + 3500_000);
    const again = await call("POST", base, { token: b.token, body });
    expect(again.status).toBe(200);
    expect(again.json.wrtcsNotificationSubscription.resourceURL).toBe(sub.resourceURL);
    expect(again.json.wrtcsNotificationSubscription.signingSecret).toBeUndefined();
    const path = new URL(sub.resourceURL).pathname;
    expect((await call("GET", path, { token: b.token })).json.wrtcsNotificationSubscription.callbackReference.callbackData).toBe("cb");
    expect((await call("GET", base, { token: b.token })).json.wrtcsNotificationSubscriptionList.wrtcsNotificationSubscription).toHaveLength(1);
    expect((await call("GET", path, { token: a.token })).status).toBe(403);
    expect((await call("DELETE", path, { token: b.token })).status).toBe(204);
    expect((await call("GET", path, { token: b.token })).status).toBe(404);
    expect((await call("DELETE", path, { token: b.token })).status).toBe(404);
  });

  it("an invitation reaches a callback URL signed, with callbackData", async () => {
    const [a, b] = [await device(client), await device(client)];
    const box = `rtc-cb-${Date.now()}`;
    const created = await call("POST", `/webrtcsignaling/v1/${enc(b.address)}/subscriptions`, {
      token: b.token, body: { wrtcsNotificationSubscription: { callbackReference: { notifyURL: `${receiver}/box/${box}`, callbackData: "cb" } } },
    });
    const secret = created.json.wrtcsNotificationSubscription.signingSecret as string;
    await placeCall(a, b);
    let got: { headers: Record<string, string>; body: string }[] = [];
    for (let i = 0; i < 100 && got.length === 0; i++) {
      got = await (await fetch(`${receiver}/box/${box}`)).json();
      if (!got.length) await new Promise((r) => setTimeout(r, 100));
    }
    const note = JSON.parse(got[0]!.body).wrtcsSessionInvitationNotification;
    expect(note).toMatchObject({ originatorAddress: a.address, callbackData: "cb", offer: { sdp: dataOffer() } });
    const [, t, mac] = got[0]!.headers["x-notification-signature"]!.match(/^t=(\d+),v1=([0-9a-f]{64})$/)!;
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
    expect(await crypto.subtle.verify("HMAC", key, Uint8Array.from(mac!.match(/../g)!.map((h) => parseInt(h, 16))), new TextEncoder().encode(`${t}.${got[0]!.body}`))).toBe(true);
  });

  it("refuses internal callback URLs, other subscribers' channels and bad durations, naming the field", async () => {
    const [a, b] = [await device(client), await device(client)];
    const post = (sub: unknown) => call("POST", `/webrtcsignaling/v1/${enc(b.address)}/subscriptions`, { token: b.token, body: { wrtcsNotificationSubscription: sub } });
    const internal = await post({ callbackReference: { notifyURL: "https://169.254.169.254/latest" } });
    expect(internal.status).toBe(400);
    expect(variables(internal)[0]).toBe("wrtcsNotificationSubscription.callbackReference.notifyURL");
    // A's channel is not B's.
    const la = await listen(a);
    void la;
    const ch = await call("POST", `/notificationchannel/v1/${enc(a.address)}/channels`, { token: a.token, body: { notificationChannel: { channelType: "WebSockets" } } });
    const chOld = ch.status === 201 ? ch : await call("POST", `/notificationchannel/v1/${enc(a.address)}/channels`, { token: a.token, body: { channel: { channelType: "WebSockets" } } });
    const callbackURL = (chOld.json.notificationChannel ?? chOld.json.channel).callbackURL;
    expect(variables(await post({ callbackReference: { notifyURL: callbackURL } }))).toEqual(["wrtcsNotificationSubscription.callbackReference.notifyURL", "not a channel of this subscriber"]);
    expect(variables(await post({ callbackReference: { notifyURL: "https://app.example.com/n" }, duration: "soon" }))[0]).toBe("wrtcsNotificationSubscription.duration");
  });
});
