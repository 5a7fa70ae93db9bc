// RFC 6749 §5.2: error_description is "human-readable text providing additional information, used to
// assist the client developer in understanding the error that occurred". It must name the actual fault.
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { ORIGIN, provision, registerClient, requestToken } from "../helpers";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const client = await registerClient();

describe("RFC 6749 §5.2: error_description names what is actually wrong", () => {
  it("a Basic header with malformed credentials is told its credentials are malformed, not that its scheme is unsupported", async () => {
    for (const auth of ["Basic !!!notbase64", "Basic", "Basic "]) {
      const res = await requestToken(client, { grant_type: "client_credentials" }, auth);
      expect(res.status, auth).toBe(401);
      expect(res.json.error, auth).toBe("invalid_client");
      expect(res.json.error_description, auth).toMatch(/^malformed Basic credentials/);
      expect(res.headers.get("www-authenticate"), auth).toMatch(/^Basic /);
    }
    const bearer = await requestToken(client, { grant_type: "client_credentials" }, "Bearer abc");
    expect(bearer.status).toBe(401);
    expect(bearer.json.error_description).toBe("unsupported Authorization scheme");
  });

  it("RFC 7523 §3: an assertion issued in the future is refused as such (\"iat\" is in the future), not as too long-lived", async () => {
    const sub = await provision();
    const now = Math.floor(Date.now() / 1000);
    const future = (iat: number, exp: number) =>
      new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(sub.address).setAudience(`${ORIGIN}/oauth/token`).setIssuedAt(iat).setExpirationTime(exp).setJti(crypto.randomUUID()).sign(sub.key);
    for (const [iat, exp] of [[now + 600, now + 700], [now + 100, now + 200]]) {
      const res = await requestToken(client, { grant_type: JWT_BEARER, assertion: await future(iat!, exp!) });
      expect(res.status, `iat ${iat! - now}`).toBe(400);
      expect(res.json).toEqual({ error: "invalid_grant", error_description: 'assertion: "iat" is in the future' });
    }
    // Within the clock skew allowance it is still accepted.
    const slightlyAhead = await requestToken(client, { grant_type: JWT_BEARER, assertion: await future(now + 5, now + 120) });
    expect(slightlyAhead.status, JSON.stringify(slightlyAhead.json)).toBe(200);
  });
});
