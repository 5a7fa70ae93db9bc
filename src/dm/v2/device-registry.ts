// The devices a DM account has registered (x.1.2), inside the account's object: what the owner
// told us about each and which protocol it speaks.
import { one } from "../../http/sql";

export const DEVICE_SCHEMA = `
  CREATE TABLE device (dev_id TEXT PRIMARY KEY, name TEXT, protocol TEXT NOT NULL, manufacturer TEXT, model TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);`;
/** v2: the nonce of the device's next package 0 (README decision 14); empty until its first session. */
export const DEVICE_NONCE_STEP = "ALTER TABLE device ADD COLUMN p0_nonce TEXT NOT NULL DEFAULT ''";

export type Protocol = "DM2.0" | "DM1.2" | "both";
export const PROTOCOLS: readonly Protocol[] = ["DM2.0", "DM1.2", "both"];
export const speaksDm2 = (p: Protocol) => p !== "DM1.2";

export interface DeviceFields {
  name?: string;
  protocol: Protocol;
  manufacturer?: string;
  model?: string;
}

export interface RegisteredDevice extends DeviceFields {
  devId: string;
  createdAt: number;
  updatedAt: number;
}

/** An account holds at most this many devices (listing and fan-out stay bounded). */
export const MAX_DEVICES = 500;

interface Row extends Record<string, SqlStorageValue> {
  dev_id: string;
  name: string | null;
  protocol: string;
  manufacturer: string | null;
  model: string | null;
  created_at: number;
  updated_at: number;
}

const view = (r: Row): RegisteredDevice => ({
  devId: r.dev_id,
  protocol: r.protocol as Protocol,
  ...(r.name ? { name: r.name } : {}),
  ...(r.manufacturer ? { manufacturer: r.manufacturer } : {}),
  ...(r.model ? { model: r.model } : {}),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class DeviceRegistry {
  constructor(private readonly sql: SqlStorage) {}

  list(): RegisteredDevice[] {
    return this.sql.exec<Row>("SELECT * FROM device ORDER BY created_at, dev_id").toArray().map(view);
  }

  get(devId: string): RegisteredDevice | undefined {
    const r = one<Row>(this.sql, "SELECT * FROM device WHERE dev_id = ?", devId);
    return r ? view(r) : undefined;
  }

  count(): number {
    return one<{ n: number }>(this.sql, "SELECT COUNT(*) AS n FROM device")!.n;
  }

  add(devId: string, f: DeviceFields): RegisteredDevice {
    const now = Date.now();
    this.sql.exec("INSERT INTO device (dev_id, name, protocol, manufacturer, model, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      devId, f.name ?? null, f.protocol, f.manufacturer ?? null, f.model ?? null, now, now);
    return this.get(devId)!;
  }

  update(devId: string, f: Partial<DeviceFields>): RegisteredDevice | undefined {
    const cur = this.get(devId);
    if (!cur) return undefined;
    const next = { ...cur, ...f };
    this.sql.exec("UPDATE device SET name = ?, protocol = ?, manufacturer = ?, model = ?, updated_at = ? WHERE dev_id = ?",
      next.name || null, next.protocol, next.manufacturer || null, next.model || null, Date.now(), devId);
    return this.get(devId);
  }

  /** The nonce package 0 is digested with for this device (what the device was last given). */
  nonce(devId: string): string {
    return one<{ p0_nonce: string }>(this.sql, "SELECT p0_nonce FROM device WHERE dev_id = ?", devId)?.p0_nonce ?? "";
  }

  /** A new nonce for the device's next package 0, from a session it started: a package 0 made before it no longer verifies. */
  renewNonce(devId: string): string {
    const nonce = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
    this.sql.exec("UPDATE device SET p0_nonce = ? WHERE dev_id = ?", nonce, devId);
    return nonce;
  }

  remove(devId: string): boolean {
    return this.sql.exec("DELETE FROM device WHERE dev_id = ?", devId).rowsWritten > 0;
  }
}
