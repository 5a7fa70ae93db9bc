// Request and answer schemas of the campaign API (validation, types and OpenAPI in one).
import { z } from "@hono/zod-openapi";
import { CommandSchema } from "../../dm/routes";
import { FumoSpecSchema } from "../operation-schemas";
import { COUNTED_STATES } from "./plan";

const DEV_ID = /^[\x21-\x7e]{1,128}$/;
export const MAX_CAMPAIGN_DEVICES = 10_000;

export const CampaignRequestSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    target: z
      .union([
        z.object({ devices: z.array(z.string().regex(DEV_ID, "a device id (the LocURI the device sends)")).min(1).max(MAX_CAMPAIGN_DEVICES).openapi({ example: ["IMEI:493005100592800", "IMEI:493005100592801"] }) }).strict(),
        z.object({ group: z.string().min(1).max(128).openapi({ example: "fleet-eu" }) }).strict(),
      ])
      .openapi({ description: "The devices (in campaign order: waves are cut in this order), or a device group of the operator's (its devices in devId order). Membership is fixed when the campaign is created. A provider's grants must cover every device for every command of the operation." }),
    operation: z
      .union([
        z
          .object({
            commands: z.array(CommandSchema).min(1).max(100),
            maxAttempts: z.number().int().min(1).max(20).optional().openapi({ description: "Sessions that may carry a device's job before it fails for want of a status (default 3)." }),
          })
          .strict()
          .openapi({ description: "A job of commands (as the operator's jobs API takes them); a device's result is the job's: succeeded when every command did." }),
        FumoSpecSchema,
      ])
      .openapi({
        description:
          "What every device gets: a job of commands, or a firmware update (`kind: fumo`, as in POST /dmws/v1/operations). A FUMO device's result is its generic alert 1226 " +
          "(usually in a later session, after the Exec was accepted with 202): succeeded for 200 and 250-299, failed for 400-599; `timedOut` when no alert came within " +
          "`resultTimeoutSeconds` of the device's start (default: the campaign's deadline).",
      }),
    waves: z
      .union([z.object({ size: z.number().int().min(1).max(MAX_CAMPAIGN_DEVICES) }).strict(), z.object({ count: z.number().int().min(1).max(1000) }).strict()])
      .optional()
      .openapi({ description: "Wave size, or number of waves (as even as they come). Default: one wave." }),
    maxPerMinute: z.number().int().min(1).max(100_000).optional().openapi({ description: "Devices started per minute at most (default 1000)." }),
    successThreshold: z.number().min(0).max(100).optional().openapi({ description: "Percent of a wave that must succeed before the next wave starts (default 100). A wave that ends below it pauses the campaign." }),
    errorThreshold: z
      .object({ percent: z.number().min(0).max(100), action: z.enum(["pause", "stop"]) })
      .strict()
      .optional()
      .openapi({ description: "When failed or timed-out devices reach this percent of a wave: pause (resume continues past it) or stop (the devices not started are cancelled, running jobs cancelled)." }),
    deadlineSeconds: z.number().int().min(60).max(90 * 24 * 3600).optional().openapi({ description: "Seconds from creation: devices that have no result by then are timedOut, and the campaign completes (default 7 days)." }),
    uiMode: z.enum(["not-specified", "background", "informative", "user-interaction"]).optional().openapi({ description: "The notification's UI mode (default background)." }),
    callbackReference: z
      .object({ notifyURL: z.string().max(2000).openapi({ example: "https://provider.example/hooks/campaigns" }), callbackData: z.string().max(1024).optional() })
      .strict()
      .optional()
      .openapi({ description: "Where progress and the final result are POSTed, signed (x-notification-signature) with the signingSecret the creation answer returns once." }),
    start: z.boolean().optional().openapi({ description: "Start at once (default false: the campaign waits in state draft for POST .../start)." }),
  })
  .strict()
  .openapi("CampaignRequest");

const CountsSchema = z.object(Object.fromEntries([...COUNTED_STATES, "total"].map((s) => [s, z.number().int()])) as Record<(typeof COUNTED_STATES)[number] | "total", z.ZodNumber>);

export const CampaignSchema = z
  .object({
    campaignId: z.string().uuid(),
    name: z.string().optional(),
    owner: z.string().openapi({ description: "The client id of the service provider that created it, or `operator`." }),
    state: z.enum(["draft", "running", "paused", "completed", "stopped", "cancelled"]),
    reason: z.string().optional().openapi({ description: "Why it paused, stopped, was cancelled or ended." }),
    pausedBy: z.enum(["request", "errorThreshold", "successThreshold"]).optional(),
    operation: z.union([z.object({ commands: z.array(z.any()), maxAttempts: z.number().int().optional() }), FumoSpecSchema]),
    uiMode: z.string(),
    waves: z.union([z.object({ size: z.number().int() }), z.object({ count: z.number().int() })]),
    waveCount: z.number().int(),
    currentWave: z.number().int().openapi({ description: "The latest wave started (1-based); 0 before the start." }),
    maxPerMinute: z.number().int(),
    successThreshold: z.number(),
    errorThreshold: z.object({ percent: z.number(), action: z.enum(["pause", "stop"]) }).optional(),
    deadline: z.string().datetime(),
    createdAt: z.string().datetime(),
    startedAt: z.string().datetime().optional(),
    finishedAt: z.string().datetime().optional(),
    counts: CountsSchema.openapi({ description: "Devices per state: pending (not started), inProgress (job on the device), succeeded, failed, timedOut, cancelled." }),
    waveCounts: z.array(CountsSchema.extend({ wave: z.number().int() })),
    resourceURL: z.string().url(),
  })
  .openapi("Campaign");

export const CampaignIdParam = z.object({ campaignId: z.string().uuid().openapi({ param: { name: "campaignId", in: "path" }, example: "7d7b6a90-4a0b-4c3e-9d63-2f0f1f6f5a11" }) });

export const CampaignDeviceSchema = z
  .object({
    devId: z.string(),
    wave: z.number().int(),
    state: z.enum(COUNTED_STATES),
    jobId: z.string().uuid().optional(),
    startedAt: z.string().datetime().optional(),
    finishedAt: z.string().datetime().optional(),
    reason: z.string().optional(),
    statuses: z.array(z.string().nullable()).optional().openapi({ description: "The device's status code per command of the operation." }),
    resultCode: z.string().optional().openapi({ description: "FUMO: the result code of the device's alert 1226 (200, 250-299 success; 400-599 failure, named in `reason`)." }),
  })
  .openapi("CampaignDevice");

export const DevicesQuery = z.object({
  state: z.enum(COUNTED_STATES).optional(),
  after: z.coerce.number().int().min(0).optional().openapi({ description: "The `next` cursor of the previous page." }),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const ListQuery = z.object({
  before: z.coerce.number().int().min(1).optional().openapi({ description: "The `next` cursor of the previous page." }),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});
