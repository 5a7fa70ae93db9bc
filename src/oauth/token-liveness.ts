// Whether the owner of an access token still considers it live: the subscriber's object for tokens
// of a subscriber (revocation, relationship end: HLF-TE-004), the client's object for a client's own.
import type { Env } from "../env";
import { TEL_URI } from "../twinning/schemas";
import { tokenRef, type AccessTokenClaims } from "./tokens";

export async function isAccessTokenLive(env: Env, claims: AccessTokenClaims): Promise<boolean> {
  if (TEL_URI.test(claims.sub)) return env.SUBSCRIBERS.getByName(claims.sub).isTokenLive(tokenRef(claims));
  return env.OAUTH_CLIENTS.getByName(claims.client_id).isTokenLive(claims.jti);
}
