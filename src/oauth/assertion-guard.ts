// The one check of a JWT assertion (RFC 7521 §5.2, RFC 7523 §3) and the one replay guard of the
// authorization server: the device-key assertions of subscribers and the private_key_jwt
// assertions of clients both pass here. An assertion lives at most 5 minutes and its jti is
// spent once, in the same transaction as the check that it was not spent before.
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { describeJwtError } from "../http/jwt-errors";
import { purgeDue } from "../http/sql";

export const MAX_ASSERTION_LIFETIME_S = 300;
export const CLOCK_SKEW_S = 30;

export type AssertionCheck = { ok: true; payload: JWTPayload & { exp: number; jti: string } } | { ok: false; reason: string };

/** Signature, iss, sub, aud, exp, and a lifetime of at most 5 minutes; the jti is not spent yet. */
export async function checkAssertion(
  assertion: string,
  key: Uint8Array | CryptoKey | JWTVerifyGetKey,
  expect: { algorithms: string[]; issuer: string; subject: string; audience: string | string[]; what: string },
): Promise<AssertionCheck> {
  let payload;
  try {
    const options = { algorithms: expect.algorithms, issuer: expect.issuer, subject: expect.subject, audience: expect.audience, requiredClaims: ["exp", "jti"], clockTolerance: CLOCK_SKEW_S };
    ({ payload } = typeof key === "function" ? await jwtVerify(assertion, key, options) : await jwtVerify(assertion, key, options));
  } catch (err) {
    const audiences = [expect.audience].flat();
    const reason = describeJwtError(err, expect.what, {
      iss: expect.issuer,
      sub: expect.subject,
      aud: audiences.length === 1 ? audiences[0] : `one of ${audiences.join(", ")}`,
      alg: expect.algorithms.join(", "),
    });
    if (reason) return { ok: false, reason };
    throw err;
  }
  const nowS = Math.floor(Date.now() / 1000);
  // jose checks iat only with maxTokenAge; without this, an assertion issued in the future failed
  // as "lives longer than 300 s" (or passed when exp was near), which names the wrong fault.
  if (typeof payload.iat === "number" && payload.iat > nowS + CLOCK_SKEW_S) return { ok: false, reason: `${expect.what}: "iat" is in the future` };
  if (payload.exp! > nowS + MAX_ASSERTION_LIFETIME_S + CLOCK_SKEW_S) return { ok: false, reason: `${expect.what} lives longer than ${MAX_ASSERTION_LIFETIME_S} s` };
  return { ok: true, payload: { ...payload, exp: payload.exp!, jti: String(payload.jti) } };
}

/** The table a replay guard keeps its spent jtis in (one schema step). */
export const replayGuardTable = (table: string) => `CREATE TABLE ${table} (jti TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);`;

/**
 * Spends `jti` (valid until `expS`, seconds) in `table`: false when it was spent before. Call inside
 * the transaction that acts on the assertion; spent jtis are forgotten once they could no longer pass.
 */
export function spendJti(sql: SqlStorage, table: string, jti: string, expS: number): boolean {
  forgetExpired(sql, table);
  return sql.exec(`INSERT INTO ${table} (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING`, jti, expS).rowsWritten > 0;
}

/**
 * Spent jtis that could no longer pass are deleted at most once a minute per table: the DELETE scans
 * the table, and an object that takes many assertions (a busy subscriber, a client) would otherwise
 * scan a few thousand rows on every one. A row kept a little longer changes nothing: its assertion
 * has expired, so checkAssertion refuses it before its jti is looked at.
 */
const PURGE_EVERY_MS = 60_000;
function forgetExpired(sql: SqlStorage, table: string): void {
  const now = Date.now();
  if (purgeDue(sql, table, PURGE_EVERY_MS, now)) sql.exec(`DELETE FROM ${table} WHERE expires_at < ?`, Math.floor(now / 1000) - CLOCK_SKEW_S);
}
