// The network identifies the subscriber (Autho4API: the resource owner is authenticated by the
// operator, not by the application): either a device-key assertion, as in the jwt-bearer grant,
// or a header that the operator's edge sets after its own authentication (header enrichment).
import { decodeJwt } from "jose";
import type { Context } from "hono";
import { config } from "../config";
import type { AppEnv } from "../env";
import { TEL_URI } from "../http/schemas";
import { OAuthError } from "./errors";
import { subscriberStub } from "../residency";

export type Identification = { subscriber: string } | { problem: string };

/**
 * `assertion`: a JWT signed with the subscriber's device key, iss = the client, aud = `audience`,
 * at most 5 minutes of life, jti once. Only consulted in "assertion" mode.
 */
export async function identifySubscriber(c: Context<AppEnv>, clientId: string, assertion: string | null | undefined, audience: string[]): Promise<Identification> {
  const { SUBSCRIBER_IDENTIFICATION, TRUSTED_SUBSCRIBER_HEADER } = config(c.env);
  if (SUBSCRIBER_IDENTIFICATION === "header") {
    const value = c.req.header(TRUSTED_SUBSCRIBER_HEADER);
    if (!value || !TEL_URI.test(value)) return { problem: "the network did not identify the subscriber" };
    return { subscriber: value };
  }
  if (!assertion) return { problem: "a device-key assertion identifying the subscriber is required" };
  let sub: unknown;
  try {
    sub = decodeJwt(assertion).sub;
  } catch {
    return { problem: "the subscriber assertion is not a JWT" };
  }
  if (typeof sub !== "string" || !TEL_URI.test(sub)) return { problem: "the subscriber assertion's sub must be a tel: URI" };
  const verdict = await subscriberStub(c.env, sub).verifyDeviceAssertion(assertion, clientId, audience);
  return verdict.ok ? { subscriber: sub } : { problem: verdict.reason };
}

/** The identified subscriber, or an RFC 6749 invalid_request naming what was missing. */
export async function requireSubscriber(c: Context<AppEnv>, clientId: string, assertion: string | null | undefined, audience: string[]): Promise<string> {
  const who = await identifySubscriber(c, clientId, assertion, audience);
  if ("problem" in who) throw new OAuthError("invalid_request", who.problem);
  return who.subscriber;
}
