// Twinning-aware calls: a call to a primary rings the primary and every twinned secondary whose
// status is On (HLF-TE-002/003), the first answer wins and the others stop ringing at once; a
// twinned secondary calls as its primary with its delegated token (HLF-SD-009). Plus the races.
import { SELF } from "cloudflare:test";
import { SignJWT } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { basic, call, device, enc, ORIGIN, registerClient, requestToken, twin, type Device } from "../helpers";
import { candidate, dataAnswer, dataOffer, detectChannelForm, listen, placeCall, sessions } from "./fixtures";

const client = await registerClient(["twinning:primary", "twinning:secondary", "twinning:delegated", "webrtc:call"]);
const put = (path: string, token: string, body: unknown) => call("PUT", path, { token, body });
const answer = (path: string, d: Device) => put(`${path}/answer`, d.token, { wrtcsAnswer: { sdp: dataAnswer() } });
const settle = () => new Promise((r) => setTimeout(r, 300));

beforeAll(async () => detectChannelForm(await device(client)));

/** A phone with a watch (and optionally a car) twinned to it, and a caller; everyone listening. */
async function household(opts: { car?: boolean } = {}) {
  const [phone, watch, caller] = [await device(client), await device(client), await device(client)];
  await twin(phone, watch, "watch");
  const car = opts.car ? await device(client) : undefined;
  if (car) await twin(phone, car, "car");
  const [lp, lw, lc] = [await listen(phone), await listen(watch), await listen(caller)];
  const lcar = car ? await listen(car) : undefined;
  return { phone, watch, caller, car, lp, lw, lc, lcar };
}

describe("Forking to twins (HLF-TE-002/003)", () => {
  it("a call to the phone rings the phone and the watch; the watch answers and gets the call; the phone is cancelled at once", async () => {
    const h = await household();
    const c = await placeCall(h.caller, h.phone);
    const [ip, iw] = [await h.lp.next("wrtcsSessionInvitationNotification"), await h.lw.next("wrtcsSessionInvitationNotification")];
    for (const inv of [ip, iw]) expect(inv).toMatchObject({ originatorAddress: h.caller.address, tParticipantAddress: h.phone.address, offer: { sdp: dataOffer() } });
    expect(new URL(iw.link[0].href).pathname).toBe(c.path(h.watch));
    // The caller's candidates reach both ringing devices.
    await put(`${c.path(h.caller)}/ice`, h.caller.token, { wrtcsIceCandidates: [candidate(5000)] });
    await h.lp.next("wrtcsIceNotification");
    await h.lw.next("wrtcsIceNotification");
    // Both ring; the phone even trickles early candidates that must never reach the caller.
    await put(`${c.path(h.phone)}/status`, h.phone.token, { wrtcsSessionStatus: { status: "Ringing" } });
    await put(`${c.path(h.watch)}/status`, h.watch.token, { wrtcsSessionStatus: { status: "Ringing" } });
    await put(`${c.path(h.phone)}/ice`, h.phone.token, { wrtcsIceCandidates: [candidate(7000)] });
    await put(`${c.path(h.watch)}/ice`, h.watch.token, { wrtcsIceCandidates: [candidate(8000)] });

    const won = await answer(c.path(h.watch), h.watch);
    expect(won.status, won.text).toBe(200);
    expect(await h.lp.next("wrtcsEventNotification")).toMatchObject({ eventType: "Cancelled", reason: "AnsweredElsewhere" });
    expect(await h.lc.next("wrtcsAnswerNotification")).toMatchObject({ answer: { sdp: dataAnswer() } });
    expect((await h.lc.next("wrtcsIceNotification")).iceCandidates).toEqual([candidate(8000)]);
    // The caller sees the number it called, whichever device took the call.
    expect((await call("GET", c.path(h.caller), { token: h.caller.token })).json.wrtcsSession).toMatchObject({ status: "Connected", tParticipantAddress: h.phone.address });

    const late = await answer(c.path(h.phone), h.phone);
    expect(late.status).toBe(409);
    expect(late.json.requestError.serviceException.variables[0]).toBe("answer refused: the call was answered on another device");
    expect((await put(`${c.path(h.phone)}/ice`, h.phone.token, { wrtcsIceCandidates: [candidate(7001)] })).status).toBe(409);
    expect((await call("DELETE", c.path(h.phone), { token: h.phone.token })).status).toBe(409);
    // From now on the caller's candidates go to the watch only.
    await put(`${c.path(h.caller)}/ice`, h.caller.token, { wrtcsIceCandidates: [candidate(5001)] });
    await h.lw.next("wrtcsIceNotification", 2);
    await settle();
    expect(h.lp.of("wrtcsIceNotification")).toHaveLength(1);
    expect(h.lc.of("wrtcsIceNotification").flatMap((n) => n.iceCandidates).map((x: any) => x.candidate)).not.toContain(candidate(7000).candidate);
    // The phone may still read the session it rang for; the watch hangs up for the household.
    expect((await call("GET", c.path(h.phone), { token: h.phone.token })).status).toBe(200);
    expect((await call("DELETE", c.path(h.watch), { token: h.watch.token })).status).toBe(204);
    expect(await h.lc.next("wrtcsEventNotification", 2)).toMatchObject({ eventType: "SessionEnded", reason: "Terminated" });
    expect(h.lc.of("wrtcsEventNotification")[0]).toMatchObject({ eventType: "Ringing" });
  });

  it("HLF-TE-003: with the watch toggled Off only the phone rings, and the watch cannot see the call", async () => {
    const h = await household();
    expect((await put(`/twinning/v1/${enc(h.watch.address)}/relationship/status`, h.watch.token, { status: "Off" })).status).toBe(200);
    const c = await placeCall(h.caller, h.phone);
    await h.lp.next("wrtcsSessionInvitationNotification");
    await settle();
    expect(h.lw.of("wrtcsSessionInvitationNotification")).toHaveLength(0);
    expect((await call("GET", c.path(h.watch), { token: h.watch.token })).status).toBe(403);
    expect((await answer(c.path(h.watch), h.watch)).status).toBe(403);
    // Back On: the next call rings it again.
    await put(`/twinning/v1/${enc(h.phone.address)}/twins/watch/status`, h.phone.token, { status: "On" });
    await placeCall(h.caller, h.phone);
    await h.lw.next("wrtcsSessionInvitationNotification");
  });

  it("HLF-TE-004: a deactivated secondary never rings again", async () => {
    const h = await household();
    expect((await call("DELETE", `/twinning/v1/${enc(h.phone.address)}/twins/watch`, { token: h.phone.token })).status).toBe(204);
    await placeCall(h.caller, h.phone);
    await h.lp.next("wrtcsSessionInvitationNotification");
    await settle();
    expect(h.lw.of("wrtcsSessionInvitationNotification")).toHaveLength(0);
  });

  it("a call to the watch's own number rings only the watch", async () => {
    const h = await household();
    await placeCall(h.caller, h.watch);
    await h.lw.next("wrtcsSessionInvitationNotification");
    await settle();
    expect(h.lp.of("wrtcsSessionInvitationNotification")).toHaveLength(0);
  });

  it("a decline on one device ends the call on every device (as SIP's 603); Busy on one lets the others ring", async () => {
    const h = await household({ car: true });
    const c = await placeCall(h.caller, h.phone);
    expect((await put(`${c.path(h.car!)}/status`, h.car!.token, { wrtcsSessionStatus: { status: "Busy" } })).json.wrtcsSessionStatus.status).toBe("Initial");
    expect((await answer(c.path(h.car!), h.car!)).json.requestError.serviceException.variables[0]).toBe("answer refused: this device already answered Busy");
    expect((await put(`${c.path(h.watch)}/status`, h.watch.token, { wrtcsSessionStatus: { status: "Declined" } })).json.wrtcsSessionStatus.status).toBe("Declined");
    expect(await h.lp.next("wrtcsEventNotification")).toMatchObject({ eventType: "Cancelled", reason: "DeclinedElsewhere" });
    expect(await h.lc.next("wrtcsEventNotification")).toMatchObject({ eventType: "Declined" });
    await settle();
    expect(h.lcar!.of("wrtcsEventNotification")).toHaveLength(0);
  });

  it("every device Busy makes the call Busy", async () => {
    const h = await household();
    const c = await placeCall(h.caller, h.phone);
    await put(`${c.path(h.phone)}/status`, h.phone.token, { wrtcsSessionStatus: { status: "Busy" } });
    expect((await put(`${c.path(h.watch)}/status`, h.watch.token, { wrtcsSessionStatus: { status: "Busy" } })).json.wrtcsSessionStatus.status).toBe("Busy");
    expect(await h.lc.next("wrtcsEventNotification")).toMatchObject({ eventType: "Busy" });
  });

  it("the caller cancelling a forked call stops every device", async () => {
    const h = await household({ car: true });
    const c = await placeCall(h.caller, h.phone);
    await call("DELETE", c.path(h.caller), { token: h.caller.token });
    for (const l of [h.lp, h.lw, h.lcar!]) expect(await l.next("wrtcsEventNotification")).toMatchObject({ eventType: "Cancelled", reason: "CallerCancelled" });
  });
});

describe("Races", () => {
  it("two devices answering at once: exactly one wins, every time", async () => {
    const h = await household({ car: true });
    for (let i = 0; i < 5; i++) {
      const c = await placeCall(h.caller, h.phone);
      const results = await Promise.all([h.phone, h.watch, h.car!].map((d) => answer(c.path(d), d)));
      expect(results.map((r) => r.status).sort()).toEqual([200, 409, 409]);
      const winner = [h.phone, h.watch, h.car!][results.findIndex((r) => r.status === 200)]!;
      for (const r of results.filter((x) => x.status === 409)) expect(r.json.requestError.serviceException.variables[0]).toBe("answer refused: the call was answered on another device");
      expect((await call("GET", c.path(winner), { token: winner.token })).json.wrtcsSession.status).toBe("Connected");
      await call("DELETE", c.path(h.caller), { token: h.caller.token });
    }
    expect(h.lc.of("wrtcsAnswerNotification")).toHaveLength(5);
  });

  it("an answer racing the caller's cancel: the session ends consistent either way", async () => {
    const [a, b] = [await device(client), await device(client)];
    for (let i = 0; i < 5; i++) {
      const c = await placeCall(a, b);
      const [ans, del] = await Promise.all([answer(c.path(b), b), call("DELETE", c.path(a), { token: a.token })]);
      expect(del.status).toBe(204);
      const status = (await call("GET", `${c.path(a)}/status`, { token: a.token })).json.wrtcsSessionStatus.status;
      // Answer first: the DELETE hung up the connected call. Cancel first: the answer was refused.
      expect(ans.status === 200 ? status === "Terminated" : ans.status === 409 && status === "Cancelled").toBe(true);
    }
  });
});

describe("A twinned secondary calls as its primary (HLF-SD-009)", () => {
  async function delegatedToken(watch: { deviceToken: string }): Promise<string> {
    const res = await requestToken(client, {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: watch.deviceToken,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
      scope: "twinning:delegated",
    });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    return res.json.access_token;
  }

  it("the callee sees the primary's address; the watch gets the answer on its own channel; the phone cannot touch the watch's call; Off refuses", async () => {
    const { phone, watch, deviceToken } = await twinnedByDeviceGrant();
    const callee = await device(client);
    const [lw, lcallee] = [await listen(watch), await listen(callee)];
    const delegated = await delegatedToken({ deviceToken });
    const res = await call("POST", `/webrtcsignaling/v1/acr:Authorization/sessions`, { token: delegated, body: { wrtcsSession: { tParticipantAddress: callee.address, offer: { sdp: dataOffer() } } } });
    expect(res.status, res.text).toBe(201);
    expect(res.json.wrtcsSession.originatorAddress).toBe(phone.address);
    expect(new URL(res.json.wrtcsSession.resourceURL).pathname.startsWith(sessions(phone))).toBe(true);
    const inv = await lcallee.next("wrtcsSessionInvitationNotification");
    expect(inv.originatorAddress).toBe(phone.address);
    const id = res.json.wrtcsSession.resourceURL.split("/").pop();
    expect((await answer(`${sessions(callee)}/${id}`, callee)).status).toBe(200);
    const ans = await lw.next("wrtcsAnswerNotification");
    expect(new URL(ans.link[0].href).pathname).toBe(`${sessions(watch)}/${id}`);
    // The watch can follow its call with its own token too; the phone (same address) cannot.
    expect((await call("GET", `${sessions(watch)}/${id}`, { token: watch.token })).status).toBe(200);
    expect((await call("GET", `${sessions(phone)}/${id}`, { token: phone.token })).status).toBe(403);
    expect((await call("GET", `${sessions(phone)}/${id}`, { token: delegated })).status).toBe(200);
    // A delegated token cannot subscribe for the primary.
    const sub = await call("POST", `/webrtcsignaling/v1/acr:Authorization/subscriptions`, { token: delegated, body: { wrtcsNotificationSubscription: { callbackReference: { notifyURL: "https://app.example.com/n" } } } });
    expect(sub.status).toBe(403);
    // Toggled Off, the secondary does not act for the primary.
    await put(`/twinning/v1/${enc(phone.address)}/twins/watch/status`, phone.token, { status: "Off" });
    const off = await call("POST", `/webrtcsignaling/v1/acr:Authorization/sessions`, { token: delegated, body: { wrtcsSession: { tParticipantAddress: callee.address, offer: { sdp: dataOffer() } } } });
    expect(off.status).toBe(403);
    expect(off.json.requestError.policyException.variables[0]).toMatch(/Off/);
    // Deactivated, its delegated token is dead (HLF-TE-004).
    await call("DELETE", `/twinning/v1/${enc(phone.address)}/twins/watch`, { token: phone.token });
    expect((await call("GET", `${sessions(phone)}/${id}`, { token: delegated })).status).toBe(401);
  });

  /** The watch's relationship-bound token comes from the device grant (the subject of the token exchange). */
  async function twinnedByDeviceGrant() {
    const [phone, watch] = [await device(client), await device(client)];
    const assertion = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(watch.address)
      .setAudience(`${ORIGIN}/oauth/device_authorization`).setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID()).sign(watch.key);
    const res = await SELF.fetch(`${ORIGIN}/oauth/device_authorization`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: basic(client) },
      body: new URLSearchParams({ scope: "twinning:secondary", assertion }).toString(),
    });
    const da = (await res.json()) as any;
    expect(res.status, JSON.stringify(da)).toBe(200);
    expect((await call("POST", `/twinning/v1/${enc(phone.address)}/twins`, { token: phone.token, body: { activationCode: da.user_code, name: "watch" } })).status).toBe(201);
    const t = await requestToken(client, { grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: da.device_code });
    expect(t.status, JSON.stringify(t.json)).toBe(200);
    return { phone, watch, deviceToken: t.json.access_token as string };
  }
});
