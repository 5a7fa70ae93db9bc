// Schemas of the Twinning API: one definition validates requests, types the handlers and
// documents the API in /openapi.json.
import { z } from "@hono/zod-openapi";
import { MnoSchema, TEL_URI, type Mno } from "../http/schemas";

export { MnoSchema, TEL_URI, type Mno };

export const AddressSchema = z.string().regex(TEL_URI, "a tel: URI with an E.164 number").openapi({ example: "tel:+15551230001" });

export const TwinNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\p{L}\p{N}][\p{L}\p{N} ._'-]*$/u, "letters, digits, space, '.', '_', ''' and '-', starting with a letter or digit")
  .openapi({ example: "my-watch", description: "User-chosen unique name of the twin (HLF-TE-007). Also usable as twinId." });

export const StatusSchema = z.enum(["On", "Off"]).openapi("TwinningStatus");
export type TwinningStatus = z.infer<typeof StatusSchema>;
export const ActorSchema = z.enum(["primary", "secondary"]).openapi("TwinningActor");

export const UserIdParam = z.object({
  userId: z.string().openapi({
    param: { name: "userId", in: "path" },
    description: "The subscriber: `tel:+E164` (URL-encoded) or `acr:Authorization` for the access token's subscriber.",
    example: "acr:Authorization",
  }),
});
export const TwinIdParam = UserIdParam.extend({
  twinId: z.string().openapi({
    param: { name: "twinId", in: "path" },
    description: "The secondary device's address (`tel:+E164`, URL-encoded) or the twin's name.",
    example: "my-watch",
  }),
});

export const ActivationCodeRequestSchema = z
  .object({ primaryMno: MnoSchema.optional().openapi({ description: "MNO of the primary device, when the user named it (HLF-SD-002)." }) })
  .strict()
  .openapi("ActivationCodeRequest");

export const ActivationCodeResponseSchema = z
  .object({
    activationCode: z.object({
      code: z.string().regex(/^[0-9]{6}$/).openapi({ example: "042917" }),
      mno: MnoSchema.openapi({ description: "The MNO that generated the code (HLF-SD-003)." }),
      expiresAt: z.string().datetime(),
      resourceURL: z.string().url(),
      deviceCode: z.string().openapi({ description: "RFC 8628 device_code: poll /oauth/token with it for the twinning token (use case step 8)." }),
      interval: z.number().int().openapi({ description: "Minimum seconds between polls." }),
    }),
  })
  .openapi("ActivationCodeResponse");

export const TwinActivationRequestSchema = z
  .object({
    activationCode: z.string().regex(/^[0-9]{6}$/, "six digits").openapi({ example: "042917" }),
    name: TwinNameSchema.optional(),
    activationCodeMno: MnoSchema.optional().openapi({
      description:
        "The MNO that generated the code, as the secondary device showed it (HLF-SD-003). When it is an inter-MNO peer's, the code is redeemed there (HLF-IC-004); omitted or this gateway's own, it is redeemed here.",
    }),
  })
  .strict()
  .openapi("TwinActivationRequest");

export const StatusUpdateSchema = z.object({ status: StatusSchema }).strict().openapi("StatusUpdate");

export const TwinSchema = z
  .object({
    secondary: AddressSchema,
    name: z.string(),
    status: StatusSchema,
    secondaryMno: MnoSchema,
    activatedAt: z.string().datetime(),
    statusChangedAt: z.string().datetime(),
    statusChangedBy: ActorSchema,
    resourceURL: z.string().url(),
  })
  .openapi("Twin");
export const TwinResponseSchema = z.object({ twin: TwinSchema }).openapi("TwinResponse");
export const TwinListSchema = z
  .object({ twinList: z.object({ twin: z.array(TwinSchema), resourceURL: z.string().url() }) })
  .openapi("TwinList");

export const RelationshipSchema = z
  .object({
    primary: AddressSchema,
    name: z.string(),
    status: StatusSchema,
    primaryMno: MnoSchema,
    activatedAt: z.string().datetime(),
    statusChangedAt: z.string().datetime(),
    statusChangedBy: ActorSchema,
    primaryServices: z.record(z.string(), z.string().url()).optional().openapi({
      description: "HLF-IC-006: the primary's network service endpoints (e.g. messaging, Network Message Store), from its operator's PRIMARY_SERVICES; absent when none are configured.",
      example: { messaging: "https://api.mno-a.example/messaging/v1" },
    }),
    resourceURL: z.string().url(),
  })
  .openapi("Relationship");
export const RelationshipResponseSchema = z.object({ relationship: RelationshipSchema }).openapi("RelationshipResponse");
