// Toggle notifications (HLF-PD-007, SD-008): OMA-style subscriptions with callbackReference. The
// OMA Notification Channel routes (channel-routes.ts) are mounted on the same router.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { userIdOf } from "../http/auth";
import { unwrap } from "../http/errors";
import { errorResponses, json, jsonBody } from "../http/schemas";
import { UserIdParam } from "../twinning/schemas";
import { notifyTarget, subscriptionBody, SubscriptionBodySchema, subscriptionRequestFields } from "./notify-target";
import { guarded, origin, token } from "./route-common";
import type { SubscriptionRecord } from "./queue";
import { channelRoutes } from "./channel-routes";
import { subscriberStub } from "../residency";

type Ctx = Context<AppEnv>;
export const notifyRoutes = router();


// ------------------------------------------------------------------ subscriptions

const SubscriptionRequestSchema = z
  .object({
    subscription: subscriptionRequestFields("https://app.example.com/twinning/notifications"),
  })
  .strict()
  .openapi("SubscriptionRequest");

const SubscriptionSchema = z.object({ subscription: SubscriptionBodySchema }).openapi("Subscription");
const SubscriptionListSchema = z
  .object({ subscriptionList: z.object({ subscription: z.array(SubscriptionSchema.shape.subscription), resourceURL: z.string().url() }) })
  .openapi("SubscriptionList");
const SubscriptionIdParam = UserIdParam.extend({ subscriptionId: z.string().openapi({ param: { name: "subscriptionId", in: "path" } }) });

const subscriptionsBase = (c: Ctx, address: string) => `${origin(c)}/twinning/v1/${encodeURIComponent(address)}/subscriptions`;
const subscriptionView = (c: Ctx, address: string, s: SubscriptionRecord, signingSecret?: string) => subscriptionBody(subscriptionsBase(c, address), s, signingSecret);

notifyRoutes.openapi(
  createRoute({
    method: "post",
    path: "/twinning/v1/{userId}/subscriptions",
    summary: "Subscribe to twinning notifications (HLF-PD-007, SD-008)",
    description:
      "Activation, toggles from either side and deactivation are POSTed to `notifyURL`, in the order they took effect, at least once (retried with backoff for a bounded period), " +
      "each with a unique `notificationId` to de-duplicate, `callbackData`, and an HMAC-SHA256 signature header. `notifyURL` must be https (no credentials, no private, link-local or metadata " +
      "addresses), or the callbackURL of one of the subscriber's Notification Channels. A repeated `clientCorrelator` returns the existing subscription (200).",
    ...guarded("Notifications"),
    request: { params: UserIdParam, ...jsonBody(SubscriptionRequestSchema) },
    responses: { 201: json(SubscriptionSchema, "Created"), 200: json(SubscriptionSchema, "The existing subscription with this clientCorrelator"), ...errorResponses(400, 401, 403, 413, 415) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    const { callbackReference, clientCorrelator, duration } = c.req.valid("json").subscription;
    const channel = await notifyTarget(c, address, callbackReference.notifyURL, "subscription.callbackReference.notifyURL");
    const result = unwrap(
      await subscriberStub(c.env, address).subscribe(token(c), {
        clientId: c.get("auth")!.clientId,
        notifyURL: callbackReference.notifyURL,
        ...(callbackReference.callbackData !== undefined ? { callbackData: callbackReference.callbackData } : {}),
        ...(clientCorrelator ? { clientCorrelator } : {}),
        ...(channel.channelId ? { channelId: channel.channelId } : {}),
        ...(duration ? { expiresAt: Date.now() + duration * 1000 } : {}),
      }),
    );
    const view = subscriptionView(c, address, result.subscription, result.signingSecret);
    return result.created ? c.json({ subscription: view }, 201, { Location: view.resourceURL }) : c.json({ subscription: view }, 200);
  },
);

notifyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/twinning/v1/{userId}/subscriptions",
    summary: "The subscriber's notification subscriptions",
    ...guarded("Notifications"),
    request: { params: UserIdParam },
    responses: { 200: json(SubscriptionListSchema, "Every live subscription"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    const list = unwrap(await subscriberStub(c.env, address).subscriptions(token(c)));
    return c.json({ subscriptionList: { subscription: list.map((s) => subscriptionView(c, address, s)), resourceURL: subscriptionsBase(c, address) } }, 200);
  },
);

notifyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/twinning/v1/{userId}/subscriptions/{subscriptionId}",
    summary: "One subscription",
    ...guarded("Notifications"),
    request: { params: SubscriptionIdParam },
    responses: { 200: json(SubscriptionSchema, "The subscription"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, subscriptionId } = c.req.valid("param");
    const address = userIdOf(c, userId);
    const s = unwrap(await subscriberStub(c.env, address).subscription(token(c), subscriptionId));
    return c.json({ subscription: subscriptionView(c, address, s) }, 200);
  },
);

notifyRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/twinning/v1/{userId}/subscriptions/{subscriptionId}",
    summary: "End a subscription; nothing more is delivered for it",
    ...guarded("Notifications"),
    request: { params: SubscriptionIdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, subscriptionId } = c.req.valid("param");
    unwrap(await subscriberStub(c.env, userIdOf(c, userId)).unsubscribe(token(c), subscriptionId));
    return c.body(null, 204);
  },
);

// The Notification Channel routes live in channel-routes.ts; mounted here so index.ts mounts one router.
notifyRoutes.route("/", channelRoutes);
