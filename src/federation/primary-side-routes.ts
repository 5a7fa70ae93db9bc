// The operator-to-operator API at the primary's operator: what the secondary's operator asks of
// it. The primary's object is the commit point of every relationship (its twin rows), across
// networks as inside one; these routes translate the peer's requests into its protocol.
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { generateActivationCode } from "../codec";
import { router } from "../http/app";
import { ApiError, notFound, serviceError } from "../http/errors";
import { errorResponses, json, jsonBody } from "../http/schemas";
import { issueAccessToken, issuerOf } from "../oauth/tokens";
import { codeTtlMs, homeMnos } from "../twinning/policy";
import { federation, IdempotencyKeyHeader } from "./api";
import { FEDERATION_ROOT } from "./client";
import { mnoKey, parseMnoKey } from "./peers";
import { assertPeersRelationship } from "./party-check";
import { targetOf } from "../twinning/outbox";
import { issueCode } from "../twinning/activation-code-index";
import {
  PeerCodeRequestSchema,
  PeerCodeSchema,
  PeerPrimaryRefSchema,
  PeerResolutionSchema,
  PeerStatusChangeSchema,
  PeerToggleSchema,
  PeerLeaveSchema,
  PeerDelegationRequestSchema,
  PeerDelegatedTokenSchema,
  RelationshipIdParam,
} from "./schemas";
import { subscriberStub } from "../residency";

export const primarySideRoutes = router();

/** A peer acts only for its own subscribers (issue 14): never for one provisioned here. */
async function refuseLocalSecondary(c: Context<AppEnv>, secondary: string): Promise<void> {
  if (await subscriberStub(c.env, secondary).profile()) throw new ApiError(403, "POL0001", [`${secondary} is not a subscriber of MNO ${c.get("peer").mno}`]);
}

/** The calling peer's secondary as the primary's object keeps it ("peer:<mcc>-<mnc>:tel:+..."). */
const peerSecondary = (c: Context<AppEnv>, secondary: string) => targetOf({ kind: "peer", mno: c.get("peer").mno, address: secondary });

// ---------------------------------------------------------------- HLF-IC-002/003, TE-006, SD-003

const CODE_ISSUE_ATTEMPTS = 8;

primarySideRoutes.openapi(
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
    responses: { 201: json(PeerCodeSchema, "The code, generated here"), ...errorResponses(400, 401, 403, 409, 413, 415, 422, 429) },
  }),
  async (c) => {
    const { secondary, primaryMno } = c.req.valid("json");
    const peer = c.get("peer");
    if (!homeMnos(c.env).some((m) => mnoKey(m) === mnoKey(primaryMno))) {
      throw new ApiError(400, "SVC0003", ["primaryMno", homeMnos(c.env).map(mnoKey).join(",")]);
    }
    await refuseLocalSecondary(c, secondary);
    const expiresAt = Date.now() + codeTtlMs(c.env);
    const secondaryMno = parseMnoKey(peer.mno)!;
    for (let attempt = 0; attempt < CODE_ISSUE_ATTEMPTS; attempt++) {
      const code = generateActivationCode();
      // The code's record names the secondary's MNO: redeeming it here means the other side is the peer's.
      if (await issueCode(c.env, code, { secondary: targetOf({ kind: "peer", mno: peer.mno, address: secondary }), mno: secondaryMno, expiresAt })) {
        return c.json({ activationCode: { code, mno: primaryMno, expiresAt: new Date(expiresAt).toISOString() } }, 201);
      }
    }
    throw serviceError(503, "no free activation code, retry");
  },
);


primarySideRoutes.openapi(
  createRoute({
    method: "post",
    path: `${FEDERATION_ROOT}/activations/{relationshipId}/resolution`,
    summary: "The primary operator's final word on an activation whose confirmation the secondary's side did not receive",
    description: "`committed` if the primary's twin row exists; otherwise the activation is aborted here (its reservation dropped) and the answer is `aborted`, for good.",
    ...federation,
    request: { params: RelationshipIdParam, headers: IdempotencyKeyHeader, ...jsonBody(PeerPrimaryRefSchema) },
    responses: { 200: json(PeerResolutionSchema, "The decision"), ...errorResponses(400, 401, 403, 409, 413, 415, 422, 429) },
  }),
  async (c) => {
    const { relationshipId } = c.req.valid("param");
    const { primary } = c.req.valid("json");
    await assertPeersRelationship(c, primary, relationshipId, ["twin", "reservation"]);
    const state = await subscriberStub(c.env, primary).resolveActivation(relationshipId);
    return c.json({ activation: { relationshipId, state } }, 200);
  },
);

primarySideRoutes.openapi(
  createRoute({
    method: "put",
    path: `${FEDERATION_ROOT}/twins/{relationshipId}/status`,
    summary: "The secondary toggled at its operator (HLF-IC-005): the primary's object decides the new version",
    description: "Answers the change as decided here (status, version, when, by whom), which the secondary's operator applies; the primary's subscriptions here are notified. 404 when the relationship is gone.",
    ...federation,
    request: { params: RelationshipIdParam, headers: IdempotencyKeyHeader, ...jsonBody(PeerToggleSchema) },
    responses: { 200: json(PeerStatusChangeSchema, "The change in effect"), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429) },
  }),
  async (c) => {
    const { relationshipId } = c.req.valid("param");
    const { primary, secondary, status } = c.req.valid("json");
    await refuseLocalSecondary(c, secondary);
    await assertPeersRelationship(c, primary, relationshipId, ["twin"]);
    const change = await subscriberStub(c.env, primary).secondaryToggled(peerSecondary(c, secondary), relationshipId, status);
    if (!change) throw notFound("relationshipId", relationshipId);
    return c.json({ secondary, status: change.status, version: change.version, changedAt: new Date(change.at).toISOString(), by: change.by }, 200);
  },
);

primarySideRoutes.openapi(
  createRoute({
    method: "post",
    path: `${FEDERATION_ROOT}/twins/{relationshipId}/end`,
    summary: "The secondary ended the relationship at its operator (HLF-SD-007 across networks): it ends here too",
    description: "The twin row goes, the primary's subscriptions here are notified, and the tokens this operator issued for the relationship (the delegated ones) die with it.",
    ...federation,
    request: { params: RelationshipIdParam, headers: IdempotencyKeyHeader, ...jsonBody(PeerLeaveSchema) },
    responses: { 204: { description: "Ended (or was already gone)" }, ...errorResponses(400, 401, 403, 409, 413, 415, 422, 429) },
  }),
  async (c) => {
    const { relationshipId } = c.req.valid("param");
    const { primary, secondary } = c.req.valid("json");
    await refuseLocalSecondary(c, secondary);
    await assertPeersRelationship(c, primary, relationshipId, ["twin"]);
    await subscriberStub(c.env, primary).secondaryLeft(peerSecondary(c, secondary), relationshipId);
    return c.body(null, 204);
  },
);

primarySideRoutes.openapi(
  createRoute({
    method: "post",
    path: `${FEDERATION_ROOT}/twins/{relationshipId}/delegatedTokens`,
    summary: "A token of this operator for the primary's services, for the twinned secondary at the calling operator (HLF-IC-006, SD-009)",
    description:
      "The secondary's operator asks on behalf of its device (which made an RFC 8693 token exchange there with `audience` = this issuer). The answer is " +
      "this operator's access token: sub = the primary, act.sub = the secondary, scope twinning:delegated, bound to the relationship, so it fails on every " +
      "API and in introspection here as soon as the relationship ends on either side. 404 when the primary has no such twin.",
    ...federation,
    request: { params: RelationshipIdParam, headers: IdempotencyKeyHeader, ...jsonBody(PeerDelegationRequestSchema) },
    responses: { 200: json(PeerDelegatedTokenSchema, "The delegated token"), ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 429) },
  }),
  async (c) => {
    const { relationshipId } = c.req.valid("param");
    const { primary, secondary } = c.req.valid("json");
    await refuseLocalSecondary(c, secondary);
    const other = await assertPeersRelationship(c, primary, relationshipId, ["twin"]);
    if (other !== peerSecondary(c, secondary)) throw notFound("relationshipId", relationshipId);
    // Bound to the relationship id: should it not be this twin's, the primary's object finds no
    // live relationship for it and the token is dead from the start.
    const access = await issueAccessToken(c.env, issuerOf(c.env, c.req.url), {
      sub: primary,
      client_id: c.get("peer").issuer,
      scope: "twinning:delegated",
      twin_id: relationshipId,
      act: { sub: secondary },
    });
    return c.json(
      { access_token: access.token, issued_token_type: "urn:ietf:params:oauth:token-type:access_token" as const, token_type: "Bearer" as const, expires_in: access.expiresIn, scope: "twinning:delegated" as const },
      200,
      { "Cache-Control": "no-store" },
    );
  },
);
