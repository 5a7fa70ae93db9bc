// What federation plugs into the authorization server (src/oauth/hooks.ts), registered where the
// app is mounted: a registered peer's issuer is an external private_key_jwt client (its keys at the
// jwks_uri read when the operator registered it) for client_credentials and twinning:federation;
// a token exchange whose `audience` is a peer's issuer is answered by that peer (HLF-IC-006).
import { ApiError } from "../http/errors";
import type { OAuthHooks } from "../oauth/hooks";
import { OAuthError } from "../oauth/errors";
import { tokenRef } from "../oauth/tokens";
import { TEL_URI } from "../twinning/schemas";
import { addressOf, destinationOf } from "../twinning/outbox";
import { FEDERATION_SCOPE } from "./client";
import { parseMnoKey, peerByIssuer } from "./peers";
import { delegatedTokenFromPeer } from "./remote-parties";
import { subscriberStub } from "../residency";

export const federationOAuthHooks: OAuthHooks = {
  resolveExternalClient: async (clientId, env) => {
    const peer = await peerByIssuer(env, clientId);
    return peer ? { clientId, jwksUri: peer.jwksUri, scopes: [FEDERATION_SCOPE], grantTypes: ["client_credentials"] } : null;
  },

  exchangeForForeignAudience: async ({ subject, audience, scope, env }) => {
    const peer = await peerByIssuer(env, audience);
    if (!peer) return null;
    if (scope.length !== 1 || scope[0] !== "twinning:delegated") throw new OAuthError("invalid_scope", "a peer operator's token is issued for twinning:delegated only");
    if (!TEL_URI.test(subject.sub) || !subject.twin_id) throw new OAuthError("invalid_grant", "subject_token is not a twinned secondary's relationship token");
    const delegation = await subscriberStub(env, subject.sub).delegation(tokenRef(subject));
    if (!delegation) throw new OAuthError("invalid_grant", "the twinning relationship of subject_token has ended");
    const primaryAt = destinationOf(delegation.primary);
    if (primaryAt.kind !== "peer" || primaryAt.mno !== peer.mno) throw new OAuthError("invalid_target", `the primary of this relationship is not served by MNO ${peer.mno}`);
    try {
      return await delegatedTokenFromPeer(env, parseMnoKey(peer.mno)!, { primary: addressOf(delegation.primary), secondary: subject.sub, relationshipId: delegation.twinId });
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 503) throw new OAuthError("temporarily_unavailable", err.variables[0] ?? `peer MNO ${peer.mno} unavailable`);
      if (err.status === 404) throw new OAuthError("invalid_grant", `the primary's operator (MNO ${peer.mno}) has no such relationship`);
      throw new OAuthError("server_error", err.variables.join(": "));
    }
  },
};
