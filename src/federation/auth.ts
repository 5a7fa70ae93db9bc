// Who may call the federation API: a registered peer operator, with an access token this gateway
// issued to it (client_credentials, private_key_jwt, scope twinning:federation; its client_id is the
// peer's issuer). Every state-changing request also carries an Idempotency-Key.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "../http/errors";
import { base64url, sha256 } from "../http/crypto";
import { enforceRateLimit } from "../http/rate-limit";
import { InvalidTokenError, issuerOf, verifyAccessToken } from "../oauth/tokens";
import { FEDERATION_SCOPE } from "./client";
import type { PeerRecord } from "./peer-registry-object";
import { peerByIssuer } from "./peers";

declare module "hono" {
  interface ContextVariableMap {
    /** The peer operator making a federation request (set by requirePeer). */
    peer: PeerRecord;
  }
}

const CLOCK_SKEW_MS = 30_000;

const invalidToken = (why: string) =>
  new ApiError(401, "POL0001", [`invalid_token: ${why}`], { "WWW-Authenticate": `Bearer error="invalid_token", error_description="${why}"` });

export const requirePeer: MiddlewareHandler<AppEnv> = async (c, next) => {
  const match = c.req.header("authorization")?.match(/^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i);
  if (!match) throw invalidToken("missing bearer token");
  let claims;
  try {
    claims = await verifyAccessToken(c.env, issuerOf(c.env, c.req.url), match[1]!);
  } catch (err) {
    if (err instanceof InvalidTokenError) throw invalidToken(err.message);
    throw err;
  }
  if (!claims.scope.split(" ").includes(FEDERATION_SCOPE)) {
    throw new ApiError(403, "POL0001", [`insufficient_scope: ${FEDERATION_SCOPE} required`], {
      "WWW-Authenticate": `Bearer error="insufficient_scope", scope="${FEDERATION_SCOPE}"`,
    });
  }
  const peer = await peerByIssuer(c.env, claims.client_id);
  if (!peer || claims.sub !== claims.client_id) throw invalidToken("the token's client is not a registered peer operator");
  // A token obtained before this issuer was (re)registered for the MNO belongs to an earlier trust.
  if (typeof claims.iat === "number" && claims.iat * 1000 < peer.trustedSince - CLOCK_SKEW_MS) throw invalidToken("token issued before the peer was registered");
  await enforceRateLimit({ binding: c.env.FEDERATION_PEER_RATE_LIMIT, period: 10, what: `federation requests from MNO ${peer.mno}` }, peer.mno);
  c.set("peer", peer);
  await next();
};

const KEY = /^[\x21\x23-\x5b\x5d-\x7e]{1,255}$/;

/** The header's value: an RFC 8941 sf-string ("...") as the draft writes it, or the bare token many clients send. */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  const inner = trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"') ? trimmed.slice(1, -1) : trimmed;
  return KEY.test(inner) ? inner : undefined;
}

/**
 * State-changing federation requests: a retry with the same Idempotency-Key gets the first answer
 * (with `Idempotent-Replayed: true`) and never runs again. Answers of 5xx are not kept, so a retry
 * after a failure on our side runs the request again; nor are no-store answers (tokens).
 */
export const idempotent: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.method === "GET" || c.req.method === "HEAD") return next();
  const raw = c.req.header("idempotency-key");
  const key = idempotencyKeyOf(raw);
  if (!key) throw new ApiError(400, "SVC0002", ["Idempotency-Key", raw === undefined ? "required on every state-changing federation request" : "1 to 255 printable ASCII characters"]);
  const peer = c.get("peer");
  const url = new URL(c.req.url);
  const fingerprint = base64url(await sha256(`${c.req.method} ${url.pathname}${url.search}\n${await c.req.text()}`));
  const store = c.env.IDEMPOTENCY.getByName(peer.mno);
  const begun = await store.begin(key, fingerprint);
  if (begun.kind === "mismatch") throw new ApiError(422, "SVC0002", ["Idempotency-Key", "already used for a different request"]);
  if (begun.kind === "in-progress") throw new ApiError(409, "SVC0002", ["Idempotency-Key", "a request with this key is still being processed; retry later"], { "Retry-After": "1" });
  if (begun.kind === "replay") {
    const headers: Record<string, string> = { "Idempotent-Replayed": "true" };
    if (begun.answer.contentType) headers["Content-Type"] = begun.answer.contentType;
    return new Response(begun.answer.body || null, { status: begun.answer.status, headers });
  }
  try {
    await next();
  } catch (err) {
    await store.release(key, fingerprint);
    throw err;
  }
  // A 5xx may be fixed by a retry; an answer marked no-store (a token) is never kept (RFC 9111
  // §5.2.2.5): its retry runs again, which mints a fresh token and changes no durable state.
  if (c.res.status >= 500 || /no-store/i.test(c.res.headers.get("cache-control") ?? "")) {
    await store.release(key, fingerprint);
    return;
  }
  const body = await c.res.clone().text();
  await store.complete(key, fingerprint, { status: c.res.status, contentType: c.res.headers.get("content-type"), body });
};
