// Operator admin API for inter-MNO peers: PUT/GET/DELETE /admin/v1/peers/{mcc}-{mnc}, GET /admin/v1/peers.
// Registration reads the peer's authorization-server metadata first, so a peer that federation
// could not reach or trust is refused at once rather than at the first device request.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { router } from "../http/app";
import { requireAdmin } from "../http/auth";
import { invalidInput, notFound } from "../http/errors";
import { errorResponses, json, jsonBody } from "../http/schemas";
import { issuerOf } from "../oauth/tokens";
import { homeMnos } from "../twinning/policy";
import { MnoSchema } from "../twinning/schemas";
import { DiscoveryError, discoverPeer, issuerProblem } from "./discovery";
import { callPeer, forgetPeerToken, peerUnavailable, relayedError } from "./client";
import { PeerUnavailableError } from "./peer-http";
import { OperatorSchema } from "./schemas";
import type { PeerRecord } from "./peer-registry-object";
import { forgetPeers, mnoKey, parseMnoKey, registry } from "./peers";

const MnoParam = z.object({
  mno: z
    .string()
    .regex(/^[0-9]{3}-[0-9]{2,3}$/, "MCC-MNC, e.g. 001-02")
    .openapi({ param: { name: "mno", in: "path" }, example: "001-02", description: "The peer operator's MCC-MNC." }),
});

const PeerRegistrationSchema = z
  .object({
    issuer: z.string().max(2000).openapi({
      example: "https://mno-b.example",
      description:
        "The peer gateway's OAuth issuer URL. Its /.well-known/oauth-authorization-server is read now; https only " +
        "(http on loopback when PEER_ALLOW_LOOPBACK=true), never an internal address. The peer's operator registers this gateway's issuer in turn.",
    }),
  })
  .strict()
  .openapi("PeerRegistration");

const PeerSchema = z
  .object({
    mno: MnoSchema,
    issuer: z.string(),
    tokenEndpoint: z.string().openapi({ description: "From the peer's metadata: where this gateway gets its twinning:federation tokens." }),
    jwksUri: z.string().openapi({ description: "From the peer's metadata: the keys its client assertions are verified with." }),
    registeredAt: z.string().datetime(),
    updatedAt: z.string().datetime(),
    resourceURL: z.string().url(),
  })
  .openapi("Peer");

const peerView = (c: Context<AppEnv>, p: PeerRecord) => ({
  mno: parseMnoKey(p.mno)!,
  issuer: p.issuer,
  tokenEndpoint: p.tokenEndpoint,
  jwksUri: p.jwksUri,
  registeredAt: new Date(p.registeredAt).toISOString(),
  updatedAt: new Date(p.updatedAt).toISOString(),
  resourceURL: `${new URL(c.req.url).origin}/admin/v1/peers/${p.mno}`,
});

const admin = { middleware: requireAdmin, security: [{ adminToken: [] }], tags: ["Operator admin"] };

export const peerAdminRoutes = router();

peerAdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/peers/{mno}",
    summary: "Register (or update) an inter-MNO peer operator (HLF-IC-001)",
    description:
      "Reads the peer's RFC 8414 metadata and JWKS; refused with 400 SVC0002 naming `issuer` when they cannot be read or do not " +
      "offer client_credentials with private_key_jwt. From then on the peer's issuer may authenticate at this gateway's token " +
      "endpoint with private_key_jwt (its client_id is its issuer) for scope twinning:federation.",
    ...admin,
    request: { params: MnoParam, ...jsonBody(PeerRegistrationSchema) },
    responses: {
      200: json(z.object({ peer: PeerSchema }), "Updated"),
      201: json(z.object({ peer: PeerSchema }), "Registered"),
      ...errorResponses(400, 401, 413, 415),
    },
  }),
  async (c) => {
    const { mno } = c.req.valid("param");
    const { issuer } = c.req.valid("json");
    if (homeMnos(c.env).some((m) => mnoKey(m) === mno)) throw invalidInput("mno", "is an MNO this gateway serves itself (HOME_MNOS)");
    const problem = issuerProblem(c.env, issuer);
    if (problem) throw invalidInput("issuer", problem);
    const selfIssuer = issuerOf(c.env, c.req.url);
    if (issuer === selfIssuer) throw invalidInput("issuer", "is this gateway's own issuer");
    let meta;
    try {
      meta = await discoverPeer(c.env, issuer);
    } catch (err) {
      if (err instanceof DiscoveryError) throw invalidInput("issuer", err.message);
      throw err;
    }
    const result = await registry(c.env).register({ mno, issuer, ...meta, selfIssuer });
    if (!result.ok) throw invalidInput("issuer", result.reason);
    forgetPeers();
    forgetPeerToken(mno);
    return c.json({ peer: peerView(c, result.peer) }, result.created ? 201 : 200);
  },
);

peerAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/peers",
    summary: "Every registered inter-MNO peer",
    ...admin,
    responses: { 200: json(z.object({ peers: z.array(PeerSchema) }), "The peers, by MNO"), ...errorResponses(401) },
  }),
  async (c) => c.json({ peers: (await registry(c.env).list()).map((p) => peerView(c, p)) }, 200),
);

peerAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/peers/{mno}",
    summary: "One inter-MNO peer",
    ...admin,
    request: { params: MnoParam },
    responses: { 200: json(z.object({ peer: PeerSchema }), "The peer"), ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { mno } = c.req.valid("param");
    const peer = await registry(c.env).get(mno);
    if (!peer) throw notFound("mno", mno);
    return c.json({ peer: peerView(c, peer) }, 200);
  },
);

peerAdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/peers/{mno}",
    summary: "Remove an inter-MNO peer",
    description: "Its tokens stop working at once in this isolate and within seconds everywhere; it can no longer obtain new ones.",
    ...admin,
    request: { params: MnoParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(400, 401, 404) },
  }),
  async (c) => {
    const { mno } = c.req.valid("param");
    if (!(await registry(c.env).remove(mno))) throw notFound("mno", mno);
    forgetPeers();
    forgetPeerToken(mno);
    return c.body(null, 204);
  },
);

peerAdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/peers/{mno}/operator",
    summary: "Ask the peer about itself, through the federation API: proves the trust works both ways",
    description:
      "Obtains a twinning:federation token at the peer (client_credentials, private_key_jwt signed with this gateway's key) and reads " +
      "its GET /federation/v1/operator. 503 SVC0001 naming the peer MNO when the peer cannot be reached or refuses this gateway.",
    ...admin,
    request: { params: MnoParam },
    responses: {
      200: json(OperatorSchema, "What the peer answered"),
      ...errorResponses(400, 401, 404, 503),
    },
  }),
  async (c) => {
    const { mno } = c.req.valid("param");
    if (!(await registry(c.env).get(mno))) throw notFound("mno", mno);
    let res;
    try {
      res = await callPeer(c.env, mno, { method: "GET", path: "/operator", correlator: c.get("correlator") });
    } catch (err) {
      if (err instanceof PeerUnavailableError) throw peerUnavailable(mno, err);
      throw err;
    }
    if (res.status !== 200) throw relayedError(mno, res);
    const parsed = OperatorSchema.safeParse(res.body);
    if (!parsed.success) throw peerUnavailable(mno, new Error("GET /federation/v1/operator answered an unexpected document"));
    return c.json(parsed.data, 200);
  },
);
