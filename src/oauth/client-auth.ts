// Client authentication at the token, device authorization, revocation and introspection
// endpoints: client_secret_basic (RFC 6749 §2.3.1), client_secret_post, private_key_jwt
// (RFC 7523 §2.2) and none for public clients (RFC 6749 §2.1, only with the grants that allow it).
import { decodeJwt } from "jose";
import type { Context } from "hono";
import type { AppEnv } from "../env";
import type { Env } from "../env";
import type { OAuthClientObject, RegisteredClient, SecretVerdict } from "./client-object";
import { CLIENT_REPLICAS, clientReplicaName, isIssuedClientId } from "./object-names";
import { remoteKeySet, verifyClientAssertion } from "./client-assertion";
import { oauthHooks } from "./hooks";
import { echo } from "../http/errors";
import { guessAddress } from "../http/failure-ledger";
import { OAuthError, tooManyAtOAuth } from "./errors";

export const CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface AuthenticatedClient extends RegisteredClient {
  /** False for public clients, which proved nothing about themselves. */
  confidential: boolean;
  /** Registered elsewhere and vouched for by a hook (hooks.ts), not by an object of ours. */
  external?: boolean;
}

const unknown = () => new OAuthError("invalid_client", "unknown client or wrong credentials");

/**
 * The client whose secret `secret` is, checked at one of its replicas; wrong secrets are counted per
 * calling address and lock it out after AUTH_FAILURE_LIMIT (RFC 6749 §2.3.1, §10.10): 429 then.
 */
async function secretClient(c: Context<AppEnv>, id: string, secret: string): Promise<AuthenticatedClient> {
  const replica = await credentialReplica(c.env, id);
  const verdict: SecretVerdict = replica ? await replica.replicaVerifySecret(id, secret, guessAddress(c)) : {};
  if (verdict.lockedFor !== undefined) throw tooManyAtOAuth("too many wrong client credentials from this address", verdict.lockedFor);
  if (!verdict.client) throw unknown();
  return { ...verdict.client, confidential: true };
}

/**
 * The object of a client_id this server issued; undefined for any other id, decided without
 * calling an object (object-names.ts), so that strangers' ids leave nothing behind.
 */
export async function registeredClient(env: Env, id: string): Promise<DurableObjectStub<OAuthClientObject> | undefined> {
  return CLIENT_ID.test(id) && (await isIssuedClientId(env, id)) ? env.OAUTH_CLIENTS.getByName(id) : undefined;
}

/**
 * The replica the next request of this isolate asks: in turn from a random start, so that the requests
 * one isolate has in flight at once go to different replicas (at random, some would meet at one), and
 * isolates do not move in step. Not a secret: it only spreads load.
 */
let nextReplica = Math.floor(Math.random() * CLIENT_REPLICAS);

/**
 * One of the client's credential replicas (credential-replica.ts), for the checks that only read the
 * registration and the secret's hash; undefined when registeredClient would be. Everything that writes
 * (assertion jtis, codes) stays with the client's own object.
 */
async function credentialReplica(env: Env, id: string): Promise<DurableObjectStub<OAuthClientObject> | undefined> {
  if (!CLIENT_ID.test(id) || !(await isIssuedClientId(env, id))) return undefined;
  nextReplica = (nextReplica + 1) % CLIENT_REPLICAS;
  return env.OAUTH_CLIENTS.getByName(clientReplicaName(id, nextReplica));
}

function basicCredentials(header: string): [string, string] {
  // The scheme first, then its credentials, so that `Basic !!!` is told what is wrong with it.
  if (!/^Basic(\s|$)/i.test(header)) throw new OAuthError("invalid_client", "unsupported Authorization scheme");
  const m = header.match(/^Basic\s+([A-Za-z0-9+/]+=*)$/i);
  if (!m) throw new OAuthError("invalid_client", "malformed Basic credentials: expected base64 of client_id:client_secret");
  try {
    const decoded = atob(m[1]!);
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new Error();
    const unescape = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
    return [unescape(decoded.slice(0, colon)), unescape(decoded.slice(colon + 1))];
  } catch {
    throw new OAuthError("invalid_client", "malformed Basic credentials");
  }
}

/** `audiences`: what a private_key_jwt assertion may name as `aud` (the endpoint URL or the issuer). */
export async function authenticateClient(c: Context<AppEnv>, form: URLSearchParams, audiences: string[]): Promise<AuthenticatedClient> {
  const header = c.req.header("authorization");
  const assertionType = form.get("client_assertion_type");
  const methods = [header !== undefined, form.has("client_secret"), assertionType !== null].filter(Boolean).length;
  if (methods > 1) throw new OAuthError("invalid_request", "more than one client authentication method");
  if (header !== undefined) {
    const [id, secret] = basicCredentials(header);
    // RFC 6749 §2.3, §3.2.1: a request names one client. A body client_id that names another is
    // refused as the private_key_jwt mismatch below is (invalid_client), not ignored: a client bug or
    // a proxy rewriting one of the two would otherwise go unnoticed. Checked before the secret, as it
    // depends on the request alone.
    const named = form.get("client_id");
    if (named !== null && named !== id) throw new OAuthError("invalid_client", "client_id does not match the client authenticated by HTTP Basic");
    return secretClient(c, id, secret);
  }
  if (assertionType !== null) {
    if (assertionType !== CLIENT_ASSERTION_TYPE) throw new OAuthError("invalid_client", "unsupported client_assertion_type");
    const assertion = form.get("client_assertion");
    if (!assertion) throw new OAuthError("invalid_request", "client_assertion missing");
    let iss: unknown;
    try {
      iss = decodeJwt(assertion).iss;
    } catch {
      throw new OAuthError("invalid_client", "client_assertion is not a JWT");
    }
    const id = form.get("client_id") ?? iss;
    if (typeof id !== "string" || id !== iss) throw unknown();
    const stub = await registeredClient(c.env, id);
    if (!stub) return externalClient(c, id, assertion, audiences);
    // At the client's own object, not a replica: the assertion's jti is spent there in the same call,
    // so a replica would add a call without sparing this one.
    const result = await stub.authenticateAssertion(assertion, audiences);
    if (!result.client) throw new OAuthError("invalid_client", result.reason ?? "client assertion rejected");
    return { ...result.client, confidential: true };
  }
  const id = form.get("client_id");
  if (!id || !CLIENT_ID.test(id)) throw new OAuthError("invalid_client", "client authentication required");
  if (form.has("client_secret")) return secretClient(c, id, form.get("client_secret")!);
  const client = await (await credentialReplica(c.env, id))?.replicaInfo(id);
  if (!client || client.authMethod !== "none") throw new OAuthError("invalid_client", "client authentication required");
  return { ...client, confidential: false };
}

/**
 * private_key_jwt of a client registered elsewhere (hooks.ts): the resolver vouches for it and for
 * its JWKS URL; the assertion is held to the same rules as a local client's.
 */
async function externalClient(c: Context<AppEnv>, id: string, assertion: string, audiences: string[]): Promise<AuthenticatedClient> {
  const resolve = oauthHooks().resolveExternalClient;
  const external = resolve ? await resolve(id, c.env) : null;
  if (!external || external.clientId !== id) throw unknown();
  const check = await verifyClientAssertion(assertion, remoteKeySet(external.jwksUri), id, audiences);
  if (!check.ok) throw new OAuthError("invalid_client", check.reason);
  if (!(await c.env.OAUTH_CLIENTS.getByName(id).spendExternalAssertionJti(check.jti, check.exp))) throw new OAuthError("invalid_client", "client assertion jti was already used");
  return { clientId: id, name: id, scopes: external.scopes, grantTypes: external.grantTypes, redirectUris: [], authMethod: "private_key_jwt", confidential: true, external: true };
}

/** RFC 6749 §3.3: the requested scopes, every one of which the client must be registered for. */
export function grantedScopes(client: RegisteredClient, requested: string | null, allowed?: readonly string[]): string[] {
  const registered = client.scopes.filter((s) => !allowed || allowed.includes(s));
  if (requested === null || requested.trim() === "") {
    if (registered.length === 0) throw new OAuthError("invalid_scope", "no scope the client is registered for fits this grant");
    return registered;
  }
  const scopes = [...new Set(requested.split(" ").filter(Boolean))];
  const notAllowed = scopes.filter((s) => !registered.includes(s));
  if (notAllowed.length) throw new OAuthError("invalid_scope", `scope not available to this client for this grant: ${echo(notAllowed.join(" "))}`);
  return scopes;
}
