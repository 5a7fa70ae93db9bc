// A device's DM 2.0 registration, in its own object: which DM account claimed it (src/dm/v2/) and
// the protocol it was registered with. The table exists only once a DM account claimed the device,
// so a DM 1.2-only device's storage is as it always was.
import { hasTable, one } from "../http/sql";
import type { Dm2Binding } from "./device-types";

export class Dm2Registration {
  constructor(private readonly sql: SqlStorage) {}

  get(): Dm2Binding | undefined {
    if (!hasTable(this.sql, "dm2_binding")) return undefined;
    const r = one<{ account_id: string; protocol: string }>(this.sql, "SELECT account_id, protocol FROM dm2_binding");
    return r ? { accountId: r.account_id, protocol: r.protocol } : undefined;
  }

  /** Whether DM 2.0 sessions may carry this device's jobs (it was registered as DM2.0 or both). */
  speaksDm2(): boolean {
    const b = this.get();
    return b !== undefined && b.protocol !== "DM1.2";
  }

  set(accountId: string, protocol: string): void {
    this.sql.exec("CREATE TABLE IF NOT EXISTS dm2_binding (id INTEGER PRIMARY KEY CHECK (id = 1), account_id TEXT NOT NULL, protocol TEXT NOT NULL)");
    this.sql.exec("INSERT INTO dm2_binding (id, account_id, protocol) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET protocol = excluded.protocol", accountId, protocol);
  }

  remove(): void {
    this.sql.exec("DELETE FROM dm2_binding");
  }
}
