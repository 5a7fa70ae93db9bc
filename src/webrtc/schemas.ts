// Schemas of the RESTful Network API for WebRTC Signaling: one definition validates requests,
// types the handlers and documents the API in /openapi.json. Resource and field names follow
// OMA-TS-REST_NetAPI_WebRTCSignaling-V1_0 as operators deploy it (Kandy/SPiDR clients).
import { z } from "@hono/zod-openapi";
import { SubscriptionBodySchema, subscriptionRequestFields } from "../notify/notify-target";
import { AddressSchema, UserIdParam } from "../twinning/schemas";
import { candidateProblem, checkSdp, SdpError } from "./sdp";

/** Every state of a session (Initial → Ringing → Connected → Terminated, and the ways a call ends unanswered). */
export const SESSION_STATUSES = ["Initial", "Ringing", "Connected", "Terminated", "Declined", "Cancelled", "NoAnswer", "Busy", "Failed"] as const;
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export const SessionStatusSchema = z.enum(SESSION_STATUSES).openapi("WrtcsSessionStatusValue", {
  description:
    "Initial: invited, nobody rings yet. Ringing: a callee device rings. Connected: answered. Terminated: hung up after connecting. " +
    "Declined, Cancelled (by the caller), NoAnswer (ring timeout), Busy (every callee device busy), Failed: ended unanswered or broken.",
});

const SdpSchema = z
  .string()
  .superRefine((sdp, ctx) => {
    try {
      checkSdp(sdp);
    } catch (err) {
      if (!(err instanceof SdpError)) throw err;
      ctx.addIssue({ code: "custom", message: `malformed SDP: ${err.message}` });
    }
  })
  .openapi({ description: "An SDP session description (RFC 8866) as RTCPeerConnection produces it: ICE credentials and a DTLS fingerprint in every media section in use." });

const SessionDescriptionSchema = z.object({ sdp: SdpSchema }).strict();

export const SessionRequestSchema = z
  .object({
    wrtcsSession: z
      .object({
        tParticipantAddress: AddressSchema.openapi({ description: "The called party. A primary device's address also rings its twinned secondaries whose status is On." }),
        offer: SessionDescriptionSchema,
        clientCorrelator: z.string().min(1).max(128).optional().openapi({ description: "Echoed back. Not a de-duplication key: deployed clients send the same value on every call." }),
        tParticipantName: z.string().max(128).optional(),
      })
      .strict(),
  })
  .strict()
  .openapi("WrtcsSessionRequest");

const LinkSchema = z.object({ rel: z.string(), href: z.string().url() });

export const SessionSchema = z
  .object({
    wrtcsSession: z.object({
      originatorAddress: AddressSchema.openapi({ description: "The caller as the callee sees it: the primary's address when a twinned secondary calls with a delegated token (HLF-SD-009)." }),
      tParticipantAddress: AddressSchema,
      offer: z.object({ sdp: z.string() }),
      answer: z.object({ sdp: z.string() }).optional(),
      status: SessionStatusSchema,
      clientCorrelator: z.string().optional(),
      resourceURL: z.string().url(),
    }),
  })
  .openapi("WrtcsSession");

export const SessionStatusRequestSchema = z
  .object({
    wrtcsSessionStatus: z
      .object({
        status: z.enum(["Ringing", "Connected", "Declined", "Busy", "Cancelled", "Terminated", "Failed"]).openapi({
          description:
            "Callee device: Ringing, Declined (ends the call on every device), Busy (this device; the call is Busy when every device is). Caller: Cancelled before the answer. " +
            "Either side once connected: Terminated; Connected is an audit that changes nothing. Either side: Failed.",
        }),
        clientCorrelator: z.string().max(128).optional(),
      })
      .strict(),
  })
  .strict()
  .openapi("WrtcsSessionStatusRequest");

export const SessionStatusResponseSchema = z
  .object({ wrtcsSessionStatus: z.object({ status: SessionStatusSchema, resourceURL: z.string().url() }) })
  .openapi("WrtcsSessionStatus");

export const AnswerRequestSchema = z
  .object({ wrtcsAnswer: z.object({ sdp: SdpSchema, clientCorrelator: z.string().max(128).optional() }).strict() })
  .strict()
  .openapi("WrtcsAnswer");

export const OfferRequestSchema = z
  .object({ wrtcsOffer: z.object({ sdp: SdpSchema, clientCorrelator: z.string().max(128).optional() }).strict() })
  .strict()
  .openapi("WrtcsOffer");

export const IceCandidateSchema = z
  .object({
    candidate: z.string().max(512).superRefine((c, ctx) => {
      const problem = candidateProblem(c);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(63).nullable().optional(),
    usernameFragment: z.string().max(256).nullable().optional(),
  })
  .strict()
  .openapi("IceCandidate", { description: "An RTCIceCandidateInit (W3C WebRTC): `candidate` is an RFC 8839 candidate line, or empty for end of candidates." });
export type IceCandidate = z.infer<typeof IceCandidateSchema>;

export const IceRequestSchema = z
  .object({ wrtcsIceCandidates: z.array(IceCandidateSchema).min(1).max(50) })
  .strict()
  .openapi("WrtcsIceCandidates");

export const IceListSchema = z
  .object({ wrtcsIceCandidates: z.object({ iceCandidate: z.array(IceCandidateSchema), resourceURL: z.string().url() }) })
  .openapi("WrtcsIceCandidateList", { description: "The other side's candidates trickled so far." });

export const WrtcsSubscriptionRequestSchema = z
  .object({
    wrtcsNotificationSubscription: subscriptionRequestFields(
      "http://127.0.0.1:8787/notificationchannel/v1/tel%3A%2B15551230001/channels/…/callback",
    ),
  })
  .strict()
  .openapi("WrtcsNotificationSubscriptionRequest");

export const WrtcsSubscriptionSchema = z.object({ wrtcsNotificationSubscription: SubscriptionBodySchema }).openapi("WrtcsNotificationSubscription");
export const WrtcsSubscriptionListSchema = z
  .object({ wrtcsNotificationSubscriptionList: z.object({ wrtcsNotificationSubscription: z.array(SubscriptionBodySchema), resourceURL: z.string().url() }) })
  .openapi("WrtcsNotificationSubscriptionList");

export const SessionIdParam = UserIdParam.extend({
  sessionId: z.string().regex(/^[A-Za-z0-9_-]{22}$/, "a session id").openapi({ param: { name: "sessionId", in: "path" } }),
});
export const SubscriptionIdParam = UserIdParam.extend({ subscriptionId: z.string().max(64).openapi({ param: { name: "subscriptionId", in: "path" } }) });

/** What each notification carries (documented in the OpenAPI description of the subscription route). */
export const NotificationExamples = {
  wrtcsSessionInvitationNotification: { originatorAddress: "tel:+15551230003", tParticipantAddress: "tel:+15551230001", offer: { sdp: "v=0…" }, link: [{ rel: "WrtcsSession", href: "…/sessions/{id}" }] },
  wrtcsEventNotification: { eventType: "Cancelled", reason: "AnsweredElsewhere", link: [{ rel: "WrtcsSession", href: "…" }] },
  wrtcsAnswerNotification: { answer: { sdp: "v=0…" }, link: [{ rel: "WrtcsSession", href: "…" }] },
  wrtcsOfferNotification: { offer: { sdp: "v=0…" }, link: [{ rel: "WrtcsSession", href: "…" }] },
  wrtcsIceNotification: { iceCandidates: [{ candidate: "candidate:…", sdpMid: "0", sdpMLineIndex: 0 }], link: [{ rel: "WrtcsSession", href: "…" }] },
};
export { LinkSchema };
