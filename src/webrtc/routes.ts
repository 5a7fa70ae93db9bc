// The RESTful Network API for WebRTC Signaling: /webrtcsignaling/v1/{userId}/sessions and
// /subscriptions. A call to a primary's address rings the primary and every twinned secondary
// whose status is On (HLF-TE-002/003); a twinned secondary calls as its primary with a delegated
// token (HLF-SD-009). Each session is one CallSessionObject; each subscriber's subscriptions are
// one SignalingUserObject.
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { config } from "../config";
import type { AppEnv } from "../env";
import { requestOrigin, router } from "../http/app";
import { requireScope, userIdOf } from "../http/auth";
import { base64url } from "../http/crypto";
import { ApiError, invalidInput, notFound, unwrap } from "../http/errors";
import { enforceRateLimit, type RateLimitRule } from "../http/rate-limit";
import { errorResponses, json, jsonBody } from "../http/schemas";
import { notifyTarget, subscriptionBody } from "../notify/notify-target";
import type { SubscriptionRecord } from "../notify/queue";
import { UserIdParam } from "../twinning/schemas";
import {
  AnswerRequestSchema,
  IceListSchema,
  IceRequestSchema,
  NotificationExamples,
  OfferRequestSchema,
  SessionIdParam,
  SessionRequestSchema,
  SessionSchema,
  SessionStatusRequestSchema,
  SessionStatusResponseSchema,
  SubscriptionIdParam,
  WrtcsSubscriptionListSchema,
  WrtcsSubscriptionRequestSchema,
  WrtcsSubscriptionSchema,
} from "./schemas";
import { checkSdp } from "./sdp";
import { recordEvent } from "../ops/metrics";
import type { SessionRecord } from "./session-store";
import { subscriberStub } from "../residency";

type Ctx = Context<AppEnv>;
export const webrtcRoutes = router();

const ringTimeoutMs = (c: Ctx) => config(c.env).WEBRTC_RING_TIMEOUT_SECONDS * 1000;
const callRate = (c: Ctx): RateLimitRule => ({ binding: c.env.WEBRTC_CALL_RATE_LIMIT, period: 60, what: "calls placed from this device" });

const sessionGuard = {
  middleware: requireScope("webrtc:call", "twinning:delegated"),
  security: [{ bearerAuth: ["webrtc:call"] }, { bearerAuth: ["twinning:delegated"] }],
  tags: ["WebRTC signaling"],
};
const subscriptionGuard = { middleware: requireScope("webrtc:call"), security: [{ bearerAuth: ["webrtc:call"] }], tags: ["WebRTC signaling"] };

interface Party {
  /** The `{userId}` subscriber (the primary, for a delegated token). */
  address: string;
  /** The device acting: `act.sub` of a delegated token, else the subscriber itself. */
  device: string;
  delegated: boolean;
}

/**
 * Who is calling the API. The token must be live at its subscriber's object (revocation; a
 * delegated token dies with its relationship, HLF-TE-004); a delegated token counts only with its actor.
 */
async function partyOf(c: Ctx, userId: string, allowDelegated = true): Promise<Party> {
  const address = userIdOf(c, userId);
  const auth = c.get("auth")!;
  const delegated = auth.actor !== undefined && auth.scopes.includes("twinning:delegated");
  if (auth.actor !== undefined && !allowDelegated) throw new ApiError(403, "POL0001", ["a delegated token cannot subscribe: the secondary subscribes for itself"]);
  if (!auth.scopes.includes("webrtc:call") && !(delegated && allowDelegated)) {
    throw new ApiError(403, "POL0001", ["insufficient_scope: webrtc:call required"], { "WWW-Authenticate": 'Bearer error="insufficient_scope", scope="webrtc:call"' });
  }
  if (!(await subscriberStub(c.env, address).isTokenLive(auth.token))) {
    throw new ApiError(401, "POL0001", ["invalid_token: token revoked or its subscriber removed"], { "WWW-Authenticate": 'Bearer error="invalid_token"' });
  }
  return { address, device: delegated ? auth.actor! : address, delegated };
}

const origin = (c: Ctx) => requestOrigin(c);
const base = (c: Ctx, address: string) => `${origin(c)}/webrtcsignaling/v1/${encodeURIComponent(address)}`;
const sessionView = (c: Ctx, address: string, s: SessionRecord) => ({
  wrtcsSession: {
    originatorAddress: s.callerAddress,
    tParticipantAddress: s.calleeAddress,
    offer: { sdp: s.offerSdp },
    ...(s.answerSdp !== undefined ? { answer: { sdp: s.answerSdp } } : {}),
    status: s.status,
    ...(s.clientCorrelator ? { clientCorrelator: s.clientCorrelator } : {}),
    resourceURL: `${base(c, address)}/sessions/${s.sessionId}`,
  },
});
const statusView = (c: Ctx, address: string, s: SessionRecord) => ({
  wrtcsSessionStatus: { status: s.status, resourceURL: `${base(c, address)}/sessions/${s.sessionId}/status` },
});
const sessionOf = (c: Ctx, sessionId: string) => c.env.CALL_SESSIONS.getByName(sessionId);

// ------------------------------------------------------------------ sessions

webrtcRoutes.openapi(
  createRoute({
    method: "post",
    path: "/webrtcsignaling/v1/{userId}/sessions",
    summary: "Place a call: an SDP offer to a participant",
    description:
      "Every device the call rings gets a `wrtcsSessionInvitationNotification` with the offer: the called address and, when it is a primary device, each twinned secondary whose status is On (HLF-TE-002/003). " +
      "The first device to PUT its answer gets the call; the others get a `wrtcsEventNotification` with `eventType` Cancelled, `reason` AnsweredElsewhere, at once. " +
      "A twinned secondary calls as its primary with its `twinning:delegated` token (HLF-SD-009): the callee sees the primary's address, and only while the twin is On. " +
      "An unanswered call ends as NoAnswer after WEBRTC_RING_TIMEOUT_SECONDS. A device already in a Connected call does not ring; when no device is left to ring, the session is created Busy " +
      "(the caller also gets a `wrtcsEventNotification` Busy). At most 10 calls a minute from one device (429 POL0001 with Retry-After beyond).",
    ...sessionGuard,
    request: { params: UserIdParam, ...jsonBody(SessionRequestSchema) },
    responses: { 201: json(SessionSchema, "The session, in state Initial (or Busy)"), ...errorResponses(400, 401, 403, 404, 413, 415), 429: { ...errorResponses(429)[429]!, description: "More than 10 calls a minute from this device (POL0001, Retry-After)" } },
  }),
  async (c) => {
    const party = await partyOf(c, c.req.valid("param").userId);
    await enforceRateLimit(callRate(c), party.device);
    const req = c.req.valid("json").wrtcsSession;
    const callee = req.tParticipantAddress;
    if (callee === party.address) throw invalidInput("wrtcsSession.tParticipantAddress", "a subscriber cannot call its own address");
    const calleeObject = subscriberStub(c.env, callee);
    const [profile, twins, callerTwins] = await Promise.all([
      calleeObject.profile(),
      calleeObject.twinStatuses(),
      party.delegated ? subscriberStub(c.env, party.address).twinStatuses() : Promise.resolve([]),
    ]);
    if (!profile) throw notFound("wrtcsSession.tParticipantAddress", callee);
    if (party.delegated && callerTwins.find((t) => t.secondary === party.device)?.status !== "On") {
      throw new ApiError(403, "POL0001", ["the twin is Off: a secondary acts for its primary only while twinning is On (HLF-TE-003)"]);
    }
    const ringing = [callee, ...twins.filter((t) => t.status === "On").map((t) => t.secondary)];
    // A device in a Connected call is Busy and does not ring; a ringing one still rings (call waiting).
    const busy = await Promise.all(ringing.map((d) => c.env.SIGNALING_USERS.getByName(d).busy()));
    const sessionId = base64url(crypto.getRandomValues(new Uint8Array(16)));
    const session = await sessionOf(c, sessionId).create({
      sessionId,
      origin: origin(c),
      callerAddress: party.address,
      callerDevice: party.device,
      calleeAddress: callee,
      twins: ringing.slice(1),
      busy: ringing.filter((_, i) => busy[i]),
      offer: { sdp: req.offer.sdp, media: checkSdp(req.offer.sdp).media },
      ...(req.clientCorrelator ? { clientCorrelator: req.clientCorrelator } : {}),
      ringTimeoutMs: ringTimeoutMs(c),
    });
    recordEvent(c.env, "webrtc.session");
    const view = sessionView(c, party.address, session);
    return c.json(view, 201, { Location: view.wrtcsSession.resourceURL });
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "get",
    path: "/webrtcsignaling/v1/{userId}/sessions/{sessionId}",
    summary: "A call session (participants only: the caller and every device it rang)",
    ...sessionGuard,
    request: { params: SessionIdParam },
    responses: { 200: json(SessionSchema, "The session"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, sessionId } = c.req.valid("param");
    const party = await partyOf(c, userId);
    return c.json(sessionView(c, party.address, unwrap(await sessionOf(c, sessionId).view(party.device))), 200);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/webrtcsignaling/v1/{userId}/sessions/{sessionId}",
    summary: "Hang up: the caller cancels (before the answer) or ends the call; a callee device declines or ends it",
    ...sessionGuard,
    request: { params: SessionIdParam },
    responses: { 204: { description: "Ended (or it had already ended)" }, ...errorResponses(400, 401, 403, 404, 409) },
  }),
  async (c) => {
    const { userId, sessionId } = c.req.valid("param");
    const party = await partyOf(c, userId);
    unwrap(await sessionOf(c, sessionId).hangUp(party.device));
    return c.body(null, 204);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "get",
    path: "/webrtcsignaling/v1/{userId}/sessions/{sessionId}/status",
    summary: "The state of a call session",
    ...sessionGuard,
    request: { params: SessionIdParam },
    responses: { 200: json(SessionStatusResponseSchema, "The state"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, sessionId } = c.req.valid("param");
    const party = await partyOf(c, userId);
    return c.json(statusView(c, party.address, unwrap(await sessionOf(c, sessionId).view(party.device))), 200);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "put",
    path: "/webrtcsignaling/v1/{userId}/sessions/{sessionId}/status",
    summary: "Change the state: Ringing, Declined, Busy (callee device), Cancelled (caller), Terminated, Connected (audit), Failed",
    description: "Each change is checked against the session's state in one transaction; a change the state does not allow is refused with 409 and the reason.",
    ...sessionGuard,
    request: { params: SessionIdParam, ...jsonBody(SessionStatusRequestSchema) },
    responses: { 200: json(SessionStatusResponseSchema, "The new state"), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  async (c) => {
    const { userId, sessionId } = c.req.valid("param");
    const party = await partyOf(c, userId);
    const s = unwrap(await sessionOf(c, sessionId).updateStatus(party.device, c.req.valid("json").wrtcsSessionStatus.status));
    return c.json(statusView(c, party.address, s), 200);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "put",
    path: "/webrtcsignaling/v1/{userId}/sessions/{sessionId}/answer",
    summary: "Answer: the first callee device to answer gets the call; later, the answer to a renegotiation offer",
    description:
      "The answer must have the offer's media sections in order (RFC 3264 §6). Two devices answering at once: exactly one wins, the other gets 409. " +
      "An answer to a Cancelled, NoAnswer or otherwise ended call gets 409 naming the state. The caller gets a `wrtcsAnswerNotification`.",
    ...sessionGuard,
    request: { params: SessionIdParam, ...jsonBody(AnswerRequestSchema) },
    responses: { 200: json(SessionSchema, "The session, Connected"), ...errorResponses(400, 401, 403, 404, 409) },
  }),
  async (c) => {
    const { userId, sessionId } = c.req.valid("param");
    const party = await partyOf(c, userId);
    const sdp = c.req.valid("json").wrtcsAnswer.sdp;
    return c.json(sessionView(c, party.address, unwrap(await sessionOf(c, sessionId).answer(party.device, sdp, checkSdp(sdp)))), 200);
  },
);

// Renegotiation is PUT .../offer (the name) and PUT .../update (what Kandy's clients send for hold): one handler.
for (const [resource, summary] of [
  ["offer", "Renegotiate a connected call (hold, resume, adding media): the other side gets a wrtcsOfferNotification and PUTs its answer"],
  ["update", "The same as PUT …/offer, under the name Kandy/SPiDR clients use for hold and resume"],
] as const) {
  webrtcRoutes.openapi(
    createRoute({
      method: "put",
      path: `/webrtcsignaling/v1/{userId}/sessions/{sessionId}/${resource}`,
      summary,
      ...sessionGuard,
      request: { params: SessionIdParam, ...jsonBody(OfferRequestSchema) },
      responses: { 200: json(SessionSchema, "The session (its offer and answer change when the new answer arrives)"), ...errorResponses(400, 401, 403, 404, 409) },
    }),
    async (c) => {
      const { userId, sessionId } = c.req.valid("param");
      const party = await partyOf(c, userId);
      const sdp = c.req.valid("json").wrtcsOffer.sdp;
      return c.json(sessionView(c, party.address, unwrap(await sessionOf(c, sessionId).offer(party.device, sdp, checkSdp(sdp)))), 200);
    },
  );
}

webrtcRoutes.openapi(
  createRoute({
    method: "put",
    path: "/webrtcsignaling/v1/{userId}/sessions/{sessionId}/ice",
    summary: "Trickle ICE candidates to the other side",
    description:
      "The caller's candidates reach every device still ringing, then only the one that answered. A callee device's candidates are held until it has won the call, then sent to the caller " +
      "(so the losers' candidates never reach it). The other side gets a `wrtcsIceNotification`.",
    ...sessionGuard,
    request: { params: SessionIdParam, ...jsonBody(IceRequestSchema) },
    responses: { 204: { description: "Taken" }, ...errorResponses(400, 401, 403, 404, 409) },
  }),
  async (c) => {
    const { userId, sessionId } = c.req.valid("param");
    const party = await partyOf(c, userId);
    unwrap(await sessionOf(c, sessionId).trickle(party.device, c.req.valid("json").wrtcsIceCandidates));
    return c.body(null, 204);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "get",
    path: "/webrtcsignaling/v1/{userId}/sessions/{sessionId}/ice",
    summary: "The other side's ICE candidates so far",
    ...sessionGuard,
    request: { params: SessionIdParam },
    responses: { 200: json(IceListSchema, "The candidates"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, sessionId } = c.req.valid("param");
    const party = await partyOf(c, userId);
    const list = unwrap(await sessionOf(c, sessionId).remoteCandidates(party.device));
    return c.json({ wrtcsIceCandidates: { iceCandidate: list, resourceURL: `${base(c, party.address)}/sessions/${sessionId}/ice` } }, 200);
  },
);

// ------------------------------------------------------------------ subscriptions

const subscriptionsBase = (c: Ctx, address: string) => `${base(c, address)}/subscriptions`;
const subscriptionView = (c: Ctx, address: string, s: SubscriptionRecord, signingSecret?: string) => subscriptionBody(subscriptionsBase(c, address), s, signingSecret);
const usersOf = (c: Ctx, address: string) => c.env.SIGNALING_USERS.getByName(address);

webrtcRoutes.openapi(
  createRoute({
    method: "post",
    path: "/webrtcsignaling/v1/{userId}/subscriptions",
    summary: "Subscribe to call invitations and session events",
    description:
      "Delivered to `notifyURL` (a Notification Channel's callbackURL, for devices, or a public https callback, signed as the twinning notifications are), in order, at least once: " +
      Object.entries(NotificationExamples).map(([k, v]) => `\`${k}\` ${JSON.stringify(v)}`).join("; ") +
      ". Each carries a unique `notificationId` and the subscription's `callbackData`. A delegated token cannot subscribe: a secondary receives the primary's calls on its own subscription while it is On.",
    ...subscriptionGuard,
    request: { params: UserIdParam, ...jsonBody(WrtcsSubscriptionRequestSchema) },
    responses: { 201: json(WrtcsSubscriptionSchema, "Created"), 200: json(WrtcsSubscriptionSchema, "The existing subscription with this clientCorrelator"), ...errorResponses(400, 401, 403, 413, 415) },
  }),
  async (c) => {
    const party = await partyOf(c, c.req.valid("param").userId, false);
    const { callbackReference, clientCorrelator, duration } = c.req.valid("json").wrtcsNotificationSubscription;
    const target = await notifyTarget(c, party.address, callbackReference.notifyURL, "wrtcsNotificationSubscription.callbackReference.notifyURL");
    const result = await usersOf(c, party.address).subscribe({
      clientId: c.get("auth")!.clientId,
      notifyURL: callbackReference.notifyURL,
      ...(callbackReference.callbackData !== undefined ? { callbackData: callbackReference.callbackData } : {}),
      ...(clientCorrelator ? { clientCorrelator } : {}),
      ...(target.channelId ? { channelId: target.channelId } : {}),
      ...(duration ? { expiresAt: Date.now() + duration * 1000 } : {}),
    });
    if ("limit" in result) throw new ApiError(403, "POL0001", [result.limit]);
    const view = { wrtcsNotificationSubscription: subscriptionView(c, party.address, result.subscription, result.signingSecret) };
    return result.created ? c.json(view, 201, { Location: view.wrtcsNotificationSubscription.resourceURL }) : c.json(view, 200);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "get",
    path: "/webrtcsignaling/v1/{userId}/subscriptions",
    summary: "The subscriber's WebRTC signaling subscriptions",
    ...subscriptionGuard,
    request: { params: UserIdParam },
    responses: { 200: json(WrtcsSubscriptionListSchema, "Every live subscription"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const party = await partyOf(c, c.req.valid("param").userId, false);
    const list = await usersOf(c, party.address).subscriptions();
    return c.json({ wrtcsNotificationSubscriptionList: { wrtcsNotificationSubscription: list.map((s) => subscriptionView(c, party.address, s)), resourceURL: subscriptionsBase(c, party.address) } }, 200);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "get",
    path: "/webrtcsignaling/v1/{userId}/subscriptions/{subscriptionId}",
    summary: "One WebRTC signaling subscription",
    ...subscriptionGuard,
    request: { params: SubscriptionIdParam },
    responses: { 200: json(WrtcsSubscriptionSchema, "The subscription"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, subscriptionId } = c.req.valid("param");
    const party = await partyOf(c, userId, false);
    const s = await usersOf(c, party.address).subscription(subscriptionId);
    if (!s) throw notFound("subscriptionId", subscriptionId);
    return c.json({ wrtcsNotificationSubscription: subscriptionView(c, party.address, s) }, 200);
  },
);

webrtcRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/webrtcsignaling/v1/{userId}/subscriptions/{subscriptionId}",
    summary: "End a WebRTC signaling subscription",
    ...subscriptionGuard,
    request: { params: SubscriptionIdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, subscriptionId } = c.req.valid("param");
    const party = await partyOf(c, userId, false);
    if (!(await usersOf(c, party.address).unsubscribe(subscriptionId))) throw notFound("subscriptionId", subscriptionId);
    return c.body(null, 204);
  },
);
