// One object per registered OAuth client, named by its client_id. It keeps the client's name,
// its registered scopes and a SHA-256 hash of its secret (the secret itself is shown once, at registration).
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";
import { sha256 } from "../http/crypto";

export interface RegisteredClient {
  clientId: string;
  name: string;
  scopes: string[];
}

export class OAuthClientObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    migrate(ctx, [
      `CREATE TABLE client (id INTEGER PRIMARY KEY CHECK (id = 1), client_id TEXT NOT NULL, name TEXT NOT NULL,
         scopes TEXT NOT NULL, secret_hash BLOB NOT NULL, created_at INTEGER NOT NULL)`,
    ]);
  }

  async register(clientId: string, name: string, scopes: string[], secret: string): Promise<RegisteredClient> {
    const hash = await sha256(secret);
    this.ctx.storage.sql.exec(
      "INSERT INTO client (id, client_id, name, scopes, secret_hash, created_at) VALUES (1, ?, ?, ?, ?, ?)",
      clientId, name, scopes.join(" "), hash, Date.now(),
    );
    return { clientId, name, scopes };
  }

  /** The client when `secret` is its secret; undefined for an unknown client or a wrong secret. */
  async authenticate(secret: string): Promise<RegisteredClient | undefined> {
    const row = one<{ client_id: string; name: string; scopes: string; secret_hash: ArrayBuffer }>(this.ctx.storage.sql, "SELECT * FROM client");
    const presented = await sha256(secret);
    const stored = row ? new Uint8Array(row.secret_hash) : new Uint8Array(presented.length);
    const equal = stored.length === presented.length && crypto.subtle.timingSafeEqual(stored, presented);
    if (!row || !equal) return undefined;
    return { clientId: row.client_id, name: row.name, scopes: row.scopes.split(" ").filter(Boolean) };
  }
}
