// Token lifecycles under races (issue 12): a refresh-token reuse race never leaves an access token
// alive; a code replay racing with its redemption revokes what the redemption issued.
import { describe, expect, it } from "vitest";
import { call, provision } from "../helpers";
import { codeGrant, introspect, registerWebApp, tokenRequest } from "./flows";

describe("Refresh-token reuse races", () => {
  it("two concurrent refreshes with one token: one wins, the family is revoked, and the winner's access token is dead too (20 trials)", async () => {
    const client = await registerWebApp();
    for (let trial = 0; trial < 20; trial++) {
      const first = await codeGrant(client);
      const form = { grant_type: "refresh_token", refresh_token: first.refresh_token };
      const answers = await Promise.all([tokenRequest(client, form), tokenRequest(client, form)]);
      const won = answers.filter((a) => a.status === 200);
      const lost = answers.filter((a) => a.status === 400);
      expect(won.length + lost.length, `trial ${trial}`).toBe(2);
      expect(lost.length, `trial ${trial}`).toBeGreaterThanOrEqual(1);
      for (const w of won) {
        expect((await introspect(client, w.json.access_token)).active, `trial ${trial}: the winner's access token`).toBe(false);
        expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: w.json.access_token })).status, `trial ${trial}`).toBe(401);
        expect((await tokenRequest(client, { grant_type: "refresh_token", refresh_token: w.json.refresh_token })).status).toBe(400);
      }
      expect((await introspect(client, first.access_token)).active).toBe(false);
    }
  });

  it("a revoked family issues nothing: refreshing after revocation is invalid_grant and leaves no live token", async () => {
    const client = await registerWebApp();
    const first = await codeGrant(client, await provision());
    const second = await tokenRequest(client, { grant_type: "refresh_token", refresh_token: first.refresh_token });
    expect(second.status).toBe(200);
    // Reuse of the first refresh token revokes the family.
    expect((await tokenRequest(client, { grant_type: "refresh_token", refresh_token: first.refresh_token })).json.error).toBe("invalid_grant");
    const after = await tokenRequest(client, { grant_type: "refresh_token", refresh_token: second.json.refresh_token });
    expect(after.status).toBe(400);
    expect(after.json).toEqual({ error: "invalid_grant", error_description: "refresh token was revoked" });
    expect((await introspect(client, second.json.access_token)).active).toBe(false);
  });
});
