// jose's errors in words a client can act on: which claim or header failed and what was expected,
// never the library's code (issue 18: "assertion rejected: ERR_JWT_CLAIM_VALIDATION_FAILED").
import { errors } from "jose";
import { echo } from "./errors";

/** What the verifier expected, per claim, for the message (e.g. { aud: "https://…/oauth/token" }). */
export type ExpectedClaims = Partial<Record<"iss" | "sub" | "aud" | "typ" | "alg", string>>;

/**
 * `what`: the token being checked, as the client knows it ("client assertion", "subject_token").
 * Returns undefined for errors that are not jose's (they are the caller's to rethrow).
 */
export function describeJwtError(err: unknown, what: string, expected: ExpectedClaims = {}): string | undefined {
  if (err instanceof errors.JWTExpired) return `${what} expired (its "exp" is in the past)`;
  if (err instanceof errors.JWTClaimValidationFailed) {
    const claim = err.claim;
    if (err.reason === "missing") return `${what} has no "${claim}" claim`;
    if (err.reason === "invalid") return `${what}: "${claim}" claim has the wrong type`;
    const want = expected[claim as keyof ExpectedClaims];
    if (claim === "nbf") return `${what} is not valid yet ("nbf" is in the future)`;
    if (claim === "iat") return `${what}: "iat" is in the future`;
    const got = claim === "typ" ? undefined : err.payload[claim];
    return `${what}: "${claim}" ${got === undefined ? "is not" : `is ${echo(JSON.stringify(got) ?? String(got))}, not`} ${want ?? "the expected value"}`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return `${what}: "alg" not allowed${expected.alg ? `; use ${expected.alg}` : ""}`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return `${what}: signature does not verify`;
  if (err instanceof errors.JWKSNoMatchingKey) return `${what}: no published key matches its "kid" and "alg"`;
  if (err instanceof errors.JWKSMultipleMatchingKeys) return `${what}: several published keys match; give a "kid"`;
  if (err instanceof errors.JWKSTimeout) return `${what}: the signer's key set could not be fetched in time`;
  if (err instanceof errors.JWKSInvalid) return `${what}: the signer's key set is not a valid JWK Set`;
  if (err instanceof errors.JOSENotSupported) return `${what}: uses an algorithm or key type that is not supported`;
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return `${what} is not a well-formed signed JWT`;
  if (err instanceof errors.JOSEError) return `${what} could not be verified`;
  return undefined;
}
