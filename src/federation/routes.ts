// The operator-to-operator API (HLF-IC-001..007), under /federation/v1. Only registered peer
// operators call it, each with a twinning:federation token this gateway issued to it; every
// state-changing request carries an Idempotency-Key.
import { createRoute } from "@hono/zod-openapi";
import { router } from "../http/app";
import { errorResponses, json } from "../http/schemas";
import { homeMnos } from "../twinning/policy";
import { federation } from "./api";
import { idempotent, requirePeer } from "./auth";
import { primarySideRoutes } from "./primary-side-routes";
import { secondarySideRoutes } from "./secondary-side-routes";
import { FEDERATION_ROOT, FEDERATION_SCOPE } from "./client";
import { primaryServices } from "./primary-services";
import { OperatorSchema } from "./schemas";

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

federationRoutes.openapi(
  createRoute({
    method: "get",
    path: `${FEDERATION_ROOT}/operator`,
    summary: "This operator, as a peer sees it: the MNOs it serves and its primaries' service endpoints (HLF-IC-006)",
    ...federation,
    responses: {
      200: json(OperatorSchema, "The operator"),
      ...errorResponses(401, 403, 429),
    },
  }),
  (c) => c.json({ operator: { mnos: homeMnos(c.env), primaryServices: primaryServices(c.env) } }, 200),
);

federationRoutes.route("/", primarySideRoutes);
federationRoutes.route("/", secondarySideRoutes);
