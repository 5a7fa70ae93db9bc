// The Worker: builds the gateway's Hono app and exports its Durable Object classes.
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import type { AppEnv } from "./env";
import { correlator, MAX_BODY_BYTES, requireBodyChecks, requireWellFormedUrl } from "./http/app";
import { ApiError, errorResponse, invalidInput } from "./http/errors";
import { PrefixRouter } from "./http/router";
import { unmatchedRequest } from "./http/unmatched";
import { auditAdmin, auditRoutes } from "./admin/audit";
import { subscriberAdminRoutes } from "./twinning/admin-routes";
import { clientAdminRoutes } from "./oauth/admin-routes";
import { deviceAdminRoutes } from "./dm/admin-routes";
import { oauthRoutes } from "./oauth/routes";
import { authorizeRoutes } from "./oauth/authorize";
import { twinningRoutes } from "./twinning/routes";
import { notifyRoutes } from "./notify/routes";
import { notifyAdminRoutes } from "./notify/admin-routes";
import { dmRoutes, MAX_DM_MESSAGE_BYTES } from "./dm/routes";
import { dm2AdminRoutes } from "./dm/v2/admin-routes";
import { dm2Routes } from "./dm/v2/routes";
import { mountDocs } from "./docs/routes";
import { observe } from "./ops/observe";
import { opsRoutes } from "./ops/routes";
import { consoleRoutes } from "./console/routes";
import { peerAdminRoutes } from "./federation/admin-routes";
import { federationRoutes } from "./federation/routes";
import { federationOAuthHooks } from "./federation/oauth-hooks";
import { peerTransport, remoteActivations } from "./federation/twinning-seams";
import { usePeerTransport } from "./twinning/outbox";
import { useRemoteActivations } from "./twinning/activation";
import { registerOAuthHooks } from "./oauth/hooks";
import { authorizeBeforeRefusing, useAccessTokens, useAdminGuard } from "./http/auth";
import { adminGuard } from "./admin/guard";
import { oauthAccessTokens } from "./oauth/token-liveness";
import { twinningDeviceAuthorization } from "./twinning/device-authorization";
import { webrtcRoutes } from "./webrtc/routes";
import { dmwsAdminRoutes } from "./dmws/admin-routes";
import { dmwsRoutes } from "./dmws/routes";
import { dmwsOperationRoutes } from "./dmws/operation-routes";
import { dmwsChargingRoutes } from "./dmws/charging-routes";
import { dmwsJobHooks } from "./dmws/job-hooks";
import { registerJobHooks } from "./dm/job-model";
import { campaignRoutes } from "./dmws/campaigns/routes";

export { SubscriberObject } from "./twinning/subscriber-object";
export { ActivationCodeObject } from "./twinning/activation-code-object";
export { OAuthClientObject } from "./oauth/client-object";
export { SigningKeysObject } from "./oauth/signing-keys-object";
export { TokenFamilyObject } from "./oauth/token-family-object";
export { NotificationChannelObject } from "./notify/channel-object";
export { ChannelDirectoryObject } from "./notify/channel-directory-object";
export { HealthObject } from "./ops/health-object";
export { DirectoryObject } from "./admin/directory-object";
export { AuditLogObject } from "./admin/audit-object";
export { DeviceObject } from "./dm/device-object";
export { DmAccountObject } from "./dm/v2/account-object";
export { PeerRegistryObject } from "./federation/peer-registry-object";
export { IdempotencyObject } from "./federation/idempotency-object";
export { CallSessionObject } from "./webrtc/session-object";
export { SignalingUserObject } from "./webrtc/user-object";
export { DmwsRegistryObject } from "./dmws/registry-object";
export { DmwsProviderObject } from "./dmws/provider-object";
export { CampaignObject } from "./dmws/campaigns/campaign-object";
export { CampaignDirectoryObject } from "./dmws/campaigns/directory-object";

// Routes are matched per first path segment (src/http/router.ts): one API's patterns do not put every other API on a slower matcher.
const app = new OpenAPIHono<AppEnv>({ router: new PrefixRouter() });

// The capabilities plug into the layers below them: the authorization server's token checks into
// every route's bearer check, twinning's activation codes into the device grant.
useAccessTokens(oauthAccessTokens);
useAdminGuard(adminGuard);
registerOAuthHooks({ authorizeDevice: twinningDeviceAuthorization });

app.use("*", correlator);
app.use("*", observe);
app.use("*", requireWellFormedUrl);
// Every admin action, in the audit log (src/admin/audit.ts), however it ends (a body refused by the limits too).
app.use("/admin/*", auditAdmin);
const limit = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, "SVC0002", ["body", `request body larger than ${maxSize} bytes`]);
    },
  });
// SyncML messages and DM jobs (large objects) may be bigger than the JSON APIs' bodies.
const jsonLimit = limit(MAX_BODY_BYTES);
const dmLimit = limit(MAX_DM_MESSAGE_BYTES * 5);
// The size limit, strict UTF-8 JSON, and JSON-only bodies under the APIs that take nothing else.
app.use("*", requireBodyChecks((path) => (path.startsWith("/dm") ? dmLimit : jsonLimit), ["/twinning", "/admin", "/notificationchannel", "/dm/v1", "/federation", "/webrtcsignaling", "/dmws"]));

app.route("/", auditRoutes);
app.route("/", subscriberAdminRoutes);
app.route("/", clientAdminRoutes);
app.route("/", deviceAdminRoutes);
app.route("/", opsRoutes);
app.route("/", consoleRoutes);
app.route("/", oauthRoutes);
app.route("/", authorizeRoutes);
app.route("/", twinningRoutes);
app.route("/", notifyRoutes);
app.route("/", notifyAdminRoutes);
app.route("/", dmRoutes);
app.route("/", dm2AdminRoutes);
app.route("/", dm2Routes);
app.route("/", peerAdminRoutes);
app.route("/", federationRoutes);
registerOAuthHooks(federationOAuthHooks);
usePeerTransport(peerTransport);
useRemoteActivations(remoteActivations);
app.route("/", webrtcRoutes);
app.route("/", dmwsAdminRoutes);
app.route("/", dmwsRoutes);
app.route("/", dmwsOperationRoutes);
app.route("/", dmwsChargingRoutes);
registerJobHooks(dmwsJobHooks);
app.route("/", campaignRoutes);

app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
  type: "http",
  scheme: "bearer",
  bearerFormat: "JWT (RFC 9068), from /oauth/token",
});
app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", {
  type: "http",
  scheme: "bearer",
  description: "The operator's admin token (secret ADMIN_TOKEN; `dev-admin-token` in local development).",
});

const openApiConfig = {
  openapi: "3.1.0",
  info: {
    title: "oma-edge",
    version: "1.0.0",
    description:
      "Operator network-API gateway. RESTful Network API for Twinning Devices (OMA REST_NetAPI_Twinning V1.0) with its notifications and the OMA Notification Channel, " +
      "the OAuth 2.0 authorization server (Autho4API), OMA Device Management (SyncML DM 1.2 over XML and WBXML, with northbound jobs), and the operator admin API. " +
      "Errors use the OMA `requestError` envelope; every response carries `x-correlator`. " +
      "As OMA's JSON rules allow, numbers and booleans in request bodies may also be sent as strings (`\"maxNotifications\":\"1\"`, `\"channelLifetime\":\"7200\"`); answers carry numbers and booleans.",
  },
};
mountDocs(app, openApiConfig);
app.get("/", (c) => c.redirect("/docs"));

// No route matched: 405 with Allow for a wrong method on a resource, 204 with Allow for OPTIONS, else 404.
app.notFound(unmatchedRequest(() => app.routes));
app.onError((err, c) => {
  // Malformed JSON is reported by Hono's validator as a plain 400.
  // Authorization first (authorizeBeforeRefusing), as for every other input error.
  if (err instanceof Error && /Malformed JSON/i.test(err.message)) {
    return authorizeBeforeRefusing(c).then(() => errorResponse(c, invalidInput("body", "malformed JSON")), (refusal) => errorResponse(c, refusal));
  }
  return errorResponse(c, err);
});

export default app;
