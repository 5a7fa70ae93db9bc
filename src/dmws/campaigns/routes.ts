// The campaign API (/dmws/v1/campaigns): one operation over a set of devices in waves, with a rate,
// thresholds, a deadline, start/pause/resume/cancel, counts per state, per-device results, and
// signed webhooks for progress and the final result.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { router } from "../../http/app";
import { config } from "../../config";
import { invalidInput, unwrap } from "../../http/errors";
import { errorResponses, json } from "../../http/schemas";
import { callbackUrlProblem } from "../../notify/callback-url";
import type { JobCommandSpec } from "../../dm/job-model";
import type { FumoSpec } from "../operation-kinds";
import type { CampaignOperation } from "./dispatch";
import { callerOf, ownerOf, requireCampaignCaller, resolveTarget } from "./access";
import type { CampaignAction, CampaignDevice, CampaignView } from "./campaign-object";
import { CampaignDeviceSchema, CampaignIdParam, MAX_CAMPAIGN_DEVICES, CampaignRequestSchema, CampaignSchema, DevicesQuery, ListQuery } from "./schemas";

type Ctx = Context<AppEnv>;
export const campaignRoutes = router();
export const CAMPAIGNS_PATH = "/dmws/v1/campaigns";
const DEFAULT_DEADLINE_SECONDS = 7 * 24 * 3600;
const DEFAULT_MAX_PER_MINUTE = 1000;

const guarded = {
  middleware: requireCampaignCaller,
  security: [{ bearerAuth: ["dm:manage"] }, { adminToken: [] as string[] }] as Record<string, string[]>[],
  tags: ["DM web services: campaigns"],
};
const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());

function campaignView(c: Ctx, v: CampaignView) {
  return {
    ...v,
    deadline: iso(v.deadline)!,
    createdAt: iso(v.createdAt)!,
    ...(v.startedAt !== undefined ? { startedAt: iso(v.startedAt) } : {}),
    ...(v.finishedAt !== undefined ? { finishedAt: iso(v.finishedAt) } : {}),
    resourceURL: `${new URL(c.req.url).origin}${CAMPAIGNS_PATH}/${v.campaignId}`,
  } as z.infer<typeof CampaignSchema>;
}

const deviceView = (d: CampaignDevice) => ({
  ...d,
  ...(d.startedAt !== undefined ? { startedAt: iso(d.startedAt) } : {}),
  ...(d.finishedAt !== undefined ? { finishedAt: iso(d.finishedAt) } : {}),
}) as z.infer<typeof CampaignDeviceSchema>;

campaignRoutes.openapi(
  createRoute({
    method: "post",
    path: CAMPAIGNS_PATH,
    summary: "Create a campaign: one operation over a set of devices, in waves",
    description:
      "Each device gets the operation as a job (through the protocol-neutral job model, so DM 1.2 and DM 2.0 devices alike) and a notification asking it to connect; " +
      "a device that is offline finds both when it next connects, until the deadline. Waves start one after the other: the next wave when `successThreshold` percent " +
      "of the current one succeeded; at most `maxPerMinute` devices start per minute. When failed or timed-out devices reach `errorThreshold.percent` of a wave the " +
      "campaign pauses or stops. Progress and the final result are POSTed to `callbackReference.notifyURL`, signed like every notification of this gateway.",
    ...guarded,
    request: { body: { required: true, content: { "application/json": { schema: CampaignRequestSchema } } } },
    responses: {
      201: json(z.object({ campaign: CampaignSchema, signingSecret: z.string().optional().openapi({ description: "The webhook signing secret, returned this once." }) }), "Created"),
      ...errorResponses(400, 401, 403, 413, 415),
    },
  }),
  async (c) => {
    const req = c.req.valid("json");
    const caller = callerOf(c);
    if (req.callbackReference) {
      const problem = callbackUrlProblem(req.callbackReference.notifyURL, { allowLoopback: config(c.env).CALLBACK_ALLOW_LOOPBACK });
      if (problem) throw invalidInput("callbackReference.notifyURL", problem);
    }
    const operation: CampaignOperation = "kind" in req.operation
      ? (req.operation as FumoSpec)
      : { commands: req.operation.commands as JobCommandSpec[], ...(req.operation.maxAttempts !== undefined ? { maxAttempts: req.operation.maxAttempts } : {}) };
    const devices = await resolveTarget(c, caller, req.target, operation);
    if (devices.length === 0) throw invalidInput("target", "a target with at least one device");
    if (devices.length > MAX_CAMPAIGN_DEVICES) throw invalidInput("target", `at most ${MAX_CAMPAIGN_DEVICES} devices`);
    const campaignId = crypto.randomUUID();
    const now = Date.now();
    const created = unwrap(await c.env.CAMPAIGNS.getByName(campaignId).create({
      campaignId,
      owner: ownerOf(caller),
      ...(req.name !== undefined ? { name: req.name } : {}),
      devices,
      operation,
      uiMode: req.uiMode ?? "background",
      waves: req.waves ?? { count: 1 },
      maxPerMinute: req.maxPerMinute ?? DEFAULT_MAX_PER_MINUTE,
      successThreshold: req.successThreshold ?? 100,
      ...(req.errorThreshold ? { errorThreshold: req.errorThreshold } : {}),
      deadline: now + (req.deadlineSeconds ?? DEFAULT_DEADLINE_SECONDS) * 1000,
      ...(req.callbackReference ? { callback: req.callbackReference } : {}),
      start: req.start ?? false,
    }));
    await c.env.CAMPAIGN_DIRECTORY.getByName("campaigns").register({ campaignId, owner: ownerOf(caller), ...(req.name !== undefined ? { name: req.name } : {}), createdAt: now });
    const view = campaignView(c, created.campaign);
    return c.json({ campaign: view, ...(created.signingSecret ? { signingSecret: created.signingSecret } : {}) }, 201, { Location: view.resourceURL });
  },
);

campaignRoutes.openapi(
  createRoute({
    method: "get",
    path: CAMPAIGNS_PATH,
    summary: "Campaigns, newest first: a provider's own, every campaign for the operator",
    ...guarded,
    request: { query: ListQuery },
    responses: {
      200: json(z.object({ campaignList: z.array(z.object({ campaignId: z.string().uuid(), name: z.string().optional(), owner: z.string(), createdAt: z.string().datetime(), resourceURL: z.string().url() })), next: z.number().int().optional() }), "Campaigns"),
      ...errorResponses(400, 401, 403),
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const caller = callerOf(c);
    const page = await c.env.CAMPAIGN_DIRECTORY.getByName("campaigns").list({ ...(caller.operator ? {} : { owner: caller.clientId }), ...(q.before !== undefined ? { before: q.before } : {}), limit: q.limit ?? 50 });
    const origin = new URL(c.req.url).origin;
    return c.json({
      campaignList: page.campaigns.map((e) => ({ ...e, createdAt: iso(e.createdAt)!, resourceURL: `${origin}${CAMPAIGNS_PATH}/${e.campaignId}` })),
      ...(page.next !== undefined ? { next: page.next } : {}),
    }, 200);
  },
);

campaignRoutes.openapi(
  createRoute({
    method: "get",
    path: `${CAMPAIGNS_PATH}/{campaignId}`,
    summary: "A campaign: its state, current wave and the devices per state (whole and per wave)",
    ...guarded,
    request: { params: CampaignIdParam },
    responses: { 200: json(z.object({ campaign: CampaignSchema }), "The campaign"), ...errorResponses(401, 403, 404) },
  }),
  async (c) => {
    const { campaignId } = c.req.valid("param");
    return c.json({ campaign: campaignView(c, unwrap(await c.env.CAMPAIGNS.getByName(campaignId).get(callerOf(c)))) }, 200);
  },
);

campaignRoutes.openapi(
  createRoute({
    method: "get",
    path: `${CAMPAIGNS_PATH}/{campaignId}/devices`,
    summary: "The campaign's devices with their results, in campaign order (paged)",
    ...guarded,
    request: { params: CampaignIdParam, query: DevicesQuery },
    responses: { 200: json(z.object({ deviceList: z.array(CampaignDeviceSchema), next: z.number().int().optional() }), "Devices"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { campaignId } = c.req.valid("param");
    const q = c.req.valid("query");
    const page = unwrap(await c.env.CAMPAIGNS.getByName(campaignId).devices(callerOf(c), { ...(q.state ? { state: q.state } : {}), after: q.after ?? 0, limit: q.limit ?? 100 }));
    return c.json({ deviceList: page.devices.map(deviceView), ...(page.next !== undefined ? { next: page.next } : {}) }, 200);
  },
);

const ACTIONS: { action: CampaignAction; summary: string }[] = [
  { action: "start", summary: "Start a draft campaign: its first wave begins" },
  { action: "pause", summary: "Pause: no more devices start (jobs already on devices go on and are counted)" },
  { action: "resume", summary: "Resume a paused campaign (past the threshold that paused it, if one did)" },
  { action: "cancel", summary: "Cancel: devices not started are cancelled, jobs on devices are cancelled" },
];
for (const { action, summary } of ACTIONS) {
  campaignRoutes.openapi(
    createRoute({
      method: "post",
      path: `${CAMPAIGNS_PATH}/{campaignId}/${action}`,
      summary,
      description: "Repeating the action on a campaign already in its state changes nothing; an action its state does not allow is 409.",
      ...guarded,
      request: { params: CampaignIdParam },
      responses: { 200: json(z.object({ campaign: CampaignSchema }), "The campaign after the action"), ...errorResponses(401, 403, 404, 409) },
    }),
    async (c) => {
      const { campaignId } = c.req.valid("param");
      return c.json({ campaign: campaignView(c, unwrap(await c.env.CAMPAIGNS.getByName(campaignId).control(callerOf(c), action))) }, 200);
    },
  );
}
