// Shared by every API that takes subscriptions (twinning, WebRTC signaling). Where a subscription's
// notifyURL points: one of the subscriber's own Notification Channels
// (delivered by RPC, no HTTP) or a callback URL that passed the SSRF checks. Shared by every
// API that takes subscriptions (twinning, WebRTC signaling).
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { invalidInput } from "../http/errors";
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
