// Reading a peer's authorization-server metadata (RFC 8414) when the operator registers it, and
// checking that federation can work with it: the same issuer (§3.3), a token endpoint that takes
// client_credentials with private_key_jwt, and a JWKS with at least one key.
import type { Env } from "../env";
import { peerFetch, PeerUnavailableError, peerUrlProblem } from "./peer-http";

export interface PeerMetadata {
  tokenEndpoint: string;
  jwksUri: string;
}

/** Thrown with what was wrong, for a 400 that names `issuer`. */
export class DiscoveryError extends Error {}

/** RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path. */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

/** Why `issuer` cannot be an issuer identifier (RFC 8414 §2), or undefined. */
export function issuerProblem(env: Env, issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return "not an absolute URL";
  }
  if (url.search || url.hash || issuer.includes("?") || issuer.includes("#")) return "an issuer has no query or fragment (RFC 8414 §2)";
  return peerUrlProblem(env, issuer);
}

async function getJson(env: Env, url: string, what: string): Promise<Record<string, unknown>> {
  let answer;
  try {
    answer = await peerFetch(env, url, { headers: { Accept: "application/json" } });
  } catch (err) {
    if (err instanceof PeerUnavailableError) throw new DiscoveryError(`${what} at ${url}: ${err.message}`);
    throw err;
  }
  if (answer.status !== 200) throw new DiscoveryError(`${what} at ${url} answered HTTP ${answer.status}`);
  try {
    const parsed: unknown = JSON.parse(answer.text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new DiscoveryError(`${what} at ${url} is not a JSON object`);
}

export async function discoverPeer(env: Env, issuer: string): Promise<PeerMetadata> {
  const meta = await getJson(env, metadataUrl(issuer), "authorization server metadata");
  if (meta.issuer !== issuer) throw new DiscoveryError(`metadata names issuer ${JSON.stringify(meta.issuer)}, not ${issuer} (RFC 8414 §3.3)`);
  const url = (field: string): string => {
    const value = meta[field];
    if (typeof value !== "string") throw new DiscoveryError(`metadata has no ${field}`);
    const problem = peerUrlProblem(env, value);
    if (problem) throw new DiscoveryError(`metadata ${field} ${value}: ${problem}`);
    return value;
  };
  const tokenEndpoint = url("token_endpoint");
  const jwksUri = url("jwks_uri");
  const supports = (field: string, value: string) => {
    const list = meta[field];
    // RFC 8414 §2: an absent list means the defaults, which include neither of ours; be lenient
    // only when the list is absent, never when it leaves ours out.
    if (Array.isArray(list) && !list.includes(value)) throw new DiscoveryError(`metadata ${field} does not include ${value}`);
  };
  supports("grant_types_supported", "client_credentials");
  supports("token_endpoint_auth_methods_supported", "private_key_jwt");
  const jwks = await getJson(env, jwksUri, "JWKS");
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new DiscoveryError(`JWKS at ${jwksUri} has no keys`);
  return { tokenEndpoint, jwksUri };
}
