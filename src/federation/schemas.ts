// Schemas of the operator-to-operator API: one definition validates what a peer sends, types the
// handlers and the client, and documents the contract in /openapi.json.
import { z } from "@hono/zod-openapi";
import { ActorSchema, AddressSchema, MnoSchema, StatusSchema, TwinNameSchema } from "../twinning/schemas";
import { PrimaryServicesSchema } from "./primary-services";

export const OperatorSchema = z
  .object({ operator: z.object({ mnos: z.array(MnoSchema), primaryServices: PrimaryServicesSchema }) })
  .openapi("PeerOperator", { description: "An operator as its peers see it: the MNOs it serves and its primaries' service endpoints (HLF-IC-006)." });

export const RelationshipIdParam = z.object({
  relationshipId: z.string().uuid().openapi({
    param: { name: "relationshipId", in: "path" },
    description: "The relationship's id, chosen by the primary's operator when its primary redeems the code; the same at both operators.",
    example: "0b9c3c1e-5d7a-4d4e-9a55-8d8f5c1b2a10",
  }),
});

export const PeerCodeRequestSchema = z
  .object({
    secondary: AddressSchema.openapi({ description: "The secondary device asking for a code: a subscriber of the calling operator." }),
    primaryMno: MnoSchema,
  })
  .strict()
  .openapi("PeerActivationCodeRequest", { description: "`primaryMno`: the primary's MNO the device named (HLF-TE-006), one this gateway serves." });

export const PeerCodeSchema = z
  .object({ activationCode: z.object({ code: z.string().openapi({ example: "042917" }), mno: MnoSchema, expiresAt: z.string().datetime() }) })
  .openapi("PeerActivationCode", { description: "`mno`: the MNO that generated the code (HLF-SD-003), the answering one." });

export const ActivationCodeValue = z.string().regex(/^[0-9]{6}$/, "six digits");

export const PeerActivationSchema = z
  .object({
    primary: AddressSchema.openapi({ description: "The primary device's identifier (HLF-IC-004: exposed so the secondary's operator can provision its network)." }),
    activationCode: ActivationCodeValue,
    name: TwinNameSchema,
    activatedAt: z.string().datetime(),
    secondary: AddressSchema.optional().openapi({
      description: "Present when the primary's operator generated the code (it knows the secondary); absent when this operator did, which then redeems it.",
    }),
  })
  .strict()
  .openapi("PeerActivation", { description: "Prepare step of an activation across networks: the secondary's side claims the relationship, pending the primary's commit." });

export const PeerActivationAnswerSchema = z
  .object({ activation: z.object({ relationshipId: z.string().uuid(), secondary: AddressSchema, state: z.literal("pending") }) })
  .openapi("PeerActivationAnswer");

export const PeerSecondaryRefSchema = z.object({ secondary: AddressSchema }).strict().openapi("PeerSecondaryRef");

export const PeerStatusChangeSchema = z
  .object({ secondary: AddressSchema, status: StatusSchema, version: z.number().int().min(1), changedAt: z.string().datetime(), by: ActorSchema })
  .strict()
  .openapi("PeerStatusChange", { description: "A status decided by the primary's operator; the secondary's side applies only newer versions." });

export const PeerEndSchema = z.object({ secondary: AddressSchema, by: ActorSchema }).strict().openapi("PeerRelationshipEnd");

export const PeerPrimaryRefSchema = z.object({ primary: AddressSchema }).strict().openapi("PeerPrimaryRef");

export const PeerResolutionSchema = z
  .object({ activation: z.object({ relationshipId: z.string().uuid(), state: z.enum(["committed", "aborted"]) }) })
  .openapi("PeerActivationResolution");

export const PeerToggleSchema = z.object({ primary: AddressSchema, secondary: AddressSchema, status: StatusSchema }).strict().openapi("PeerToggle");

export const PeerLeaveSchema = z.object({ primary: AddressSchema, secondary: AddressSchema }).strict().openapi("PeerLeave");

export const PeerDelegationRequestSchema = z
  .object({ primary: AddressSchema, secondary: AddressSchema })
  .strict()
  .openapi("PeerDelegationRequest");

export const PeerDelegatedTokenSchema = z
  .object({
    access_token: z.string(),
    issued_token_type: z.literal("urn:ietf:params:oauth:token-type:access_token"),
    token_type: z.literal("Bearer"),
    expires_in: z.number(),
    scope: z.literal("twinning:delegated"),
  })
  .openapi("PeerDelegatedToken", { description: "An RFC 8693 token response: a token of this operator, sub = the primary, act.sub = the secondary, bound to the relationship (it dies with it)." });
