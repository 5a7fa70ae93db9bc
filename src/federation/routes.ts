// The operator-to-operator API (HLF-IC-001..007), under /federation/v1. Only registered peer
// operators call it, each with a twinning:federation token this gateway issued to it; every
// state-changing request carries an Idempotency-Key.
import { createRoute, z } from "@hono/zod-openapi";
import { generateActivationCode } from "../codec";
import { router } from "../http/app";
import { ApiError, serviceError } from "../http/errors";
import { errorResponses, json, jsonBody } from "../http/schemas";
import { codeTtlMs, homeMnos } from "../twinning/policy";
import { AddressSchema, MnoSchema } from "../twinning/schemas";
import { idempotent, requirePeer } from "./auth";
import { FEDERATION_ROOT, FEDERATION_SCOPE } from "./client";
import { mnoKey, parseMnoKey } from "./peers";
import { PrimaryServicesSchema, primaryServices } from "./primary-services";

export const federationRoutes = router();
federationRoutes.use(`${FEDERATION_ROOT}/*`, requirePeer, idempotent);

federationRoutes.openAPIRegistry.registerComponent("securitySchemes", "federationToken", {
  type: "oauth2",
  description:
    "A peer operator's gateway: client_credentials at this gateway's token endpoint, authenticated with private_key_jwt " +
    "(RFC 7523; iss = sub = the peer's issuer, which is its client_id here; aud = the token endpoint; at most 300 s; jti once), " +
    "verified against the peer's jwks_uri read when the operator registered it (PUT /admin/v1/peers/{mno}).",
  flows: { clientCredentials: { tokenUrl: "/oauth/token", scopes: { [FEDERATION_SCOPE]: "Act as a registered inter-MNO peer operator (HLF-IC-*)." } } },
});

export const IdempotencyKeyHeader = z.object({
  "idempotency-key": z.string().openapi({
    param: { name: "idempotency-key", in: "header" },
    description:
      "Required on every state-changing request (draft-ietf-httpapi-idempotency-key-header): a retry with the same key gets the first answer " +
      "(with `Idempotent-Replayed: true`) and has no second effect; the same key with another request is 422, while the first is still running 409.",
    example: "3f0c0a9e-6a51-4a5e-9a43-1c1d0f4f8b2e",
  }),
});

export const federation = { security: [{ federationToken: [FEDERATION_SCOPE] }], tags: ["Inter-MNO federation"] };

federationRoutes.openapi(
  createRoute({
    method: "get",
    path: `${FEDERATION_ROOT}/operator`,
    summary: "This operator, as a peer sees it: the MNOs it serves and its primaries' service endpoints (HLF-IC-006)",
    ...federation,
    responses: {
      200: json(z.object({ operator: z.object({ mnos: z.array(MnoSchema), primaryServices: PrimaryServicesSchema }) }), "The operator"),
      ...errorResponses(401, 403),
    },
  }),
  (c) => c.json({ operator: { mnos: homeMnos(c.env), primaryServices: primaryServices(c.env) } }, 200),
);

// ---------------------------------------------------------------- HLF-IC-002/003, TE-006, SD-003

const CODE_ISSUE_ATTEMPTS = 8;

const PeerCodeRequestSchema = z
  .object({
    secondary: AddressSchema.openapi({ description: "The secondary device asking for a code: a subscriber of the calling operator." }),
    /** The primary's MNO the device named (HLF-TE-006): one this gateway serves. */
    primaryMno: MnoSchema,
  })
  .strict()
  .openapi("PeerActivationCodeRequest");

const PeerCodeSchema = z
  .object({
    activationCode: z.object({
      code: z.string().openapi({ example: "042917" }),
      /** The MNO that generated the code (HLF-SD-003): this one. */
      mno: MnoSchema,
      expiresAt: z.string().datetime(),
    }),
  })
  .openapi("PeerActivationCode");

federationRoutes.openapi(
  createRoute({
    method: "post",
    path: `${FEDERATION_ROOT}/activationCodes`,
    summary: "Generate an activation code for a secondary device served by the calling operator (HLF-IC-002/003, TE-006)",
    description:
      "The secondary's operator asks on behalf of its device, which named this operator as the primary's MNO. The code is generated, " +
      "kept and redeemed here, like a local one (one-time, expiring, HLF-TE-005); the secondary's operator accepts at activation only the " +
      "latest code it obtained for that device.",
    ...federation,
    request: { headers: IdempotencyKeyHeader, ...jsonBody(PeerCodeRequestSchema) },
    responses: { 201: json(PeerCodeSchema, "The code, generated here"), ...errorResponses(400, 401, 403, 409, 413, 415, 422) },
  }),
  async (c) => {
    const { secondary, primaryMno } = c.req.valid("json");
    const peer = c.get("peer");
    if (!homeMnos(c.env).some((m) => mnoKey(m) === mnoKey(primaryMno))) {
      throw new ApiError(400, "SVC0003", ["primaryMno", homeMnos(c.env).map(mnoKey).join(",")]);
    }
    // A peer acts only for its own subscribers (issue 14): never for one provisioned here.
    if (await c.env.SUBSCRIBERS.getByName(secondary).profile()) throw new ApiError(403, "POL0001", [`${secondary} is not a subscriber of MNO ${peer.mno}`]);
    const expiresAt = Date.now() + codeTtlMs(c.env);
    const secondaryMno = parseMnoKey(peer.mno)!;
    for (let attempt = 0; attempt < CODE_ISSUE_ATTEMPTS; attempt++) {
      const code = generateActivationCode();
      // The code's record names the secondary's MNO: redeeming it here means the other side is the peer's.
      if (await c.env.ACTIVATION_CODES.getByName(code).issue({ secondary, mno: secondaryMno, expiresAt })) {
        return c.json({ activationCode: { code, mno: primaryMno, expiresAt: new Date(expiresAt).toISOString() } }, 201);
      }
    }
    throw serviceError(503, "no free activation code, retry");
  },
);
