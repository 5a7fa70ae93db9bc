// Toggle notifications (HLF-PD-007, SD-008): OMA-style subscriptions with callbackReference, and
// the OMA Notification Channel (long polling and WebSockets) for devices that cannot take callbacks.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { requireScope, userIdOf } from "../http/auth";
import { base64url } from "../http/crypto";
import { ApiError, invalidInput, notFound, unwrap } from "../http/errors";
import { errorResponses, json, jsonBody, omaValue } from "../http/schemas";
import { UserIdParam } from "../twinning/schemas";
import { notifyTarget } from "./notify-target";
import type { ChannelInfo } from "./channel-object";
import type { SubscriptionRecord } from "./queue";

type Ctx = Context<AppEnv>;
export const notifyRoutes = router();

const guarded = (tag: string) => ({
  middleware: requireScope("twinning:primary", "twinning:secondary"),
  security: [{ bearerAuth: ["twinning:primary"] }, { bearerAuth: ["twinning:secondary"] }],
  tags: [tag],
});
const token = (c: Ctx) => c.get("auth")!.token;
const origin = (c: Ctx) => new URL(c.req.url).origin;

// ------------------------------------------------------------------ subscriptions

const SubscriptionRequestSchema = z
  .object({
    subscription: z
      .object({
        callbackReference: z
          .object({
            notifyURL: z.string().max(2000).openapi({ example: "https://app.example.com/twinning/notifications" }),
            callbackData: z.string().max(1024).optional(),
          })
          .strict(),
        clientCorrelator: z.string().min(1).max(128).optional(),
        duration: omaValue(z.number().int().positive().max(365 * 86_400), "Seconds the subscription lasts; without it, until deleted.").optional(),
      })
      .strict(),
  })
  .strict()
  .openapi("SubscriptionRequest");

const SubscriptionSchema = z
  .object({
    subscription: z.object({
      callbackReference: z.object({ notifyURL: z.string(), callbackData: z.string().optional() }),
      clientCorrelator: z.string().optional(),
      expiresAt: z.string().datetime().optional(),
      resourceURL: z.string().url(),
      signingSecret: z.string().optional().openapi({
        description:
          "Shown once, on creation: the key of the `x-notification-signature` header (`t=<unix>,v1=<hex HMAC-SHA256(key, t + \".\" + body)>`) on every delivery.",
      }),
    }),
  })
  .openapi("Subscription");
const SubscriptionListSchema = z
  .object({ subscriptionList: z.object({ subscription: z.array(SubscriptionSchema.shape.subscription), resourceURL: z.string().url() }) })
  .openapi("SubscriptionList");
const SubscriptionIdParam = UserIdParam.extend({ subscriptionId: z.string().openapi({ param: { name: "subscriptionId", in: "path" } }) });

const subscriptionsBase = (c: Ctx, address: string) => `${origin(c)}/twinning/v1/${encodeURIComponent(address)}/subscriptions`;
const subscriptionView = (c: Ctx, address: string, s: SubscriptionRecord, signingSecret?: string) => ({
  callbackReference: { notifyURL: s.notifyURL, ...(s.callbackData !== undefined ? { callbackData: s.callbackData } : {}) },
  ...(s.clientCorrelator ? { clientCorrelator: s.clientCorrelator } : {}),
  ...(s.expiresAt ? { expiresAt: new Date(s.expiresAt).toISOString() } : {}),
  resourceURL: `${subscriptionsBase(c, address)}/${s.id}`,
  ...(signingSecret ? { signingSecret } : {}),
});

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
      await c.env.SUBSCRIBERS.getByName(address).subscribe(token(c), {
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
    const list = unwrap(await c.env.SUBSCRIBERS.getByName(address).subscriptions(token(c)));
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
    const s = unwrap(await c.env.SUBSCRIBERS.getByName(address).subscription(token(c), subscriptionId));
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
    unwrap(await c.env.SUBSCRIBERS.getByName(userIdOf(c, userId)).unsubscribe(token(c), subscriptionId));
    return c.body(null, 204);
  },
);

// ------------------------------------------------------------------ Notification Channel (OMA REST NetAPI)

const DEFAULT_LIFETIME_S = 7200;
const MAX_LIFETIME_S = 86_400;
const LONG_POLL_DEFAULT_S = 25;
const LONG_POLL_MAX_S = 60;

const ChannelRequestSchema = z
  .object({
    channel: z
      .object({
        channelType: z.enum(["LongPolling", "WebSockets"]),
        clientCorrelator: z.string().min(1).max(128).optional(),
        applicationTag: z.string().max(128).optional(),
        channelLifeTime: z.number().int().positive().max(MAX_LIFETIME_S).optional().openapi({ description: `Seconds; default ${DEFAULT_LIFETIME_S}.` }),
      })
      .strict(),
  })
  .strict()
  .openapi("ChannelRequest");

const ChannelSchema = z
  .object({
    channel: z.object({
      channelType: z.enum(["LongPolling", "WebSockets"]),
      clientCorrelator: z.string().optional(),
      applicationTag: z.string().optional(),
      channelData: z.object({ channelURL: z.string().openapi({ description: "LongPolling: POST or GET it to wait for notifications. WebSockets: a ws(s):// URL to connect to." }), maxNotifications: z.number().int() }),
      callbackURL: z.string().url().openapi({ description: "Use as the notifyURL of a subscription to have its notifications arrive on this channel." }),
      channelLifeTime: z.number().int().openapi({ description: "Seconds left." }),
      resourceURL: z.string().url(),
    }),
  })
  .openapi("Channel");
const ChannelIdParam = UserIdParam.extend({ channelId: z.string().regex(/^[A-Za-z0-9_-]{22}$/).openapi({ param: { name: "channelId", in: "path" } }) });
const LifetimeSchema = z.object({ channelLifeTime: z.number().int().positive().max(MAX_LIFETIME_S) }).strict().openapi("ChannelLifeTime");

function channelView(c: Ctx, info: ChannelInfo) {
  const base = `${origin(c)}/notificationchannel/v1/${encodeURIComponent(info.owner)}/channels/${info.channelId}`;
  const channelURL = info.channelType === "WebSockets" ? `${base.replace(/^http/, "ws")}/ws` : `${base}/poll`;
  return {
    channelType: info.channelType,
    ...(info.clientCorrelator ? { clientCorrelator: info.clientCorrelator } : {}),
    ...(info.applicationTag ? { applicationTag: info.applicationTag } : {}),
    channelData: { channelURL, maxNotifications: 100 },
    callbackURL: `${base}/callback`,
    channelLifeTime: Math.max(0, Math.round((info.expiresAt - Date.now()) / 1000)),
    resourceURL: base,
  };
}

async function ownedChannel(c: Ctx, address: string, channelId: string): Promise<ChannelInfo> {
  const info = await c.env.CHANNELS.getByName(channelId).info(address);
  if (!info) throw notFound("channelId", channelId);
  return info;
}

notifyRoutes.openapi(
  createRoute({
    method: "post",
    path: "/notificationchannel/v1/{userId}/channels",
    summary: "Create a Notification Channel (long polling or WebSockets)",
    description: "For devices, which cannot receive HTTP callbacks. Notifications that arrive while no client is connected wait in the channel until read or until it expires.",
    ...guarded("Notification Channel"),
    request: { params: UserIdParam, ...jsonBody(ChannelRequestSchema) },
    responses: { 201: json(ChannelSchema, "The channel"), ...errorResponses(400, 401, 403, 413, 415) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    // The subscriber's object must still accept this token (revocation) before a channel is made for it.
    unwrap(await c.env.SUBSCRIBERS.getByName(address).subscriptions(token(c)));
    const req = c.req.valid("json").channel;
    const channelId = base64url(crypto.getRandomValues(new Uint8Array(16)));
    const now = Date.now();
    const info = await c.env.CHANNELS.getByName(channelId).create({
      channelId,
      owner: address,
      channelType: req.channelType,
      ...(req.clientCorrelator ? { clientCorrelator: req.clientCorrelator } : {}),
      ...(req.applicationTag ? { applicationTag: req.applicationTag } : {}),
      createdAt: now,
      expiresAt: now + (req.channelLifeTime ?? DEFAULT_LIFETIME_S) * 1000,
    });
    const view = channelView(c, info);
    return c.json({ channel: view }, 201, { Location: view.resourceURL });
  },
);

notifyRoutes.openapi(
  createRoute({
    method: "get",
    path: "/notificationchannel/v1/{userId}/channels/{channelId}",
    summary: "A Notification Channel",
    ...guarded("Notification Channel"),
    request: { params: ChannelIdParam },
    responses: { 200: json(ChannelSchema, "The channel"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, channelId } = c.req.valid("param");
    return c.json({ channel: channelView(c, await ownedChannel(c, userIdOf(c, userId), channelId)) }, 200);
  },
);

notifyRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/notificationchannel/v1/{userId}/channels/{channelId}",
    summary: "Delete a Notification Channel; nothing more is delivered to it",
    ...guarded("Notification Channel"),
    request: { params: ChannelIdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, channelId } = c.req.valid("param");
    if (!(await c.env.CHANNELS.getByName(channelId).remove(userIdOf(c, userId)))) throw notFound("channelId", channelId);
    return c.body(null, 204);
  },
);

notifyRoutes.openapi(
  createRoute({
    method: "put",
    path: "/notificationchannel/v1/{userId}/channels/{channelId}/channelLifeTime",
    summary: "Refresh a channel's lifetime",
    ...guarded("Notification Channel"),
    request: { params: ChannelIdParam, ...jsonBody(LifetimeSchema) },
    responses: { 200: json(ChannelSchema, "The channel with its new lifetime"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, channelId } = c.req.valid("param");
    const info = await c.env.CHANNELS.getByName(channelId).refresh(userIdOf(c, userId), c.req.valid("json").channelLifeTime * 1000);
    if (!info) throw notFound("channelId", channelId);
    return c.json({ channel: channelView(c, info) }, 200);
  },
);

/**
 * The channelURL itself. It is a capability (an unguessable id in a URL the device got with its
 * token), so the device holds it open without a token, as OMA's long polling does.
 */
async function longPoll(c: Ctx): Promise<Response> {
  const { userId, channelId } = c.req.param() as { userId: string; channelId: string };
  if (!/^[A-Za-z0-9_-]{22}$/.test(channelId)) throw notFound("channelId", channelId);
  const max = Number(c.req.query("maxNotifications") ?? 100);
  const timeout = Number(c.req.query("timeout") ?? LONG_POLL_DEFAULT_S);
  if (!Number.isInteger(max) || max < 1 || max > 100) throw invalidInput("maxNotifications", "an integer from 1 to 100");
  if (!Number.isFinite(timeout) || timeout < 0 || timeout > LONG_POLL_MAX_S) throw invalidInput("timeout", `seconds from 0 to ${LONG_POLL_MAX_S}`);
  const stub = c.env.CHANNELS.getByName(channelId);
  if (!(await stub.info(decodeURIComponent(userId)))) throw notFound("channelId", channelId);
  const notifications = await stub.longPoll(max, timeout * 1000);
  if (!notifications) throw notFound("channelId", channelId);
  return c.json({ notificationList: notifications }, 200, { "Cache-Control": "no-store" });
}
notifyRoutes.post("/notificationchannel/v1/:userId/channels/:channelId/poll", longPoll);
notifyRoutes.get("/notificationchannel/v1/:userId/channels/:channelId/poll", longPoll);

notifyRoutes.get("/notificationchannel/v1/:userId/channels/:channelId/ws", async (c) => {
  const { userId, channelId } = c.req.param();
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new ApiError(426, "SVC0002", ["Upgrade", "websocket expected"], { Upgrade: "websocket" });
  const stub = c.env.CHANNELS.getByName(channelId);
  if (!/^[A-Za-z0-9_-]{22}$/.test(channelId) || !(await stub.info(decodeURIComponent(userId)))) throw notFound("channelId", channelId);
  return stub.fetch(c.req.raw);
});

notifyRoutes.post("/notificationchannel/v1/:userId/channels/:channelId/callback", () => {
  throw new ApiError(403, "POL0001", ["a channel's callbackURL takes notifications from this gateway's own subscriptions only: use it as a notifyURL"]);
});

notifyRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/notificationchannel/v1/{userId}/channels/{channelId}/poll",
  summary: "Long polling on a channel's channelURL (also GET)",
  description: `Held until a notification arrives or \`timeout\` seconds pass (default ${LONG_POLL_DEFAULT_S}, at most ${LONG_POLL_MAX_S}); returns up to \`maxNotifications\` (1 to 100). The URL is the capability: no token.`,
  tags: ["Notification Channel"],
  request: {
    params: ChannelIdParam,
    query: z.object({ maxNotifications: z.string().optional(), timeout: z.string().optional() }),
  },
  responses: { 200: json(z.object({ notificationList: z.array(z.record(z.string(), z.unknown())) }), "What arrived (possibly nothing)"), ...errorResponses(400, 404) },
});
notifyRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/notificationchannel/v1/{userId}/channels/{channelId}/ws",
  summary: "WebSocket channelURL",
  description: "Upgrade to a WebSocket; each notification is one JSON text message. Send `ping` to get `pong` (answered without waking the channel). The URL is the capability: no token.",
  tags: ["Notification Channel"],
  request: { params: ChannelIdParam },
  responses: { 101: { description: "Switching protocols" }, ...errorResponses(404) },
});
