// The gateway's token-signing keys (ES256). One object, named "signing-keys", owns them; Workers
// cache the key material per isolate and come back only for a key id they have not seen.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import { migrate, one } from "../http/sql";

export interface SigningKeySet {
  /** The key that signs new tokens. */
  active: { kid: string; privateJwk: JWK };
  /** Every key whose tokens may still be valid, public parts only (the JWKS). */
  keys: JWK[];
}

export class SigningKeysObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx, [
      `CREATE TABLE keys (kid TEXT PRIMARY KEY, private_jwk TEXT NOT NULL, public_jwk TEXT NOT NULL,
         created_at INTEGER NOT NULL, retired_at INTEGER)`,
    ]);
  }

  async keySet(): Promise<SigningKeySet> {
    const sql = this.ctx.storage.sql;
    let active = one<{ kid: string; private_jwk: string }>(sql, "SELECT kid, private_jwk FROM keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1");
    if (!active) {
      const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
      const kid = crypto.randomUUID();
      const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" };
      const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
      // Two first requests may both get here across the await: the first insert wins.
      sql.exec("INSERT OR IGNORE INTO keys (kid, private_jwk, public_jwk, created_at) SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM keys WHERE retired_at IS NULL)",
        kid, JSON.stringify(privateJwk), JSON.stringify(publicJwk), Date.now());
      active = one(sql, "SELECT kid, private_jwk FROM keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1")!;
    }
    const keys = sql.exec<{ public_jwk: string }>("SELECT public_jwk FROM keys ORDER BY created_at DESC").toArray().map((r) => JSON.parse(r.public_jwk) as JWK);
    return { active: { kid: active.kid, privateJwk: JSON.parse(active.private_jwk) }, keys };
  }
}
