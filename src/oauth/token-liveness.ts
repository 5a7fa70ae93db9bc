// The one place that decides which object holds an access token's revocation state: the
// subscriber's object for tokens of a subscriber (its subject ledger: revocation, a bound
// relationship's end, HLF-TE-004), the client's object for the tokens a client holds for itself.
// It also plugs the authorization server's access-token checks into src/http/auth.ts.
import type { Env } from "../env";
import type { AccessTokens } from "../http/auth";
import { TEL_URI } from "../http/schemas";
import { InvalidTokenError, issuerOf, tokenRef, verifyAccessToken, type AccessTokenClaims, type TokenRef } from "./tokens";
import { subscriberStub } from "../residency";

export interface TokenOwner {
  isLive(token: TokenRef): Promise<boolean>;
  /** RFC 7009 and family revocation: these access tokens fail from now on. */
  revoke(tokens: { jti: string; exp: number }[]): Promise<void>;
}

/** The object that holds the revocation state of the tokens of `sub` issued to `clientId`. */
export function tokenOwner(env: Env, sub: string, clientId: string): TokenOwner {
  if (TEL_URI.test(sub)) {
    const subscriber = subscriberStub(env, sub);
    return { isLive: (token) => subscriber.isTokenLive(token), revoke: (tokens) => subscriber.revokeAccessTokens(tokens) };
  }
  const client = env.OAUTH_CLIENTS.getByName(clientId);
  return {
    isLive: (token) => client.isTokenLive(token.jti),
    revoke: async (tokens) => {
      await Promise.all(tokens.map((t) => client.revokeToken(t.jti, t.exp)));
    },
  };
}

export function isAccessTokenLive(env: Env, claims: AccessTokenClaims): Promise<boolean> {
  return tokenOwner(env, claims.sub, claims.client_id).isLive(tokenRef(claims));
}

/** What src/http/auth.ts checks on every API route (registered in src/index.ts). */
export const oauthAccessTokens: AccessTokens = {
  async verify(env, requestUrl, token) {
    try {
      const claims = await verifyAccessToken(env, issuerOf(env, requestUrl), token);
      return {
        ok: true,
        token: { sub: claims.sub, clientId: claims.client_id, scopes: claims.scope.split(" "), token: tokenRef(claims), ...(claims.act?.sub ? { actor: claims.act.sub } : {}) },
      };
    } catch (err) {
      if (err instanceof InvalidTokenError) return { ok: false, reason: err.message };
      throw err;
    }
  },
  isLive: (env, t) => tokenOwner(env, t.sub, t.clientId).isLive(t.token),
};
