// The subscriber's provisioning: its address, MNO and device key (which never leaves the object),
// and from which second its tokens count (a recycled number never inherits the previous holder's).
import { ApiError } from "../http/errors";
import { one, type StoreSchema } from "../http/sql";
import type { Mno } from "./schemas";

export const PROFILE_SCHEMA: StoreSchema = {
  name: "profile",
  steps: [
    `CREATE TABLE profile (id INTEGER PRIMARY KEY CHECK (id = 1), address TEXT NOT NULL, mcc TEXT NOT NULL,
       mnc TEXT NOT NULL, device_key BLOB NOT NULL, created_at INTEGER NOT NULL);`,
    // Tokens issued (iat) before tokens_from belong to a previous holder of the number; `retired`
    // outlives deprovisioning and says until which second the previous holder's tokens run.
    `ALTER TABLE profile ADD COLUMN tokens_from INTEGER NOT NULL DEFAULT 0;
     CREATE TABLE retired (id INTEGER PRIMARY KEY CHECK (id = 1), until_s INTEGER NOT NULL);`,
  ],
};

export interface ProfileRow extends Record<string, SqlStorageValue> {
  address: string;
  mcc: string;
  mnc: string;
  device_key: ArrayBuffer;
  created_at: number;
  tokens_from: number;
}

export class ProfileStore {
  /** Only provisioning changes the profile, so it is read from SQLite once per instance. */
  private cache: ProfileRow | null | undefined;

  constructor(private readonly sql: SqlStorage) {}

  row(): ProfileRow | undefined {
    if (this.cache === undefined) this.cache = one<ProfileRow>(this.sql, "SELECT * FROM profile") ?? null;
    return this.cache ?? undefined;
  }

  /** The profile, or 401: a token that outlived its subscriber names a subject that no longer exists. */
  require(): ProfileRow {
    const row = this.row();
    if (!row) throw new ApiError(401, "POL0001", ["subscriber is not provisioned"], { "WWW-Authenticate": 'Bearer error="invalid_token"' });
    return row;
  }

  mno(): Mno {
    const p = this.require();
    return { mcc: p.mcc, mnc: p.mnc };
  }

  /**
   * A recycled number: every token of the previous holder has iat <= retired.until_s. The new
   * holder's profile starts in a later second, so each of its tokens has a later iat and none of
   * the old ones passes. At most one second's wait, only when the number was removed this second.
   */
  async waitUntilRecyclable(): Promise<void> {
    const retired = this.retiredUntil();
    if (retired === undefined || this.row()) return;
    const wait = (retired + 1) * 1000 - Date.now();
    if (wait > 0) await scheduler.wait(wait);
  }

  private retiredUntil(): number | undefined {
    return one<{ until_s: number }>(this.sql, "SELECT until_s FROM retired")?.until_s;
  }

  /** Inside the provisioning transaction. True when the profile is new. */
  upsert(address: string, mno: Mno, deviceKey: Uint8Array): boolean {
    const existing = this.row();
    if (existing && existing.address !== address) throw new ApiError(500, "SVC0001", ["subscriber object holds another address"]);
    const retired = this.retiredUntil();
    this.sql.exec(
      `INSERT INTO profile (id, address, mcc, mnc, device_key, created_at, tokens_from) VALUES (1, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET mcc = excluded.mcc, mnc = excluded.mnc, device_key = excluded.device_key`,
      address, mno.mcc, mno.mnc, deviceKey, Date.now(), retired === undefined ? 0 : retired + 1,
    );
    this.cache = undefined;
    return !existing;
  }

  /** Inside the deprovisioning transaction: the profile goes, the second its tokens end stays. */
  remove(): void {
    this.sql.exec("DELETE FROM profile");
    this.sql.exec("INSERT INTO retired (id, until_s) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET until_s = excluded.until_s", Math.floor(Date.now() / 1000));
    this.cache = null;
  }

  /** Forgets the profile read into memory (a transaction that wrote it rolled back). */
  forget(): void {
    this.cache = undefined;
  }
}
