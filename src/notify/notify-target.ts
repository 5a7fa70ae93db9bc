// Shared by every API that takes subscriptions (twinning, WebRTC signaling). Where a subscription's
// notifyURL points: one of the subscriber's own Notification Channels
// (delivered by RPC, no HTTP) or a callback URL that passed the SSRF checks. Shared by every
// API that takes subscriptions (twinning, WebRTC signaling).
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { invalidInput } from "../http/errors";
import { omaValue } from "../http/schemas";
import { config } from "../config";
import { callbackUrlProblem } from "./callback-url";
import type { DeliveryState, SubscriptionRecord } from "./queue";

const CHANNEL_CALLBACK = /^\/notificationchannel\/v1\/([^/]+)\/channels\/([A-Za-z0-9_-]{22})\/callback$/;

/** The channel a notifyURL names when it is one of this gateway's channel callbackURLs. */
function ownChannel(c: Context<AppEnv>, notifyURL: string): { owner: string; channelId: string } | undefined {
  try {
    const url = new URL(notifyURL);
    const m = url.origin === new URL(c.req.url).origin ? url.pathname.match(CHANNEL_CALLBACK) : null;
    return m ? { owner: decodeURIComponent(m[1]!), channelId: m[2]! } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The body of an OMA subscription request (callbackReference, clientCorrelator, duration), shared by
 * every API with subscriptions; each API wraps it in its own root (`subscription`,
 * `wrtcsNotificationSubscription`) and gives its own notifyURL example.
 */
export function subscriptionRequestFields(notifyUrlExample: string) {
  return z
    .object({
      callbackReference: z
        .object({
          notifyURL: z.string().max(2000).openapi({ example: notifyUrlExample }),
          callbackData: z.string().max(1024).optional(),
        })
        .strict(),
      clientCorrelator: z.string().min(1).max(128).optional(),
      duration: omaValue(z.number().int().positive().max(365 * 86_400), "Seconds the subscription lasts; without it, until deleted.").optional(),
    })
    .strict();
}

/**
 * Checks `notifyURL` for a subscription of `address`; `part` names the field in the 400 answer.
 * Returns the channel id when it is one of the subscriber's channels.
 */
export async function notifyTarget(c: Context<AppEnv>, address: string, notifyURL: string, part: string): Promise<{ channelId?: string }> {
  const channel = ownChannel(c, notifyURL);
  if (channel) {
    if (channel.owner !== address || !(await c.env.CHANNELS.getByName(channel.channelId).info(address))) {
      throw invalidInput(part, "not a channel of this subscriber");
    }
    return { channelId: channel.channelId };
  }
  const problem = callbackUrlProblem(notifyURL, { allowLoopback: config(c.env).CALLBACK_ALLOW_LOOPBACK });
  if (problem) throw invalidInput(part, problem);
  return {};
}

const DeliveryStateSchema = z
  .object({
    lastAttempt: z.string().datetime().optional().openapi({ description: "When a delivery was last attempted." }),
    lastOutcome: z.string().optional().openapi({ description: "`delivered`, or why the last attempt failed (`HTTP 503`, `timeout`, `network error`, `retry window passed (…)`).", example: "HTTP 503" }),
    nextAttempt: z.string().datetime().optional().openapi({ description: "When the oldest queued notification is tried next; absent when nothing is queued." }),
    consecutiveFailures: z.number().int(),
    dropped: z.number().int().openapi({ description: "Notifications given up on (retry window passed, channel or callback URL gone); the operator can list and replay them." }),
    queued: z.number().int(),
  })
  .openapi("DeliveryState", { description: "Where this subscription's deliveries stand (not part of OMA's subscription resource; an addition for operations)." });

/** A subscription as every API with subscriptions answers it (each wraps it in its own root). */
export const SubscriptionBodySchema = z.object({
  callbackReference: z.object({ notifyURL: z.string(), callbackData: z.string().optional() }),
  clientCorrelator: z.string().optional(),
  expiresAt: z.string().datetime().optional(),
  resourceURL: z.string().url(),
  deliveryState: DeliveryStateSchema.optional(),
  signingSecret: z.string().optional().openapi({
    description:
      "Shown once, on creation: the key of the `x-notification-signature` header (`t=<unix>,v1=<hex HMAC-SHA256(key, t + \".\" + body)>`) on every delivery.",
  }),
});

const iso = (t: number) => new Date(t).toISOString();
const deliveryStateView = (d: DeliveryState) => ({
  ...(d.lastAttemptAt !== undefined ? { lastAttempt: iso(d.lastAttemptAt) } : {}),
  ...(d.lastOutcome !== undefined ? { lastOutcome: d.lastOutcome } : {}),
  ...(d.nextAttemptAt !== undefined ? { nextAttempt: iso(d.nextAttemptAt) } : {}),
  consecutiveFailures: d.consecutiveFailures,
  dropped: d.dropped,
  queued: d.queued,
});

/** A subscription as OMA REST NetAPI shows it, under `subscriptionsURL` (each API's own collection), with its delivery state when known. */
export function subscriptionBody(subscriptionsURL: string, s: SubscriptionRecord, signingSecret?: string): z.infer<typeof SubscriptionBodySchema> {
  return {
    callbackReference: { notifyURL: s.notifyURL, ...(s.callbackData !== undefined ? { callbackData: s.callbackData } : {}) },
    ...(s.clientCorrelator ? { clientCorrelator: s.clientCorrelator } : {}),
    ...(s.expiresAt ? { expiresAt: iso(s.expiresAt) } : {}),
    resourceURL: `${subscriptionsURL}/${s.id}`,
    ...(s.delivery ? { deliveryState: deliveryStateView(s.delivery) } : {}),
    ...(signingSecret ? { signingSecret } : {}),
  };
}
