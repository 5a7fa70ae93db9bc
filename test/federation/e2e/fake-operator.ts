// A third operator written independently of the gateway: a plain Node HTTP server that publishes
// RFC 8414 metadata and a JWKS for its own ES256 key, and a client that gets tokens from a gateway
// with private_key_jwt and calls its federation API. It checks the contract from the outside, the
// way another vendor's gateway would use it.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { call, type Reply } from "./operators";

export interface FakeOperator {
  issuer: string;
  /** A client assertion for `audience` (RFC 7523 §3); `overrides` replaces claims for negative tests. */
  assertion(audience: string, overrides?: Record<string, unknown>): Promise<string>;
  /** client_credentials with private_key_jwt at a gateway's token endpoint. */
  token(gateway: string, scope?: string): Promise<Reply>;
  close(): Promise<void>;
}


export async function startFakeOperator(): Promise<FakeOperator> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const kid = randomUUID();
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
  let issuer = "";
  const server: Server = createServer((req, res) => {
    const send = (body: unknown) => res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    if (req.url === "/.well-known/oauth-authorization-server") {
      return send({
        issuer,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        grant_types_supported: ["client_credentials"],
        token_endpoint_auth_methods_supported: ["private_key_jwt"],
      });
    }
    if (req.url === "/jwks") return send({ keys: [jwk] });
    // A token endpoint that accepts the connection and never answers: a peer that hangs.
    if (req.url === "/token") return;
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const sign = (key: CryptoKey, audience: string, overrides: Record<string, unknown> = {}) =>
    new SignJWT({ iss: issuer, sub: issuer, aud: audience, jti: randomUUID(), ...overrides })
      .setProtectedHeader({ alg: "ES256", kid })
      .setIssuedAt()
      .setExpirationTime("60s")
      .sign(key);
  const op: FakeOperator = {
    issuer,
    assertion: (audience, overrides) => sign(privateKey, audience, overrides),
    token: async (gateway, scope = "twinning:federation") =>
      call(gateway, "POST", "/oauth/token", {
        form: {
          grant_type: "client_credentials",
          scope,
          client_id: issuer,
          client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion: await op.assertion(`${gateway}/oauth/token`),
        },
      }),
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
  return op;
}
