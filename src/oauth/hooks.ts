// Hooks: the application-specific parts of the authorization server. src/oauth imports no
// capability; a capability that needs the authorization server to know something plugs it in here
// when the app is mounted (src/index.ts), as workers-oauth-provider takes its callbacks.
//
//   registerOAuthHooks({
//     // RFC 7523 private_key_jwt for clients that are not registered here (e.g. a peer operator,
//     // whose client_id is its issuer URL). Called only when client authentication at the token
//     // endpoint is private_key_jwt and the client_id is not one of ours. Answer null for strangers.
//     // The resolver vouches for jwksUri (it has vetted the URL): the assertion is verified against
//     // that JWKS, fetched and cached (jose createRemoteJWKSet: refetched when an unknown kid appears,
//     // so key rotation on the peer's side keeps working), with the same rules as a local
//     // private_key_jwt: iss = sub = clientId, aud = the token endpoint (or our issuer), at most
//     // 300 s of life, each jti once. The client then gets only `grantTypes` and `scopes`.
//     resolveExternalClient: async (clientId, env) => ({ clientId, jwksUri, scopes: ["twinning:federation"], grantTypes: ["client_credentials"] }) | null,
//
//     // RFC 8693 token exchange with `audience` naming another issuer. Called with the verified,
//     // still-live subject token's claims, the audience, the scopes asked for (each one the client
//     // is registered for) and the client; answers the token response to hand back (RFC 8693 §2.2.1:
//     // access_token, issued_token_type, token_type, expires_in, scope) or null: the audience is not
//     // one it serves, and the client gets `invalid_target` (RFC 8693 §2.2.2).
//     exchangeForForeignAudience: async ({ subject, audience, scope, client, env }) => response | null,
//   });
//
// And for capabilities that mint tokens themselves (e.g. a delegated token for a peer's secondary):
//   mintAccessToken(env, issuer, { sub, client_id, scope, act?, twin_id? })
// issues an RFC 9068 access token signed with the gateway's key, exactly as the token endpoint does;
// its liveness is checked like every other token's (the subscriber object for tel: subjects, with
// twin_id binding it to one relationship; the client object otherwise).
import type { Env } from "../env";
import type { AuthenticatedClient } from "./client-auth";
import { issueAccessToken, type AccessTokenClaims } from "./tokens";

/** A client that is registered elsewhere and vouched for by a capability. */
export interface ExternalClient {
  clientId: string;
  /** Where its public keys are published (https, or what the resolver allows). */
  jwksUri: string;
  scopes: string[];
  grantTypes: string[];
}

export type ExternalClientResolver = (clientId: string, env: Env) => Promise<ExternalClient | null>;

export interface ForeignExchangeRequest {
  /** The subject token's verified claims (our signature, issuer, audience, lifetime; still live). */
  subject: AccessTokenClaims;
  /** RFC 8693 `audience`: the issuer the token is wanted for. */
  audience: string;
  /** The scopes asked for. */
  scope: string[];
  /** The client making the exchange, authenticated. */
  client: AuthenticatedClient;
  env: Env;
}

/** RFC 8693 §2.2.1 token response, handed back to the client as it is. */
export interface ExchangedToken {
  access_token: string;
  issued_token_type: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  [extra: string]: unknown;
}

export type ForeignExchangeHandler = (request: ForeignExchangeRequest) => Promise<ExchangedToken | null>;

/** RFC 8628 §3.1: a device authorization for `subject`, whom the network identified. */
export interface DeviceAuthorizationRequest {
  env: Env;
  issuer: string;
  subject: string;
  clientId: string;
  scope: string;
  /** The request's form, for the capability's own parameters. */
  form: URLSearchParams;
}

/** What the capability issued: the user code the user enters, and the secret the device polls with. */
export interface DeviceAuthorization {
  userCode: string;
  deviceCode: string;
  interval: number;
  expiresAt: number;
  verificationUri: string;
  /** Further members of the response (RFC 8628 §3.2 allows them). */
  extra?: Record<string, unknown>;
}

/** Issues the user code of a device authorization; throws OAuthError for a request it refuses. */
export type DeviceAuthorizer = (request: DeviceAuthorizationRequest) => Promise<DeviceAuthorization>;

export interface OAuthHooks {
  resolveExternalClient?: ExternalClientResolver;
  exchangeForForeignAudience?: ForeignExchangeHandler;
  /** The capability that issues user codes (twinning: an activation code is the user code). */
  authorizeDevice?: DeviceAuthorizer;
}

let hooks: OAuthHooks = {};

/** Registers (or, with undefined, removes) hooks; returns the previous set, so a test can restore it. */
export function registerOAuthHooks(next: OAuthHooks): OAuthHooks {
  const previous = hooks;
  hooks = { ...hooks, ...next };
  return previous;
}

/** Puts back a set returned by registerOAuthHooks. */
export function restoreOAuthHooks(previous: OAuthHooks): void {
  hooks = previous;
}

export const oauthHooks = (): Readonly<OAuthHooks> => hooks;

/** Claims a capability may put in a token it mints. */
export interface MintedClaims {
  sub: string;
  /** The client the token is issued to (its holder): a local client_id or an external client's. */
  client_id: string;
  scope: string;
  /** RFC 8693 actor: who acts for `sub`. */
  act?: { sub: string };
  /** Binds the token to one twinning relationship: it dies when the relationship ends. */
  twin_id?: string;
}

/**
 * Mints an access token as the token endpoint would (RFC 9068, ES256, `iss` = `aud` = issuer).
 * `issuer` is issuerOf(env, requestUrl) of the request being served.
 */
export async function mintAccessToken(env: Env, issuer: string, claims: MintedClaims) {
  const access = await issueAccessToken(env, issuer, claims);
  return { access_token: access.token, token_type: "Bearer" as const, expires_in: access.expiresIn, scope: claims.scope, jti: access.jti, exp: access.exp };
}
