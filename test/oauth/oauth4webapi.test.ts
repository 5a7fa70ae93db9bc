// The token endpoint and the access tokens, checked by an independent, well-kept OAuth client
// library (panva/oauth4webapi) rather than by our own reading of the RFCs.
import { SELF } from "cloudflare:test";
import * as oauth from "oauth4webapi";
import { describe, expect, it } from "vitest";
import { assertion, ORIGIN, provision, registerClient } from "../helpers";

const as: oauth.AuthorizationServer = { issuer: ORIGIN, token_endpoint: `${ORIGIN}/oauth/token`, jwks_uri: `${ORIGIN}/oauth/jwks` };
const options = { [oauth.customFetch]: (url: string, init: RequestInit) => SELF.fetch(url, init), [oauth.allowInsecureRequests]: true } as const;

describe("oauth4webapi as the client", () => {
  it("obtains a jwt-bearer token with client_secret_basic, and validates it as an RFC 9068 access token", async () => {
    const registered = await registerClient(["twinning:primary"]);
    const sub = await provision();
    const client: oauth.Client = { client_id: registered.client_id };
    const response = await oauth.genericTokenEndpointRequest(
      as, client, oauth.ClientSecretBasic(registered.client_secret),
      "urn:ietf:params:oauth:grant-type:jwt-bearer",
      { assertion: await assertion(sub, registered), scope: "twinning:primary" },
      options,
    );
    const result = await oauth.processGenericTokenEndpointResponse(as, client, response);
    expect(result.token_type).toBe("bearer");
    expect(result.scope).toBe("twinning:primary");

    const request = new Request(`${ORIGIN}/twinning/v1/acr:Authorization/twins`, { headers: { Authorization: `Bearer ${result.access_token}` } });
    const claims = await oauth.validateJwtAccessToken(as, request, ORIGIN, options);
    expect(claims).toMatchObject({ sub: sub.address, client_id: registered.client_id, scope: "twinning:primary", iss: ORIGIN });
  });

  it("sees our RFC 6749 error responses as OAuth errors", async () => {
    const registered = await registerClient(["twinning:primary"]);
    const sub = await provision();
    const client: oauth.Client = { client_id: registered.client_id };
    const response = await oauth.genericTokenEndpointRequest(
      as, client, oauth.ClientSecretBasic(registered.client_secret),
      "urn:ietf:params:oauth:grant-type:jwt-bearer",
      { assertion: await assertion(sub, registered, {}, crypto.getRandomValues(new Uint8Array(32))) },
      options,
    );
    await expect(oauth.processGenericTokenEndpointResponse(as, client, response)).rejects.toMatchObject({ error: "invalid_grant", status: 400 });
    const wrongSecret = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic("nope"), "urn:ietf:params:oauth:grant-type:jwt-bearer", { assertion: "x" }, options);
    // A 401 carrying WWW-Authenticate surfaces as the challenge (RFC 6749 §5.2 asks for the header).
    const challenge = await oauth.processGenericTokenEndpointResponse(as, client, wrongSecret).catch((e) => e);
    expect(challenge).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect(challenge.status).toBe(401);
    expect(challenge.cause[0].scheme).toBe("basic");
    expect(await challenge.response.json()).toMatchObject({ error: "invalid_client" });
  });
});
