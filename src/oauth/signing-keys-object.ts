// The gateway's token-signing keys (ES256). One object, named "signing-keys", owns them; Workers
// cache the key material per isolate (see tokens.ts). Rotation: a new key signs from then on; a
// retired key stays in the JWKS until every token it signed has expired, then it is dropped.
import { DurableObject } from "cloudflare:workers";
import { exportJWK, generateKeyPair, type JWK } from "jose";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";

export interface SigningKeySet {
  /** The key that signs new tokens. */
  active: { kid: string; privateJwk: JWK };
  /** Every key whose tokens may still be valid, public parts only (the JWKS), newest first. */
  keys: JWK[];
}

export class SigningKeysObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx, [
      `CREATE TABLE keys (kid TEXT PRIMARY KEY, private_jwk TEXT NOT NULL, public_jwk TEXT NOT NULL,
         created_at INTEGER NOT NULL, retired_at INTEGER)`,
      `CREATE TABLE name_key (id INTEGER PRIMARY KEY CHECK (id = 1), secret BLOB NOT NULL)`,
    ]);
  }

  private async newKey(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
    const kid = crypto.randomUUID();
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" };
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" };
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("UPDATE keys SET retired_at = ? WHERE retired_at IS NULL", now);
      this.ctx.storage.sql.exec("INSERT INTO keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)", kid, JSON.stringify(privateJwk), JSON.stringify(publicJwk), now);
    });
  }

  /** `maxTokenTtlMs`: how long after retirement a key's tokens may still be presented. */
  async keySet(maxTokenTtlMs: number): Promise<SigningKeySet> {
    const sql = this.ctx.storage.sql;
    // Serialised so that two first requests do not both create a key.
    return this.ctx.blockConcurrencyWhile(async () => {
      let active = one<{ kid: string; private_jwk: string }>(sql, "SELECT kid, private_jwk FROM keys WHERE retired_at IS NULL");
      if (!active) {
        await this.newKey();
        active = one(sql, "SELECT kid, private_jwk FROM keys WHERE retired_at IS NULL")!;
      }
      sql.exec("DELETE FROM keys WHERE retired_at IS NOT NULL AND retired_at < ?", Date.now() - maxTokenTtlMs);
      const keys = sql.exec<{ public_jwk: string }>("SELECT public_jwk FROM keys ORDER BY created_at DESC").toArray().map((r) => JSON.parse(r.public_jwk) as JWK);
      return { active: { kid: active.kid, privateJwk: JSON.parse(active.private_jwk) }, keys };
    });
  }

  /**
   * The HMAC secret that tags the names of objects only this server creates (object-names.ts).
   * Made once and never rotated: rotating it would orphan every client_id and refresh token.
   */
  async nameKey(): Promise<ArrayBuffer> {
    const sql = this.ctx.storage.sql;
    return this.ctx.storage.transactionSync(() => {
      const row = one<{ secret: ArrayBuffer }>(sql, "SELECT secret FROM name_key");
      if (row) return row.secret;
      const secret = crypto.getRandomValues(new Uint8Array(32));
      sql.exec("INSERT INTO name_key (id, secret) VALUES (1, ?)", secret);
      return secret.buffer;
    });
  }

  /** Retires the active key and makes a new one; returns the new kid. */
  async rotate(): Promise<string> {
    return this.ctx.blockConcurrencyWhile(async () => {
      await this.newKey();
      return one<{ kid: string }>(this.ctx.storage.sql, "SELECT kid FROM keys WHERE retired_at IS NULL")!.kid;
    });
  }
}
