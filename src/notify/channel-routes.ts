// The OMA Notification Channel (OMA-TS-REST_NetAPI_NotificationChannel-V1_0) in its JSON form:
// root `notificationChannel`, `channelLifetime`, `channelData` typed `nc:LongPollingData`, numbers
// that may arrive as strings. Long polling and WebSockets, for devices that cannot take callbacks.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { userIdOf } from "../http/auth";
import { base64url } from "../http/crypto";
import { ApiError, invalidInput, notFound, serviceError, unwrap } from "../http/errors";
import { errorResponses, json, jsonBody, omaValue } from "../http/schemas";
import { TEL_URI, UserIdParam } from "../twinning/schemas";
import { MAX_CHANNELS_PER_SUBSCRIBER } from "./channel-directory-object";
import { MAX_POLLS_PER_CHANNEL, MAX_QUEUED, MAX_SOCKETS_PER_CHANNEL, type ChannelInfo, type ChannelType } from "./channel-object";
import { CHANNEL_ID } from "./channel-urls";
import { guarded, origin, token } from "./route-common";
import { subscriberStub } from "../residency";

type Ctx = Context<AppEnv>;
export const channelRoutes = router();

const DEFAULT_LIFETIME_S = 7200;
const MAX_LIFETIME_S = 86_400;
const DEFAULT_MAX_NOTIFICATIONS = 100;
const LONG_POLL_DEFAULT_S = 25;
const LONG_POLL_MAX_S = 60;

/** The `channelData.type` of each channel type (OMA's is nc:LongPollingData; WebSockets follows its pattern). */
const CHANNEL_DATA_TYPE: Record<ChannelType, string> = { LongPolling: "nc:LongPollingData", WebSockets: "nc:WebSocketData" };

const guardedChannel = guarded("Notification Channel", "webrtc:call");

const ChannelRequestSchema = z
  .object({
    notificationChannel: z
      .object({
        clientCorrelator: z.string().min(1).max(128).optional().openapi({ description: "A repeated clientCorrelator of the same application returns the existing channel (200)." }),
        applicationTag: z.string().max(128).optional(),
        channelType: z.enum(["LongPolling", "WebSockets"]),
        channelData: z
          .object({
            type: z.enum(["nc:LongPollingData", "nc:WebSocketData"]).optional(),
            maxNotifications: omaValue(z.number().int().min(1).max(DEFAULT_MAX_NOTIFICATIONS), `Notifications one long-poll answer carries at most (default ${DEFAULT_MAX_NOTIFICATIONS}).`).optional(),
          })
          .strict()
          .optional(),
        channelLifetime: omaValue(z.number().int().positive().max(MAX_LIFETIME_S), `Seconds (default ${DEFAULT_LIFETIME_S}, at most ${MAX_LIFETIME_S}).`).optional(),
      })
      .strict(),
  })
  .strict()
  .openapi("NotificationChannelRequest");

const ChannelBodySchema = z.object({
  clientCorrelator: z.string().optional(),
  applicationTag: z.string().optional(),
  channelType: z.enum(["LongPolling", "WebSockets"]),
  channelData: z.object({
    type: z.enum(["nc:LongPollingData", "nc:WebSocketData"]),
    channelURL: z.string().openapi({ description: "Added by the server. LongPolling: POST (or GET) it to wait for notifications. WebSockets: a ws(s):// URL to connect to. It is a capability: keep it secret." }),
    maxNotifications: z.number().int(),
  }),
  channelLifetime: z.number().int().openapi({ description: "Seconds left." }),
  callbackURL: z.string().url().openapi({ description: "Use as the notifyURL of a subscription to have its notifications arrive on this channel." }),
  resourceURL: z.string().url(),
});
const ChannelSchema = z.object({ notificationChannel: ChannelBodySchema }).openapi("NotificationChannel");
const ChannelListSchema = z
  .object({ notificationChannelList: z.object({ notificationChannel: z.array(ChannelBodySchema), resourceURL: z.string().url() }) })
  .openapi("NotificationChannelList");
const ChannelIdParam = UserIdParam.extend({ channelId: z.string().regex(CHANNEL_ID).openapi({ param: { name: "channelId", in: "path" } }) });
const LifetimeRequestSchema = z
  .object({ channelLifetime: omaValue(z.number().int().positive().max(MAX_LIFETIME_S), "Seconds from now.") })
  .strict()
  .openapi("ChannelLifetimeRequest");
const LifetimeSchema = z.object({ channelLifetime: z.number().int() }).openapi("ChannelLifetime");
const NotificationListSchema = z
  .object({
    notificationList: z.array(z.record(z.string(), z.unknown())).openapi({
      description: "One entry per notification, under its type's name (`{\"twinningNotification\":{…}}`), oldest first; `[]` when the poll timed out with nothing to say.",
    }),
  })
  .openapi("NotificationList");

const channelsBase = (c: Ctx, owner: string) => `${origin(c)}/notificationchannel/v1/${encodeURIComponent(owner)}/channels`;

function channelView(c: Ctx, info: ChannelInfo): z.infer<typeof ChannelBodySchema> {
  const base = `${channelsBase(c, info.owner)}/${info.channelId}`;
  const channelURL = info.channelType === "WebSockets" ? `${base.replace(/^http/, "ws")}/ws` : `${base}/poll`;
  return {
    ...(info.clientCorrelator ? { clientCorrelator: info.clientCorrelator } : {}),
    ...(info.applicationTag ? { applicationTag: info.applicationTag } : {}),
    channelType: info.channelType,
    channelData: { type: CHANNEL_DATA_TYPE[info.channelType] as "nc:LongPollingData" | "nc:WebSocketData", channelURL, maxNotifications: info.maxNotifications },
    channelLifetime: Math.max(0, Math.round((info.expiresAt - Date.now()) / 1000)),
    callbackURL: `${base}/callback`,
    resourceURL: base,
  };
}

async function ownedChannel(c: Ctx, address: string, channelId: string): Promise<ChannelInfo> {
  const info = await c.env.CHANNELS.getByName(channelId).info(address);
  if (!info) throw notFound("channelId", channelId);
  return info;
}

channelRoutes.openapi(
  createRoute({
    method: "post",
    path: "/notificationchannel/v1/{userId}/channels",
    summary: "Create a Notification Channel (long polling or WebSockets)",
    description:
      "OMA-TS-REST_NetAPI_NotificationChannel-V1_0. Numbers may be sent as strings (`\"channelLifetime\":\"7200\"`); answers carry numbers. The answer adds `channelData.channelURL`, " +
      `\`callbackURL\` and \`resourceURL\`. Notifications that arrive while no client is connected wait in the channel (up to ${MAX_QUEUED}) until read or until it expires. ` +
      `A subscriber has at most ${MAX_CHANNELS_PER_SUBSCRIBER} live channels (403 POL0001 beyond).`,
    ...guardedChannel,
    request: { params: UserIdParam, ...jsonBody(ChannelRequestSchema) },
    responses: {
      201: json(ChannelSchema, "Created"),
      200: json(ChannelSchema, "The existing channel with this clientCorrelator"),
      ...errorResponses(400, 401, 403, 413, 415),
    },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    // The subscriber's object must still accept this token (revocation) before a channel is made for it.
    unwrap(await subscriberStub(c.env, address).subscriptions(token(c)));
    const req = c.req.valid("json").notificationChannel;
    if (req.channelData?.type && req.channelData.type !== CHANNEL_DATA_TYPE[req.channelType]) {
      throw invalidInput("notificationChannel.channelData.type", `${CHANNEL_DATA_TYPE[req.channelType]} for a ${req.channelType} channel`);
    }
    const now = Date.now();
    const expiresAt = now + (req.channelLifetime ?? DEFAULT_LIFETIME_S) * 1000;
    const directory = c.env.CHANNEL_DIRECTORIES.getByName(address);
    const channelId = base64url(crypto.getRandomValues(new Uint8Array(16)));
    const reserve = () => directory.reserve(channelId, c.get("auth")!.clientId, req.clientCorrelator, expiresAt);
    let reservation = await reserve();
    if ("existing" in reservation) {
      const existing = await c.env.CHANNELS.getByName(reservation.existing).info(address);
      if (existing) return c.json({ notificationChannel: channelView(c, existing) }, 200);
      // Deleted or expired meanwhile: its place is freed and the correlator may name a new channel.
      await directory.removed(reservation.existing);
      reservation = await reserve();
    }
    if ("refused" in reservation) throw new ApiError(403, "POL0001", [reservation.refused]);
    if ("existing" in reservation) throw serviceError(503, "the channel for this clientCorrelator is changing; retry");
    let info: ChannelInfo;
    try {
      info = await c.env.CHANNELS.getByName(channelId).create({
        channelId,
        owner: address,
        channelType: req.channelType,
        ...(req.clientCorrelator ? { clientCorrelator: req.clientCorrelator } : {}),
        ...(req.applicationTag ? { applicationTag: req.applicationTag } : {}),
        maxNotifications: req.channelData?.maxNotifications ?? DEFAULT_MAX_NOTIFICATIONS,
        createdAt: now,
        expiresAt,
      });
    } catch (err) {
      await directory.removed(channelId);
      throw err;
    }
    const view = channelView(c, info);
    return c.json({ notificationChannel: view }, 201, { Location: view.resourceURL });
  },
);

channelRoutes.openapi(
  createRoute({
    method: "get",
    path: "/notificationchannel/v1/{userId}/channels",
    summary: "The subscriber's Notification Channels",
    ...guardedChannel,
    request: { params: UserIdParam },
    responses: { 200: json(ChannelListSchema, "Every live channel"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    unwrap(await subscriberStub(c.env, address).subscriptions(token(c)));
    const ids = await c.env.CHANNEL_DIRECTORIES.getByName(address).channels();
    const infos = await Promise.all(ids.map((id) => c.env.CHANNELS.getByName(id).info(address)));
    const live = infos.flatMap((i) => (i ? [channelView(c, i)] : []));
    return c.json({ notificationChannelList: { notificationChannel: live, resourceURL: channelsBase(c, address) } }, 200);
  },
);

channelRoutes.openapi(
  createRoute({
    method: "get",
    path: "/notificationchannel/v1/{userId}/channels/{channelId}",
    summary: "A Notification Channel",
    ...guardedChannel,
    request: { params: ChannelIdParam },
    responses: { 200: json(ChannelSchema, "The channel"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, channelId } = c.req.valid("param");
    return c.json({ notificationChannel: channelView(c, await ownedChannel(c, userIdOf(c, userId), channelId)) }, 200);
  },
);

channelRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/notificationchannel/v1/{userId}/channels/{channelId}",
    summary: "Delete a Notification Channel; nothing more is delivered to it",
    description: "Open WebSockets are closed (1001) and held polls answered. Subscriptions that point at its callbackURL drop what they would deliver to it.",
    ...guardedChannel,
    request: { params: ChannelIdParam },
    responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, channelId } = c.req.valid("param");
    const address = userIdOf(c, userId);
    if (!(await c.env.CHANNELS.getByName(channelId).remove(address))) throw notFound("channelId", channelId);
    await c.env.CHANNEL_DIRECTORIES.getByName(address).removed(channelId);
    return c.body(null, 204);
  },
);

channelRoutes.openapi(
  createRoute({
    method: "put",
    path: "/notificationchannel/v1/{userId}/channels/{channelId}/channelLifetime",
    summary: "Refresh a channel's lifetime",
    description: "The channel lives `channelLifetime` seconds from now (a number, or a string holding one).",
    ...guardedChannel,
    request: { params: ChannelIdParam, ...jsonBody(LifetimeRequestSchema) },
    responses: { 200: json(LifetimeSchema, "The new lifetime, in seconds"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, channelId } = c.req.valid("param");
    const address = userIdOf(c, userId);
    const info = await c.env.CHANNELS.getByName(channelId).refresh(address, c.req.valid("json").channelLifetime * 1000);
    if (!info) throw notFound("channelId", channelId);
    await c.env.CHANNEL_DIRECTORIES.getByName(address).refreshed(channelId, info.expiresAt);
    return c.json({ channelLifetime: channelView(c, info).channelLifetime }, 200);
  },
);

/** The `{userId}` of a channelURL (decoded once, by the router): a tel: URI, as the channel was made for. */
function channelOwner(userId: string): string {
  if (!TEL_URI.test(userId)) throw invalidInput("userId", "a tel:+E164 URI");
  return userId;
}

/**
 * The channelURL itself. It is a capability (an unguessable id in a URL the device got with its
 * token), so the device holds it open without a token, as OMA's long polling does.
 */
async function longPoll(c: Ctx): Promise<Response> {
  const { userId, channelId } = c.req.param() as { userId: string; channelId: string };
  if (!CHANNEL_ID.test(channelId)) throw notFound("channelId", channelId);
  const max = Number(c.req.query("maxNotifications") ?? DEFAULT_MAX_NOTIFICATIONS);
  const timeout = Number(c.req.query("timeout") ?? LONG_POLL_DEFAULT_S);
  if (!Number.isInteger(max) || max < 1 || max > DEFAULT_MAX_NOTIFICATIONS) throw invalidInput("maxNotifications", `an integer from 1 to ${DEFAULT_MAX_NOTIFICATIONS}`);
  if (!Number.isFinite(timeout) || timeout < 0 || timeout > LONG_POLL_MAX_S) throw invalidInput("timeout", `seconds from 0 to ${LONG_POLL_MAX_S}`);
  const stub = c.env.CHANNELS.getByName(channelId);
  const info = await stub.info(channelOwner(userId));
  if (!info || info.channelType !== "LongPolling") throw notFound("channelId", channelId);
  // Answers while this request lives; once the device has hung up the call fails, and the channel
  // keeps what it would have handed over.
  const result = await stub.longPoll(max, timeout * 1000, async () => true);
  if (!result) throw notFound("channelId", channelId);
  if ("refused" in result) throw new ApiError(403, "POL0001", [result.refused]);
  return c.json({ notificationList: result }, 200, { "Cache-Control": "no-store" });
}
channelRoutes.post("/notificationchannel/v1/:userId/channels/:channelId/poll", longPoll);
channelRoutes.get("/notificationchannel/v1/:userId/channels/:channelId/poll", longPoll);

channelRoutes.get("/notificationchannel/v1/:userId/channels/:channelId/ws", async (c) => {
  const { userId, channelId } = c.req.param();
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new ApiError(426, "SVC0002", ["Upgrade", "websocket expected"], { Upgrade: "websocket" });
  if (!CHANNEL_ID.test(channelId)) throw notFound("channelId", channelId);
  const stub = c.env.CHANNELS.getByName(channelId);
  const info = await stub.info(channelOwner(userId));
  if (!info || info.channelType !== "WebSockets") throw notFound("channelId", channelId);
  const res = await stub.fetch(c.req.raw);
  // A refusal comes back with the object's immutable headers; the gateway adds its own (x-correlator).
  return res.status === 101 ? res : new Response(res.body, res);
});

channelRoutes.post("/notificationchannel/v1/:userId/channels/:channelId/callback", () => {
  throw new ApiError(403, "POL0001", ["a channel's callbackURL takes notifications from this gateway's own subscriptions only: use it as a notifyURL"]);
});

channelRoutes.openAPIRegistry.registerPath({
  method: "post",
  path: "/notificationchannel/v1/{userId}/channels/{channelId}/poll",
  summary: "Long polling on a LongPolling channel's channelURL (also GET)",
  description:
    `Held until a notification arrives or \`timeout\` seconds pass (default ${LONG_POLL_DEFAULT_S}, at most ${LONG_POLL_MAX_S}); returns up to the channel's maxNotifications ` +
    `(or \`maxNotifications\`, if fewer) in \`notificationList\`. A poll that times out answers 200 \`{"notificationList":[]}\`. At most ${MAX_POLLS_PER_CHANNEL} polls wait on a channel at once ` +
    "(403 POL0001 beyond). A notification is taken only by a poll whose client is still connected. The URL is the capability: no token.",
  tags: ["Notification Channel"],
  request: {
    params: ChannelIdParam,
    query: z.object({ maxNotifications: z.string().optional(), timeout: z.string().optional() }),
  },
  responses: { 200: json(NotificationListSchema, "What arrived (possibly nothing)"), ...errorResponses(400, 403, 404) },
});
channelRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/notificationchannel/v1/{userId}/channels/{channelId}/ws",
  summary: "A WebSockets channel's channelURL",
  description:
    "Upgrade to a WebSocket; each notification is one JSON text message, the same object a long poll returns in its `notificationList` (`{\"twinningNotification\":{…}}`). " +
    `Send \`ping\` to get \`pong\` (answered without waking the channel). At most ${MAX_SOCKETS_PER_CHANNEL} sockets per channel (403 POL0001 beyond). The URL is the capability: no token.`,
  tags: ["Notification Channel"],
  request: { params: ChannelIdParam },
  responses: { 101: { description: "Switching protocols" }, ...errorResponses(403, 404) },
});
