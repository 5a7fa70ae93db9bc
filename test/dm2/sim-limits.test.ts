// The DM 2.0 resources are rate limited per DM account (the platform's rate-limiting binding), and an
// unknown account is answered exactly as a wrong password is.
import { env, SELF } from "cloudflare:test";
import { exhaust, inFreshWindow } from "../http/rate-limit-probe";
import { describe, expect, it } from "vitest";
import { Dm2Account } from "./sim/account";
import { Operator, uniqueId } from "./sim/harness";

const GATEWAY = "https://dm2sim.test";
const fetcher = (url: string, init?: RequestInit) => SELF.fetch(url, init);
const op = new Operator(GATEWAY, fetcher);

describe("DM 2.0 limits", () => {
  it("requests naming one DM account beyond DM2_ACCOUNT_RATE_LIMIT (300 per 10 s) are 429 POL0001 with Retry-After, before any credential check", async () => {
    // A name nobody registered, and a Digest response that cannot verify: the limit counts the claim.
    const name = uniqueId("flood");
    const header = `Digest username="${name}", realm="oma-edge DM", nonce="x", uri="/dm/v2/devices", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c", response="00"`;
    await inFreshWindow(10);
    const first = await SELF.fetch(`${GATEWAY}/dm/v2/devices`, { headers: { Authorization: header } });
    expect(first.status).toBe(401);
    expect(await exhaust(env.DM2_ACCOUNT_RATE_LIMIT, name)).toBe(299);
    const limited = await SELF.fetch(`${GATEWAY}/dm/v2/devices`, { headers: { Authorization: header } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("Retry-After")).toBe("10");
    const body = (await limited.json()) as { requestError: { policyException: { messageId: string; variables: string[] } } };
    expect(body.requestError.policyException.messageId).toBe("POL0001");
    expect(body.requestError.policyException.variables[0]).toMatch(/DM 2\.0 requests/);
    // Another account is not affected.
    const { owner } = await op.account();
    expect((await owner.call("GET", "/devices", { headers: { Accept: "application/json" } })).status).toBe(200);
  });

  it("an unknown account and a wrong password get the same 401 (status, error, challenges), with Basic and with Digest", async () => {
    const { accountId } = await op.account();
    for (const scheme of ["basic", "digest"] as const) {
      const wrong = await new Dm2Account(GATEWAY, accountId, "not the right password", scheme, fetcher).call("GET", "/devices");
      const unknown = await new Dm2Account(GATEWAY, uniqueId("nobody"), "not the right password", scheme, fetcher).call("GET", "/devices");
      expect([wrong.status, unknown.status]).toEqual([401, 401]);
      expect(unknown.json).toEqual(wrong.json);
      const schemes = (a: typeof wrong) => (a.headers.get("WWW-Authenticate") ?? "").replace(/nonce="[^"]*"/, 'nonce=""');
      expect(schemes(unknown)).toBe(schemes(wrong));
    }
  });
});
