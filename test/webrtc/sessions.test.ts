// A call between two devices through the WebRTC Signaling API: every resource, every state
// transition, and who may see and change a session.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { call, device, registerClient } from "../helpers";
import { avOffer, candidate, dataAnswer, dataOffer, detectChannelForm, listen, placeCall, sessions } from "./fixtures";

const client = await registerClient(["twinning:primary", "twinning:secondary", "twinning:delegated", "webrtc:call"]);
const pair = async () => {
  const [a, b] = [await device(client), await device(client)];
  const [la, lb] = [await listen(a), await listen(b)];
  return { a, b, la, lb };
};
const put = (path: string, token: string, body: unknown) => call("PUT", path, { token, body });

beforeAll(async () => detectChannelForm(await device(client)));

describe("A call between two devices", () => {
  it("the callee's channel gets the invitation with the offer, the caller's address and a link to its own session resource", async () => {
    const { a, b, lb } = await pair();
    const c = await placeCall(a, b);
    expect(c.res.headers.get("location")).toBe(c.res.json.wrtcsSession.resourceURL);
    expect(c.res.json.wrtcsSession).toMatchObject({ originatorAddress: a.address, tParticipantAddress: b.address, status: "Initial", clientCorrelator: "corr-1", offer: { sdp: dataOffer() } });
    const inv = await lb.next("wrtcsSessionInvitationNotification");
    expect(inv).toMatchObject({ originatorAddress: a.address, tParticipantAddress: b.address, offer: { sdp: dataOffer() }, callbackData: "rtc" });
    expect(inv.notificationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(new URL(inv.link[0].href).pathname).toBe(c.path(b));
    const seen = await call("GET", new URL(inv.link[0].href).pathname, { token: b.token });
    expect(seen.status).toBe(200);
    expect(seen.json.wrtcsSession).toMatchObject({ status: "Initial", originatorAddress: a.address });
  });

  it("Initial → Ringing → Connected → Terminated, each change reaching the other side", async () => {
    const { a, b, la, lb } = await pair();
    const c = await placeCall(a, b);
    await lb.next("wrtcsSessionInvitationNotification");
    const ringing = await put(`${c.path(b)}/status`, b.token, { wrtcsSessionStatus: { status: "Ringing" } });
    expect(ringing.status, ringing.text).toBe(200);
    expect(ringing.json.wrtcsSessionStatus.status).toBe("Ringing");
    expect(await la.next("wrtcsEventNotification")).toMatchObject({ eventType: "Ringing" });
    expect((await call("GET", `${c.path(a)}/status`, { token: a.token })).json.wrtcsSessionStatus.status).toBe("Ringing");

    const answered = await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: dataAnswer() } });
    expect(answered.status, answered.text).toBe(200);
    expect(answered.json.wrtcsSession).toMatchObject({ status: "Connected", answer: { sdp: dataAnswer() } });
    expect(await la.next("wrtcsAnswerNotification")).toMatchObject({ answer: { sdp: dataAnswer() } });
    expect((await call("GET", c.path(a), { token: a.token })).json.wrtcsSession.answer.sdp).toBe(dataAnswer());

    // An audit keeps the call as it is.
    expect((await put(`${c.path(a)}/status`, a.token, { wrtcsSessionStatus: { status: "Connected" } })).json.wrtcsSessionStatus.status).toBe("Connected");
    expect((await call("DELETE", c.path(a), { token: a.token })).status).toBe(204);
    expect(await lb.next("wrtcsEventNotification")).toMatchObject({ eventType: "SessionEnded", reason: "Terminated" });
    expect((await call("GET", `${c.path(b)}/status`, { token: b.token })).json.wrtcsSessionStatus.status).toBe("Terminated");
    // Hanging up twice changes nothing.
    expect((await call("DELETE", c.path(b), { token: b.token })).status).toBe(204);
    const late = await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: dataAnswer() } });
    expect(late.status).toBe(409);
  });

  it("trickle ICE both ways: the caller's candidates reach the callee at once, the callee's reach the caller once it answered", async () => {
    const { a, b, la, lb } = await pair();
    const c = await placeCall(a, b);
    expect((await put(`${c.path(a)}/ice`, a.token, { wrtcsIceCandidates: [candidate(50000)] })).status).toBe(204);
    expect(await lb.next("wrtcsIceNotification")).toMatchObject({ iceCandidates: [candidate(50000)] });
    // Before it answers, the callee's candidates wait in the session.
    expect((await put(`${c.path(b)}/ice`, b.token, { wrtcsIceCandidates: [candidate(60000)] })).status).toBe(204);
    await new Promise((r) => setTimeout(r, 200));
    expect(la.of("wrtcsIceNotification")).toHaveLength(0);
    await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: dataAnswer() } });
    expect(await la.next("wrtcsIceNotification")).toMatchObject({ iceCandidates: [candidate(60000)] });
    await put(`${c.path(b)}/ice`, b.token, { wrtcsIceCandidates: [candidate(60001), { candidate: "", sdpMid: "0", sdpMLineIndex: 0 }] });
    expect((await la.next("wrtcsIceNotification", 2)).iceCandidates).toHaveLength(2);
    // Either side can read what the other trickled so far.
    expect((await call("GET", `${c.path(a)}/ice`, { token: a.token })).json.wrtcsIceCandidates.iceCandidate.map((x: any) => x.candidate)).toEqual([candidate(60000).candidate, candidate(60001).candidate, ""]);
    expect((await call("GET", `${c.path(b)}/ice`, { token: b.token })).json.wrtcsIceCandidates.iceCandidate).toEqual([candidate(50000)]);
  });

  it("renegotiation (hold): a new offer reaches the other side, its answer comes back; glare and offers outside a call are refused", async () => {
    const { a, b, la, lb } = await pair();
    const c = await placeCall(a, b, avOffer());
    const early = await put(`${c.path(a)}/offer`, a.token, { wrtcsOffer: { sdp: avOffer("sendonly") } });
    expect(early.status).toBe(409);
    expect(early.json.requestError.serviceException.variables[0]).toMatch(/Initial/);
    await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: avOffer().replace(/actpass/g, "active") } });
    const hold = await put(`${c.path(a)}/offer`, a.token, { wrtcsOffer: { sdp: avOffer("sendonly") } });
    expect(hold.status, hold.text).toBe(200);
    expect(await lb.next("wrtcsOfferNotification")).toMatchObject({ offer: { sdp: avOffer("sendonly") } });
    const glare = await put(`${c.path(b)}/offer`, b.token, { wrtcsOffer: { sdp: avOffer("sendonly") } });
    expect(glare.status).toBe(409);
    expect(glare.json.requestError.serviceException.variables[0]).toMatch(/glare/);
    expect((await put(`${c.path(a)}/answer`, a.token, { wrtcsAnswer: { sdp: avOffer("recvonly") } })).status).toBe(409);
    const held = await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: avOffer("recvonly").replace(/actpass/g, "active") } });
    expect(held.status, held.text).toBe(200);
    expect((await la.next("wrtcsAnswerNotification", 2)).answer.sdp).toContain("a=recvonly");
    expect(held.json.wrtcsSession.offer.sdp).toContain("a=sendonly");
    // Resume, from the callee this time, under the name Kandy clients use (PUT .../update).
    expect((await put(`${c.path(b)}/update`, b.token, { wrtcsOffer: { sdp: avOffer() } })).status).toBe(200);
    expect(await la.next("wrtcsOfferNotification")).toMatchObject({ offer: { sdp: avOffer() } });
    expect((await put(`${c.path(a)}/answer`, a.token, { wrtcsAnswer: { sdp: avOffer().replace(/actpass/g, "passive") } })).status).toBe(200);
    expect(await lb.next("wrtcsAnswerNotification")).toBeDefined();
  });
});

describe("Calls that end unanswered", () => {
  it("the caller cancels: the callee stops ringing, and an answer to the cancelled call is refused naming the state", async () => {
    const { a, b, lb } = await pair();
    const c = await placeCall(a, b);
    await put(`${c.path(b)}/status`, b.token, { wrtcsSessionStatus: { status: "Ringing" } });
    expect((await call("DELETE", c.path(a), { token: a.token })).status).toBe(204);
    expect(await lb.next("wrtcsEventNotification")).toMatchObject({ eventType: "Cancelled", reason: "CallerCancelled" });
    const answer = await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: dataAnswer() } });
    expect(answer.status).toBe(409);
    expect(answer.json.requestError.serviceException.variables[0]).toBe("answer refused: the session is Cancelled (the caller cancelled it)");
    expect((await call("GET", `${c.path(b)}/status`, { token: b.token })).json.wrtcsSessionStatus.status).toBe("Cancelled");
    expect((await put(`${c.path(b)}/ice`, b.token, { wrtcsIceCandidates: [candidate(1)] })).status).toBe(409);
  });

  it("PUT status Cancelled is the caller's; Declined is the callee's and ends the call", async () => {
    const { a, b, la } = await pair();
    const c = await placeCall(a, b);
    expect((await put(`${c.path(b)}/status`, b.token, { wrtcsSessionStatus: { status: "Cancelled" } })).status).toBe(409);
    expect((await put(`${c.path(a)}/status`, a.token, { wrtcsSessionStatus: { status: "Declined" } })).status).toBe(409);
    expect((await put(`${c.path(a)}/answer`, a.token, { wrtcsAnswer: { sdp: dataAnswer() } })).status).toBe(409);
    expect((await put(`${c.path(b)}/status`, b.token, { wrtcsSessionStatus: { status: "Terminated" } })).status).toBe(409);
    const declined = await put(`${c.path(b)}/status`, b.token, { wrtcsSessionStatus: { status: "Declined" } });
    expect(declined.json.wrtcsSessionStatus.status).toBe("Declined");
    expect(await la.next("wrtcsEventNotification")).toMatchObject({ eventType: "Declined" });
  });

  it("a callee that DELETEs before answering declines", async () => {
    const { a, b, la } = await pair();
    const c = await placeCall(a, b);
    expect((await call("DELETE", c.path(b), { token: b.token })).status).toBe(204);
    expect(await la.next("wrtcsEventNotification")).toMatchObject({ eventType: "Declined" });
  });

  it("Busy on the only device makes the call Busy", async () => {
    const { a, b, la } = await pair();
    const c = await placeCall(a, b);
    expect((await put(`${c.path(b)}/status`, b.token, { wrtcsSessionStatus: { status: "Busy" } })).json.wrtcsSessionStatus.status).toBe("Busy");
    expect(await la.next("wrtcsEventNotification")).toMatchObject({ eventType: "Busy" });
  });

  it("Failed ends a connected call for both sides", async () => {
    const { a, b, la } = await pair();
    const c = await placeCall(a, b);
    await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: dataAnswer() } });
    expect((await put(`${c.path(b)}/status`, b.token, { wrtcsSessionStatus: { status: "Failed" } })).json.wrtcsSessionStatus.status).toBe("Failed");
    expect(await la.next("wrtcsEventNotification")).toMatchObject({ eventType: "Failed" });
  });

  it("an unanswered call times out by alarm: NoAnswer for the caller, the callee stops ringing", async () => {
    const { a, b, la, lb } = await pair();
    const c = await placeCall(a, b);
    const stub = env.CALL_SESSIONS.getByName(c.id);
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE session SET ring_deadline = ?", Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call("GET", `${c.path(a)}/status`, { token: a.token })).json.wrtcsSessionStatus.status).toBe("NoAnswer");
    expect(await la.next("wrtcsEventNotification")).toMatchObject({ eventType: "NoAnswer" });
    expect(await lb.next("wrtcsEventNotification")).toMatchObject({ eventType: "Cancelled", reason: "NoAnswer" });
    const answer = await put(`${c.path(b)}/answer`, b.token, { wrtcsAnswer: { sdp: dataAnswer() } });
    expect(answer.json.requestError.serviceException.variables[0]).toMatch(/NoAnswer \(nobody answered in time\)/);
  });

  it("an ended session stays readable, then its object deletes itself by alarm", async () => {
    const { a, b } = await pair();
    const c = await placeCall(a, b);
    await call("DELETE", c.path(a), { token: a.token });
    const stub = env.CALL_SESSIONS.getByName(c.id);
    await runInDurableObject(stub, (_o, state) => {
      state.storage.sql.exec("UPDATE session SET ended_at = ?", Date.now() - 2 * 3600_000);
    });
    await runDurableObjectAlarm(stub);
    expect((await call("GET", c.path(a), { token: a.token })).status).toBe(404);
  });
});

describe("Who may see and change a session", () => {
  it("a third party can neither read nor change it; an unknown session is 404; another subscriber's userId is 403", async () => {
    const { a, b } = await pair();
    const eve = await device(client);
    const c = await placeCall(a, b);
    for (const [method, suffix, body] of [["GET", "", undefined], ["GET", "/status", undefined], ["PUT", "/answer", { wrtcsAnswer: { sdp: dataAnswer() } }], ["DELETE", "", undefined], ["GET", "/ice", undefined]] as const) {
      const res = await call(method, `${c.path(eve)}${suffix}`, { token: eve.token, ...(body ? { body } : {}) });
      expect(res.status, `${method} ${suffix}`).toBe(403);
      expect(res.json.requestError.policyException.variables[0]).toBe("not a participant of this session");
    }
    expect((await call("GET", c.path(a), { token: eve.token })).status).toBe(403);
    const unknown = await call("GET", `${sessions(a)}/AAAAAAAAAAAAAAAAAAAAAA`, { token: a.token });
    expect(unknown.status).toBe(404);
    expect(unknown.json.requestError.serviceException.variables[0]).toBe("sessionId");
    expect((await call("GET", `${sessions(a)}/not-a-session-id`, { token: a.token })).status).toBe(400);
    expect((await call("GET", `/webrtcsignaling/v1/acr:Authorization/sessions/${c.id}`, { token: a.token })).json.wrtcsSession.status).toBe("Initial");
  });

  it("needs a webrtc:call token: none is 401, another scope is 403, a revoked one is 401", async () => {
    const a = await device(client);
    const b = await device(client);
    const body = { wrtcsSession: { tParticipantAddress: b.address, offer: { sdp: dataOffer() } } };
    expect((await call("POST", sessions(a), { body })).status).toBe(401);
    const other = await registerClient(["twinning:primary"]);
    const p = await device(other);
    const wrong = await call("POST", sessions(p), { token: p.token, body });
    expect(wrong.status).toBe(403);
    expect(wrong.headers.get("www-authenticate")).toContain("insufficient_scope");
    await env.SUBSCRIBERS.getByName(a.address).revokeAccessTokens([{ jti: JSON.parse(atob(a.token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/"))).jti, exp: Math.floor(Date.now() / 1000) + 3600 }]);
    expect((await call("POST", sessions(a), { token: a.token, body })).status).toBe(401);
  });
});
