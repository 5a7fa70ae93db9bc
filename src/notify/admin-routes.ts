// The operator's view of notifications (admin token): what was dropped for a subscriber after its
// retry window, and replaying it. A capability's admin routes live with the capability.
import { createRoute, z } from "@hono/zod-openapi";
import { router } from "../http/app";
import { requireAdmin } from "../http/auth";
import { notFound } from "../http/errors";
import { errorResponses, json, jsonBody } from "../http/schemas";
import { TEL_URI } from "../twinning/schemas";
import { subscriberStub } from "../residency";
import type { Env } from "../env";

export const notifyAdminRoutes = router();

const admin = { middleware: requireAdmin, security: [{ adminToken: [] }], tags: ["Admin"] };

const AddressParam = z.object({
  address: z.string().regex(TEL_URI, "a tel: URI with an E.164 number").openapi({ param: { name: "address", in: "path" }, example: "tel:+15551230001" }),
});

const DroppedSchema = z.object({
  notificationId: z.string(),
  subscriptionId: z.string(),
  attempts: z.number().int(),
  firstAttemptAt: z.string().datetime(),
  droppedAt: z.string().datetime(),
  reason: z.string().openapi({ example: "retry window passed (HTTP 503)" }),
  notification: z.record(z.string(), z.unknown()).openapi({ description: "The body that was being delivered (`{\"twinningNotification\":{…}}`)." }),
});
const DroppedListSchema = z.object({ droppedNotificationList: z.object({ droppedNotification: z.array(DroppedSchema) }) }).openapi("DroppedNotificationList");
const ReplayRequestSchema = z
  .object({ notificationIds: z.array(z.string().min(1).max(64)).min(1).max(500).optional().openapi({ description: "Only these; without it, every dropped notification." }) })
  .strict()
  .openapi("ReplayRequest");
const ReplaySchema = z.object({ replayed: z.number().int().openapi({ description: "How many were queued again." }) }).openapi("ReplayResult");

/** The subscriber's object, if the subscriber is provisioned. */
async function provisioned(env: Env, address: string) {
  const stub = subscriberStub(env, address);
  if (!(await stub.profile())) throw notFound("address", address);
  return stub;
}

notifyAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/subscribers/{address}/notifications/dropped",
    summary: "Notifications dropped for a subscriber (after NOTIFY_RETRY_WINDOW_SECONDS, or because their channel or callback URL was gone)",
    description: "Oldest first; the most recent 500 per subscriber are kept. Deleting a subscription deletes its dropped notifications.",
    ...admin,
    request: { params: AddressParam },
    responses: { 200: json(DroppedListSchema, "The dropped notifications"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const stub = await provisioned(c.env, c.req.valid("param").address);
    const dropped = await stub.droppedNotifications();
    return c.json(
      {
        droppedNotificationList: {
          droppedNotification: dropped.map(({ body, ...d }) => ({
            ...d,
            firstAttemptAt: new Date(d.firstAttemptAt).toISOString(),
            droppedAt: new Date(d.droppedAt).toISOString(),
            notification: JSON.parse(body) as Record<string, unknown>,
          })),
        },
      },
      200,
    );
  },
);

notifyAdminRoutes.openapi(
  createRoute({
    method: "post",
    path: "/admin/v1/subscribers/{address}/notifications/dropped/replay",
    summary: "Replay dropped notifications",
    description:
      "Queues them again, oldest first, behind what is already queued for their subscriptions, with their original notificationId (receivers de-duplicate), " +
      "and delivers them like new ones (retried for a new retry window). Notifications of deleted subscriptions are not replayed.",
    ...admin,
    request: { params: AddressParam, ...jsonBody(ReplayRequestSchema) },
    responses: { 200: json(ReplaySchema, "How many were queued again"), ...errorResponses(400, 401, 404, 415) },
  }),
  async (c) => {
    const stub = await provisioned(c.env, c.req.valid("param").address);
    return c.json({ replayed: await stub.replayDropped(c.req.valid("json").notificationIds) }, 200);
  },
);
