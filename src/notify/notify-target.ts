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
import type { SubscriptionRecord } from "./queue";

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

/** A subscription as OMA REST NetAPI shows it, under `subscriptionsURL` (each API's own collection). */
export function subscriptionBody(subscriptionsURL: string, s: SubscriptionRecord, signingSecret?: string) {
  return {
    callbackReference: { notifyURL: s.notifyURL, ...(s.callbackData !== undefined ? { callbackData: s.callbackData } : {}) },
    ...(s.clientCorrelator ? { clientCorrelator: s.clientCorrelator } : {}),
    ...(s.expiresAt ? { expiresAt: new Date(s.expiresAt).toISOString() } : {}),
    resourceURL: `${subscriptionsURL}/${s.id}`,
    ...(signingSecret ? { signingSecret } : {}),
  };
}
