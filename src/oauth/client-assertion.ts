// private_key_jwt (RFC 7523 §2.2, RFC 7521 §5.2) client assertions: one set of rules for locally
// registered clients (their JWKS stored with the registration) and external ones (a JWKS a hook
// vouches for, fetched from its URL and cached).
import { createRemoteJWKSet, type JWTVerifyGetKey } from "jose";
import { checkAssertion } from "./assertion-guard";

export const CLIENT_ASSERTION_ALGS = ["ES256", "RS256", "PS256", "EdDSA"];

export type AssertionCheck = { ok: true; jti: string; exp: number } | { ok: false; reason: string };

/** iss = sub = clientId, aud = one of `audiences`, signed by one of `keys`, at most 300 s of life. The jti is the caller's to spend. */
export async function verifyClientAssertion(assertion: string, keys: JWTVerifyGetKey, clientId: string, audiences: string[]): Promise<AssertionCheck> {
  const check = await checkAssertion(assertion, keys, { algorithms: CLIENT_ASSERTION_ALGS, issuer: clientId, subject: clientId, audience: audiences, what: "client assertion" });
  return check.ok ? { ok: true, jti: check.payload.jti, exp: check.payload.exp } : check;
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
