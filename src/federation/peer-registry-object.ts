// The operator's inter-MNO peers (HLF-IC-001): one object, named "peers", owns every registration.
// A peer is an MNO (MCC-MNC) and the OAuth issuer of its gateway; the authorization-server
// metadata read when it was registered (token endpoint, jwks_uri) is kept beside it.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";

export interface PeerRecord {
  /** "MCC-MNC", e.g. "001-02". */
  mno: string;
  issuer: string;
  tokenEndpoint: string;
  jwksUri: string;
  /** When this issuer was first registered for this MNO: tokens it obtained before then are not trusted. */
  trustedSince: number;
  registeredAt: number;
  updatedAt: number;
  /** Our own issuer as the operator's admin request saw it; used when ISSUER is not configured. */
  selfIssuer: string;
}

export interface PeerRegistration {
  mno: string;
  issuer: string;
  tokenEndpoint: string;
  jwksUri: string;
  selfIssuer: string;
}

interface PeerRow extends Record<string, SqlStorageValue> {
  mno: string;
  issuer: string;
  token_endpoint: string;
  jwks_uri: string;
  trusted_since: number;
  registered_at: number;
  updated_at: number;
  self_issuer: string;
}

const record = (r: PeerRow): PeerRecord => ({
  mno: r.mno,
  issuer: r.issuer,
  tokenEndpoint: r.token_endpoint,
  jwksUri: r.jwks_uri,
  trustedSince: r.trusted_since,
  registeredAt: r.registered_at,
  updatedAt: r.updated_at,
  selfIssuer: r.self_issuer,
});

export type RegisterResult = { ok: true; created: boolean; peer: PeerRecord } | { ok: false; reason: string };

export class PeerRegistryObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, [
      `CREATE TABLE peer (mno TEXT PRIMARY KEY, issuer TEXT NOT NULL UNIQUE, token_endpoint TEXT NOT NULL, jwks_uri TEXT NOT NULL,
         trusted_since INTEGER NOT NULL, registered_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, self_issuer TEXT NOT NULL)`,
    ]);
  }

  /** Registers or updates a peer. One issuer serves one MNO here, so a token names exactly one peer. */
  async register(p: PeerRegistration): Promise<RegisterResult> {
    return this.ctx.storage.transactionSync((): RegisterResult => {
      const holder = one<{ mno: string }>(this.sql, "SELECT mno FROM peer WHERE issuer = ? AND mno <> ?", p.issuer, p.mno);
      if (holder) return { ok: false, reason: `issuer is already registered for MNO ${holder.mno}` };
      const now = Date.now();
      const existing = one<PeerRow>(this.sql, "SELECT * FROM peer WHERE mno = ?", p.mno);
      // Re-registering the same issuer keeps the tokens it holds; a new issuer starts from now.
      const trustedSince = existing && existing.issuer === p.issuer ? existing.trusted_since : now;
      this.sql.exec(
        `INSERT INTO peer (mno, issuer, token_endpoint, jwks_uri, trusted_since, registered_at, updated_at, self_issuer)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (mno) DO UPDATE SET issuer = excluded.issuer, token_endpoint = excluded.token_endpoint,
           jwks_uri = excluded.jwks_uri, trusted_since = excluded.trusted_since, updated_at = excluded.updated_at,
           self_issuer = excluded.self_issuer`,
        p.mno, p.issuer, p.tokenEndpoint, p.jwksUri, trustedSince, existing?.registered_at ?? now, now, p.selfIssuer,
      );
      return { ok: true, created: !existing, peer: record(one<PeerRow>(this.sql, "SELECT * FROM peer WHERE mno = ?", p.mno)!) };
    });
  }

  async get(mno: string): Promise<PeerRecord | undefined> {
    const row = one<PeerRow>(this.sql, "SELECT * FROM peer WHERE mno = ?", mno);
    return row ? record(row) : undefined;
  }

  async list(): Promise<PeerRecord[]> {
    return this.sql.exec<PeerRow>("SELECT * FROM peer ORDER BY mno").toArray().map(record);
  }

  async remove(mno: string): Promise<boolean> {
    return this.sql.exec("DELETE FROM peer WHERE mno = ?", mno).rowsWritten > 0;
  }
}
