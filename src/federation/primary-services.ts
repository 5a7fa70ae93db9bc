// HLF-IC-006: the primary's network services a twinned secondary may reach directly (the messaging
// and Network Message Store roots of this operator), from PRIMARY_SERVICES, a JSON object of service
// name → https URL in the Worker's variables. They travel to the secondary's operator with the
// activation, and its relationship resource shows them to the device.
import { z } from "@hono/zod-openapi";
import { config } from "../config";
import type { Env } from "../env";

export const PrimaryServicesSchema = z
  .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/), z.string().url().max(2000))
  .openapi("PrimaryServices", {
    description: "Service name → endpoint URL of the primary's network (for example `messaging`, `nms`), from the primary operator's PRIMARY_SERVICES.",
    example: { messaging: "https://api.mno-a.example/messaging/v1", nms: "https://api.mno-a.example/nms/v1" },
  });
export type PrimaryServices = z.infer<typeof PrimaryServicesSchema>;

/** This operator's primary services, as configured (validated by src/config.ts). */
export const primaryServices = (env: Env): PrimaryServices => config(env).PRIMARY_SERVICES;
