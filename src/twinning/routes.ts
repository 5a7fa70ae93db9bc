// The RESTful Network API for Twinning Devices: /twinning/v1/{userId}/...
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { requestOrigin, router } from "../http/app";
import { requireScope, userIdOf } from "../http/auth";
import { unwrap } from "../http/errors";
import { errorResponses, json, jsonBody } from "../http/schemas";
import type { RelationshipRecord, TwinRecord } from "./subscriber-object";
import { codeTtlMs, homeMnos } from "./policy";
import { primaryServicesOf } from "./activation";
import { enforceRateLimit } from "../http/rate-limit";
import { recordEvent } from "../ops/metrics";
import { ALL_PRIMARIES, codeRequests, guessesOverall, guessesPerCode } from "./rate-limits";
import {
  ActivationCodeRequestSchema,
  ActivationCodeResponseSchema,
  RelationshipResponseSchema,
  StatusUpdateSchema,
  TwinActivationRequestSchema,
  TwinIdParam,
  TwinListSchema,
  TwinResponseSchema,
  UserIdParam,
} from "./schemas";
import { subscriberStub } from "../residency";

const guarded = (scope: "twinning:primary" | "twinning:secondary", tag: string) => ({
  middleware: requireScope(scope),
  security: [{ bearerAuth: [scope] }],
  tags: [tag],
});
const primary = guarded("twinning:primary", "Primary device");
const secondary = guarded("twinning:secondary", "Secondary device");

/** The caller's token, as the subscriber's object needs it to check that it is still live. */
const token = (c: Context<AppEnv>) => c.get("auth")!.token;
const iso = (ms: number) => new Date(ms).toISOString();
const base = (c: Context<AppEnv>, address: string) => `${requestOrigin(c)}/twinning/v1/${encodeURIComponent(address)}`;

/** A twin as the API shows it; `twinsURL` is its primary's `.../twins` (made once for a whole list). */
const twinViewUnder = (twinsURL: string, t: TwinRecord) => {
  const activatedAt = iso(t.activatedAt);
  return {
    secondary: t.secondary,
    name: t.name,
    status: t.status,
    secondaryMno: t.secondaryMno,
    activatedAt,
    // A twin never toggled changed status when it was activated: one date, formatted once.
    statusChangedAt: t.statusChangedAt === t.activatedAt ? activatedAt : iso(t.statusChangedAt),
    statusChangedBy: t.statusChangedBy,
    resourceURL: `${twinsURL}/${encodeURIComponent(t.secondary)}`,
  };
};
const twinView = (c: Context<AppEnv>, primaryAddress: string, t: TwinRecord) => twinViewUnder(`${base(c, primaryAddress)}/twins`, t);

const relationshipView = (c: Context<AppEnv>, address: string, r: RelationshipRecord, primaryServices?: Record<string, string>) => ({
  primary: r.primary,
  name: r.name,
  status: r.status,
  primaryMno: r.primaryMno,
  activatedAt: iso(r.activatedAt),
  statusChangedAt: iso(r.statusChangedAt),
  statusChangedBy: r.statusChangedBy,
  ...(primaryServices ? { primaryServices } : {}),
  resourceURL: `${base(c, address)}/relationship`,
});

export const twinningRoutes = router();

// ------------------------------------------------------------------ secondary device

twinningRoutes.openapi(
  createRoute({
    method: "post",
    path: "/twinning/v1/{userId}/activationCodes",
    summary: "Request a one-time activation code (HLF-SD-001..003)",
    description:
      "The secondary device asks for a six-digit code to show its user, who enters it on the primary device. " +
      "A new code revokes the previous one. `primaryMno` names the primary's MNO when the user chose it (HLF-SD-002, TE-006). " +
      "The request doubles as an RFC 8628 device authorization: poll `/oauth/token` with `grant_type=urn:ietf:params:oauth:grant-type:device_code` and the returned `deviceCode` " +
      "to receive the secondary's relationship-bound twinning token once the primary has activated the twin.",
    ...secondary,
    request: { params: UserIdParam, ...jsonBody(ActivationCodeRequestSchema, false) },
    responses: { 201: json(ActivationCodeResponseSchema, "The code, the MNO that generated it, and its expiry"), ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    const { primaryMno } = c.req.valid("json") ?? {};
    await enforceRateLimit(codeRequests(c.env), address);
    // The request doubles as an RFC 8628 device authorization for the calling application.
    const deviceGrant = { clientId: c.get("auth")!.clientId, scope: "twinning:secondary" };
    const issued = unwrap(await subscriberStub(c.env, address).issueActivationCode(token(c), primaryMno, homeMnos(c.env), codeTtlMs(c.env), deviceGrant));
    const resourceURL = `${base(c, address)}/activationCodes/${issued.code}`;
    return c.json(
      { activationCode: { code: issued.code, mno: issued.mno, expiresAt: iso(issued.expiresAt), resourceURL, deviceCode: issued.deviceCode!, interval: issued.interval! } },
      201,
      { Location: resourceURL, "Cache-Control": "no-store" },
    );
  },
);

twinningRoutes.openapi(
  createRoute({
    method: "get",
    path: "/twinning/v1/{userId}/relationship",
    summary: "The secondary's own twinning status (HLF-SD-006)",
    description: "The primary device it is twinned with, the relationship's name, and its status On or Off. 404 when not twinned.",
    ...secondary,
    request: { params: UserIdParam },
    responses: { 200: json(RelationshipResponseSchema, "The relationship"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    const rel = unwrap(await subscriberStub(c.env, address).relationship(token(c)));
    return c.json({ relationship: relationshipView(c, address, rel, await primaryServicesOf(c.env, rel)) }, 200);
  },
);

twinningRoutes.openapi(
  createRoute({
    method: "put",
    path: "/twinning/v1/{userId}/relationship/status",
    summary: "Toggle the twinning status from the secondary (HLF-SD-004)",
    description: "Off keeps the relationship (HLF-TE-003); the change persists (HLF-TE-002).",
    ...secondary,
    request: { params: UserIdParam, ...jsonBody(StatusUpdateSchema) },
    responses: { 200: json(RelationshipResponseSchema, "The relationship after the toggle"), ...errorResponses(400, 401, 403, 404, 413, 415) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    const rel = unwrap(await subscriberStub(c.env, address).toggleFromSecondary(token(c), c.req.valid("json").status));
    recordEvent(c.env, "twinning.toggle", "secondary");
    return c.json({ relationship: relationshipView(c, address, rel) }, 200);
  },
);

twinningRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/twinning/v1/{userId}/relationship",
    summary: "Deactivate the twinning from the secondary (HLF-SD-007)",
    description: "Ends the relationship for good on both sides (HLF-TE-004).",
    ...secondary,
    request: { params: UserIdParam },
    responses: { 204: { description: "Deactivated" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    unwrap(await subscriberStub(c.env, address).leaveFromSecondary(token(c)));
    recordEvent(c.env, "twinning.deactivation", "secondary");
    return c.body(null, 204);
  },
);

// ------------------------------------------------------------------ primary device

twinningRoutes.openapi(
  createRoute({
    method: "post",
    path: "/twinning/v1/{userId}/twins",
    summary: "Activate a twin with the code shown on the secondary (HLF-PD-001)",
    description:
      "Twins the secondary that requested `activationCode`; status is On (use case step 7). Without `name` the enabler names it `twin-N` (HLF-TE-007). " +
      "Unknown, used and expired codes get the same 400; after 5 failed codes in 15 minutes the primary gets 429 until the window passes.",
    ...primary,
    request: { params: UserIdParam, ...jsonBody(TwinActivationRequestSchema) },
    responses: { 201: json(TwinResponseSchema, "The new twin"), ...errorResponses(400, 401, 403, 413, 415, 429, 503) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    const { activationCode, name, activationCodeMno } = c.req.valid("json");
    await enforceRateLimit(guessesPerCode(c.env), activationCode);
    await enforceRateLimit(guessesOverall(c.env), ALL_PRIMARIES);
    const twin = unwrap(await subscriberStub(c.env, address).activateTwin(token(c), activationCode, name, activationCodeMno, homeMnos(c.env)));
    const view = twinView(c, address, twin);
    recordEvent(c.env, "twinning.activation");
    return c.json({ twin: view }, 201, { Location: view.resourceURL });
  },
);

twinningRoutes.openapi(
  createRoute({
    method: "get",
    path: "/twinning/v1/{userId}/twins",
    summary: "List the twinned secondary devices and their status (HLF-PD-003, PD-006)",
    ...primary,
    request: { params: UserIdParam },
    responses: { 200: json(TwinListSchema, "Every twin of the primary"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const address = userIdOf(c, c.req.valid("param").userId);
    const twins = unwrap(await subscriberStub(c.env, address).listTwins(token(c)));
    const twinsURL = `${base(c, address)}/twins`;
    return c.json({ twinList: { twin: twins.map((t) => twinViewUnder(twinsURL, t)), resourceURL: twinsURL } }, 200);
  },
);

twinningRoutes.openapi(
  createRoute({
    method: "get",
    path: "/twinning/v1/{userId}/twins/{twinId}",
    summary: "One twin, by the secondary's address or its name (HLF-PD-003, PD-005)",
    ...primary,
    request: { params: TwinIdParam },
    responses: { 200: json(TwinResponseSchema, "The twin"), ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, twinId } = c.req.valid("param");
    const address = userIdOf(c, userId);
    const twin = unwrap(await subscriberStub(c.env, address).twin(token(c), twinId));
    return c.json({ twin: twinView(c, address, twin) }, 200);
  },
);

twinningRoutes.openapi(
  createRoute({
    method: "put",
    path: "/twinning/v1/{userId}/twins/{twinId}/status",
    summary: "Toggle a twin On or Off from the primary (HLF-PD-002, PD-005)",
    description: "Off keeps the relationship (HLF-TE-003); the change persists (HLF-TE-002).",
    ...primary,
    request: { params: TwinIdParam, ...jsonBody(StatusUpdateSchema) },
    responses: { 200: json(TwinResponseSchema, "The twin after the toggle"), ...errorResponses(400, 401, 403, 404, 413, 415) },
  }),
  async (c) => {
    const { userId, twinId } = c.req.valid("param");
    const address = userIdOf(c, userId);
    const twin = unwrap(await subscriberStub(c.env, address).toggleFromPrimary(token(c), twinId, c.req.valid("json").status));
    recordEvent(c.env, "twinning.toggle", "primary");
    return c.json({ twin: twinView(c, address, twin) }, 200);
  },
);

twinningRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/twinning/v1/{userId}/twins/{twinId}",
    summary: "Deactivate a twin from the primary (HLF-PD-004, PD-005)",
    description: "Ends the relationship for good on both sides (HLF-TE-004): the secondary leaves the list.",
    ...primary,
    request: { params: TwinIdParam },
    responses: { 204: { description: "Deactivated" }, ...errorResponses(400, 401, 403, 404) },
  }),
  async (c) => {
    const { userId, twinId } = c.req.valid("param");
    unwrap(await subscriberStub(c.env, userIdOf(c, userId)).deactivateFromPrimary(token(c), twinId));
    recordEvent(c.env, "twinning.deactivation", "primary");
    return c.body(null, 204);
  },
);
