// private_key_jwt (RFC 7523 §2.2, RFC 7521 §5.2) client assertions: one set of rules for locally
// registered clients (their JWKS stored with the registration) and external ones (a JWKS a hook
// vouches for, fetched from its URL and cached).
import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from "jose";
import { describeJwtError } from "../http/jwt-errors";

export const CLIENT_ASSERTION_ALGS = ["ES256", "RS256", "PS256", "EdDSA"];
const MAX_CLIENT_ASSERTION_LIFETIME_S = 300;
export const CLOCK_SKEW_S = 30;

export type AssertionCheck = { ok: true; jti: string; exp: number } | { ok: false; reason: string };

/** iss = sub = clientId, aud = one of `audiences`, signed by one of `keys`, at most 300 s of life. The jti is the caller's to spend. */
export async function verifyClientAssertion(assertion: string, keys: JWTVerifyGetKey, clientId: string, audiences: string[]): Promise<AssertionCheck> {
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, keys, {
      algorithms: CLIENT_ASSERTION_ALGS,
      issuer: clientId,
      subject: clientId,
      audience: audiences,
      requiredClaims: ["exp", "jti"],
      clockTolerance: CLOCK_SKEW_S,
    }));
  } catch (err) {
    const reason = describeJwtError(err, "client assertion", {
      iss: clientId,
      sub: clientId,
      aud: audiences.length === 1 ? audiences[0] : `one of ${audiences.join(", ")}`,
      alg: CLIENT_ASSERTION_ALGS.join(", "),
    });
    if (reason) return { ok: false, reason };
    throw err;
  }
  const nowS = Math.floor(Date.now() / 1000);
  if (payload.exp! > nowS + MAX_CLIENT_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) return { ok: false, reason: `client assertion lives longer than ${MAX_CLIENT_ASSERTION_LIFETIME_S} s` };
  return { ok: true, jti: String(payload.jti), exp: payload.exp! };
}

// Remote key sets per isolate. jose refetches a set when a token names a kid it does not hold (at
// most every 5 s) and after 10 minutes, so a peer that rotates its keys keeps being accepted.
const remoteSets = new Map<string, JWTVerifyGetKey>();
const MAX_REMOTE_SETS = 256;

export function remoteKeySet(jwksUri: string): JWTVerifyGetKey {
  let set = remoteSets.get(jwksUri);
  if (!set) {
    if (remoteSets.size >= MAX_REMOTE_SETS) remoteSets.delete(remoteSets.keys().next().value!);
    set = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 3000, cooldownDuration: 5_000, cacheMaxAge: 600_000 });
    remoteSets.set(jwksUri, set);
  }
  return set;
}
