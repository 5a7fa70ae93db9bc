// The request and answer schemas of the provider's operations (OpenAPI, validation and types in one).
import { z } from "@hono/zod-openapi";
import { CommandSchema } from "../dm/routes";
import { DevId, GroupName, Subscriber } from "./schemas";

const Uri = z.string().min(1).max(1024).regex(/^[^\s]+$/, "a management tree URI");
const PkgId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "a node name (letters, digits, '.', '_', '-')");
const HttpUrl = z.string().url().max(2048).regex(/^https?:\/\//, "an http(s) URL").openapi({ example: "https://fw.example.com/acme/2.0.bin" });
const resultTimeout = z.coerce.number().int().min(1).max(30 * 24 * 3600).optional()
  .openapi({ description: "Seconds to wait for the device's asynchronous result alert before the device's result is `timeout` (default 86400)." });

export const FumoSpecSchema = z
  .object({
    kind: z.literal("fumo"),
    action: z.enum(["Download", "Update", "DownloadAndUpdate"]).openapi({ description: "Download: fetch the package; Update: install one downloaded before; DownloadAndUpdate: both." }),
    pkgURL: HttpUrl.optional().openapi({ description: "Required for Download and DownloadAndUpdate (written to <node>/<action>/PkgURL)." }),
    pkgName: z.string().max(256).optional(),
    pkgVersion: z.string().max(128).optional(),
    node: Uri.optional().openapi({ description: "The FUMO node of the device (default ./FUMO).", example: "./FUMO" }),
    resultTimeoutSeconds: resultTimeout,
  })
  .strict()
  .refine((s) => s.action === "Update" || s.pkgURL !== undefined, { message: "pkgURL is required for Download and DownloadAndUpdate", path: ["pkgURL"] })
  .openapi("DmwsFumo");
export const ScomoSpecSchema = z
  .union([
    z.object({ kind: z.literal("scomo"), action: z.literal("install"), pkgId: PkgId, pkgURL: HttpUrl, name: z.string().max(256).optional(), version: z.string().max(128).optional(), activate: z.boolean().optional(), resultTimeoutSeconds: resultTimeout }).strict(),
    z.object({ kind: z.literal("scomo"), action: z.enum(["remove", "activate", "deactivate"]), componentId: PkgId, resultTimeoutSeconds: resultTimeout }).strict(),
    z.object({ kind: z.literal("scomo"), action: z.literal("inventory") }).strict(),
  ])
  .openapi("DmwsScomo");
export const DiagmonSpecSchema = z
  .object({
    kind: z.literal("diagmon"),
    values: z.array(Uri).min(1).max(64).openapi({ example: ["./DevDetail/FwV", "./Vendor/Diag/SignalStrength"] }),
    schedule: z.object({ intervalSeconds: z.coerce.number().int().min(60).max(30 * 24 * 3600), count: z.coerce.number().int().min(1).max(1000) }).strict().optional()
      .openapi({ description: "Collect `count` rounds, one every `intervalSeconds` (the first now). Without it, once." }),
  })
  .strict()
  .openapi("DmwsDiagmon");
export const ProvisioningSpecSchema = z
  .object({ kind: z.literal("provisioning"), configurationSet: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/) })
  .strict()
  .openapi("DmwsProvisioning", { description: "Pushes one of the provider's configuration sets (PUT /dmws/v1/configuration-sets/{name})." });

export const OperationSpecSchema = z.union([FumoSpecSchema, ScomoSpecSchema, DiagmonSpecSchema, ProvisioningSpecSchema]).openapi("DmwsOperationSpec");

export const OperationRequestSchema = z
  .object({
    operation: OperationSpecSchema,
    devices: z.array(DevId).min(1).max(1000).optional(),
    group: GroupName.optional(),
    subscriber: Subscriber.optional().openapi({ description: "Every device of this subscriber (the inventory's subscriber attribute)." }),
    deadlineSeconds: z.coerce.number().int().min(1).max(90 * 24 * 3600).optional().openapi({ description: "A device job not finished by then fails (default 7 days)." }),
  })
  .strict()
  .refine((r) => [r.devices, r.group, r.subscriber].filter((t) => t !== undefined).length === 1, { message: "exactly one of devices, group, subscriber", path: ["devices"] })
  .openapi("DmwsOperationRequest");

export const DeviceResultSchema = z
  .object({
    devId: z.string(),
    round: z.number().int().optional().openapi({ description: "DiagMon collection round (1 for everything else)." }),
    jobId: z.string().optional(),
    state: z.enum(["pending", "running", "succeeded", "failed", "timeout", "cancelled"]),
    resultCode: z.string().optional(),
    resultName: z.string().optional(),
    fumoState: z.object({ value: z.string(), name: z.string() }).optional(),
    values: z.record(z.string(), z.string()).optional(),
    detail: z.string().optional(),
    updatedAt: z.string().optional(),
  })
  .openapi("DmwsDeviceResult");

export const CountsSchema = z.object({ pending: z.number().int(), running: z.number().int(), succeeded: z.number().int(), failed: z.number().int(), timeout: z.number().int(), cancelled: z.number().int() });

export const OperationSchema = z
  .object({
    operationId: z.string().uuid(),
    spec: z.record(z.string(), z.unknown()),
    target: z.record(z.string(), z.unknown()),
    createdAt: z.string().datetime(),
    deviceCount: z.number().int(),
    rounds: z.number().int(),
    trigger: z.string(),
    counts: CountsSchema.optional().openapi({ description: "Devices per result state, as the devices reported them (they follow the per-device results within moments); a device still running past its result deadline counts as timeout." }),
    finished: z.boolean().optional().openapi({ description: "Every device has a final result (succeeded, failed, timeout, cancelled)." }),
    resourceURL: z.string().url(),
  })
  .openapi("DmwsOperation");

export const ConfigurationSetSchema = z.object({ commands: z.array(CommandSchema).min(1).max(100) }).strict().openapi("DmwsConfigurationSet");

export const ProvisioningEventSchema = z
  .object({
    eventId: z.string().min(1).max(128).openapi({ description: "Unique per event: a redelivery with the same id starts nothing new." }),
    event: z.literal("service.subscribed"),
    provider: z.string().min(1).max(256).openapi({ description: "The service provider's client_id." }),
    subscriber: Subscriber,
    configurationSet: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  })
  .strict()
  .openapi("DmwsProvisioningEvent");
