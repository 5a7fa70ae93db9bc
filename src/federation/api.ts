// What every route of the operator-to-operator API shares in its OpenAPI description.
import { z } from "@hono/zod-openapi";
import { FEDERATION_SCOPE } from "./client";

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
