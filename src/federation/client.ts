// The federation client: calls another operator's gateway as an OAuth client of its authorization
// server. Tokens come from the peer's token endpoint with client_credentials, the client
// authenticated by private_key_jwt (RFC 7523 §2.2, RFC 7521 §4.2): iss = sub = our issuer (our
// client_id there), aud = their token endpoint, 60 s lifetime, a fresh jti, signed with our own
// ES256 signing key, which the peer verifies against our /oauth/jwks. Tokens are cached per
// isolate until shortly before they expire.
import { SignJWT } from "jose";
import { config } from "../config";
import type { Env } from "../env";
import { ApiError, EXCEPTION_TEXT, type MessageId } from "../http/errors";
import { signingKey } from "../oauth/tokens";
import { peerFetch, PeerUnavailableError } from "./peer-http";
import type { PeerRecord } from "./peer-registry-object";
import { peerByMno } from "./peers";

export const FEDERATION_SCOPE = "twinning:federation";
export const FEDERATION_ROOT = "/federation/v1";
const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ASSERTION_LIFETIME_S = 60;
/** A cached token is not used in its last minute, so it cannot expire on the way. */
const TOKEN_MARGIN_S = 60;

const tokens = new Map<string, { issuer: string; token: string; exp: number }>();

export function forgetPeerToken(mno: string): void {
  tokens.delete(mno);
}

/** The issuer this gateway is known by at its peers: ISSUER, else the origin its admin registered the peer from. */
export const selfIssuer = (env: Env, peer: PeerRecord) => config(env).ISSUER ?? peer.selfIssuer;

async function clientAssertion(env: Env, peer: PeerRecord): Promise<string> {
  const { kid, key } = await signingKey(env);
  const issuer = selfIssuer(env, peer);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid, typ: "JWT" })
    .setIssuer(issuer)
    .setSubject(issuer)
    .setAudience(peer.tokenEndpoint)
    .setIssuedAt(now)
    .setExpirationTime(now + ASSERTION_LIFETIME_S)
    .setJti(crypto.randomUUID())
    .sign(key);
}

/** A twinning:federation access token at `peer`, cached. */
export async function peerToken(env: Env, peer: PeerRecord): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const hit = tokens.get(peer.mno);
  if (hit && hit.issuer === peer.issuer && hit.exp - TOKEN_MARGIN_S > now) return hit.token;
  const form = new URLSearchParams({
    grant_type: "client_credentials",
    scope: FEDERATION_SCOPE,
    client_id: selfIssuer(env, peer),
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await clientAssertion(env, peer),
  });
  const answer = await peerFetch(env, peer.tokenEndpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
    body: form.toString(),
  });
  let body: { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } = {};
  try {
    body = JSON.parse(answer.text);
  } catch {
    // handled below
  }
  if (answer.status !== 200 || typeof body.access_token !== "string") {
    const why = typeof body.error === "string" ? `${body.error}${typeof body.error_description === "string" ? `: ${body.error_description}` : ""}` : `HTTP ${answer.status}`;
    throw new PeerUnavailableError(`token endpoint refused this gateway (${why})`);
  }
  const expiresIn = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 300;
  tokens.set(peer.mno, { issuer: peer.issuer, token: body.access_token, exp: now + expiresIn });
  return body.access_token;
}

export interface PeerRequest {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Below /federation/v1, e.g. "/activationCodes". */
  path: string;
  body?: unknown;
  /** Required for every state-changing request; a retry of the same operation reuses it. */
  idempotencyKey?: string;
  correlator?: string;
}

export interface PeerResponse {
  status: number;
  body: any;
}

/** The peer's API root: its gateway serves the federation API beside its issuer. */
export const federationUrl = (peer: PeerRecord, path: string) => `${peer.issuer.replace(/\/$/, "")}${FEDERATION_ROOT}${path}`;

/**
 * One request to the peer serving `mno`. Throws PeerUnavailableError when it cannot be reached,
 * does not answer in time, refuses our credentials or fails (5xx): retrying later may work.
 * 2xx, 4xx answers are returned for the caller to interpret.
 */
export async function callPeer(env: Env, mno: string, req: PeerRequest): Promise<PeerResponse> {
  const peer = await peerByMno(env, mno);
  if (!peer) throw new PeerUnavailableError(`MNO ${mno} is not a registered peer`);
  for (let attempt = 0; ; attempt++) {
    const token = await peerToken(env, peer);
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    if (req.body !== undefined) headers["Content-Type"] = "application/json";
    if (req.idempotencyKey) headers["Idempotency-Key"] = req.idempotencyKey;
    if (req.correlator) headers["x-correlator"] = req.correlator;
    const answer = await peerFetch(env, federationUrl(peer, req.path), {
      method: req.method,
      headers,
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
    });
    // A token the peer no longer accepts (its keys rotated, its state reset): one fresh try.
    if (answer.status === 401 && attempt === 0) {
      forgetPeerToken(mno);
      continue;
    }
    if (answer.status >= 500 || answer.status === 401 || answer.status === 409 || answer.status === 429) throw new PeerUnavailableError(`${req.method} ${req.path} answered HTTP ${answer.status}`);
    let body: unknown;
    try {
      body = answer.text ? JSON.parse(answer.text) : undefined;
    } catch {
      throw new PeerUnavailableError(`${req.method} ${req.path} answered something other than JSON`);
    }
    return { status: answer.status, body };
  }
}

/** HLF-IC-*: what the device hears when the other operator's gateway cannot be used right now. */
export function peerUnavailable(mno: string, err: unknown): ApiError {
  const why = err instanceof Error ? err.message : String(err);
  return new ApiError(503, "SVC0001", [`peer MNO ${mno} unavailable: ${why}`], { "Retry-After": "5" });
}

/** A 4xx the peer answered in the OMA envelope, as our own error (a role conflict there is one here). */
export function relayedError(mno: string, res: PeerResponse): ApiError {
  const exception = res.body?.requestError?.policyException ?? res.body?.requestError?.serviceException;
  const id = exception?.messageId;
  if (typeof id === "string" && Object.hasOwn(EXCEPTION_TEXT, id) && res.status >= 400 && res.status < 500) {
    const variables = Array.isArray(exception.variables) ? exception.variables.filter((v: unknown) => typeof v === "string") : [];
    return new ApiError(res.status as 400, id as MessageId, variables);
  }
  return new ApiError(502, "SVC0001", [`peer MNO ${mno} answered HTTP ${res.status}`]);
}
