// The device object's tables: the schema steps, the account row, and the port through which the
// session engine reads and writes them (./engine.ts DevicePort), and the conversion of accounts stored
// with plain-text secrets.
import type { Env } from "../env";
import { secretDigest } from "../codec";
import { one } from "../http/sql";
import { keyFor } from "./device-types";
import type { DevicePort } from "./engine";
import type { JobStore, SqlJobRows } from "./job-store";
import type { Dm2Registration } from "./dm2-registration";
import { DEFAULT_LOCKOUT, randomNonce, registerFailure, sealSecret, type AuthType, type FailureState } from "./security";

export const SESSION_IDLE_MS = 10 * 60_000;

export const SCHEMA = [
  `CREATE TABLE account (id INTEGER PRIMARY KEY CHECK (id = 1), dev_id TEXT NOT NULL, server_id TEXT NOT NULL, auth_type TEXT NOT NULL,
     client_username TEXT NOT NULL, client_password TEXT NOT NULL, server_password TEXT NOT NULL, subscriber TEXT,
     client_nonce TEXT NOT NULL, server_nonce TEXT NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE tree (uri TEXT PRIMARY KEY, value TEXT NOT NULL, format TEXT, type TEXT, updated_at INTEGER NOT NULL);
   CREATE TABLE job (job_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, state TEXT NOT NULL, doc TEXT NOT NULL);
   CREATE TABLE notification (id TEXT PRIMARY KEY, session_num INTEGER NOT NULL, package0 TEXT NOT NULL, created_at INTEGER NOT NULL, consumed_at INTEGER);
   CREATE TABLE generic_alert (seq INTEGER PRIMARY KEY AUTOINCREMENT, correlator TEXT, doc TEXT NOT NULL);
   CREATE TABLE session (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);`,
  // v2: the session engine looks up unfinished jobs in queue order on every message
  `CREATE INDEX job_by_state ON job (state, seq);`,
  // v3: secrets kept as verification needs them (the client's as B64(MD5(name:secret)), the server's
  // sealed), failed attempts per device, the device's choice of server credentials, job deadlines.
  // Sessions of the old shape are dropped (a device simply starts a new one).
  `ALTER TABLE account ADD COLUMN client_digest TEXT;
   ALTER TABLE account ADD COLUMN server_secret TEXT;
   ALTER TABLE account ADD COLUMN client_nonce_prev TEXT;
   ALTER TABLE account ADD COLUMN server_auth_type TEXT;
   ALTER TABLE account ADD COLUMN auth_failures INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE account ADD COLUMN auth_window_start INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE account ADD COLUMN locked_until INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE job ADD COLUMN deadline INTEGER;
   UPDATE job SET deadline = CAST(strftime('%s', json_extract(doc, '$.createdAt')) AS INTEGER) * 1000 + 604800000;
   CREATE TABLE security_event (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
   DELETE FROM session;`,
  // v4 (after the rows of v3 were converted, see upgradeSecrets): the plain-text columns go.
  `ALTER TABLE account DROP COLUMN client_password;
   ALTER TABLE account DROP COLUMN server_password;`,
];

export interface AccountRow extends Record<string, SqlStorageValue> {
  dev_id: string;
  server_id: string;
  auth_type: AuthType;
  client_username: string;
  client_digest: string;
  server_secret: string;
  subscriber: string | null;
  client_nonce: string;
  client_nonce_prev: string | null;
  server_nonce: string;
  server_auth_type: AuthType | null;
  auth_failures: number;
  auth_window_start: number;
  locked_until: number;
  created_at: number;
}

export function failures(a: AccountRow): FailureState {
  return { failures: a.auth_failures, windowStart: a.auth_window_start, lockedUntil: a.locked_until };
}

/** The engine's view of a device's tables, inside the message's transaction. */
export function devicePort(sql: SqlStorage, a: AccountRow, jobs: JobStore, rows: SqlJobRows, dm2: Dm2Registration): DevicePort {
  return {
    speaksDm2: () => dm2.speaksDm2(),
    storeNode: (uri, value, format, type) => {
      sql.exec(
        "INSERT INTO tree (uri, value, format, type, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (uri) DO UPDATE SET value = excluded.value, format = excluded.format, type = excluded.type, updated_at = excluded.updated_at",
        normaliseUri(uri), value, format ?? null, type ?? null, Date.now(),
      );
    },
    node: (uri) => one<{ value: string }>(sql, "SELECT value FROM tree WHERE uri = ?", normaliseUri(uri))?.value,
    genericAlert: (correlator, alerts) => {
      // 1226 Generic Alert (e.g. a firmware update's final result): kept, and attached to the job command with that correlator.
      sql.exec("INSERT INTO generic_alert (correlator, doc) VALUES (?, ?)", correlator ?? null, JSON.stringify(alerts));
      if (correlator) jobs.attachAlerts(correlator, alerts, rows.recent(50));
    },
    consumeNotification: (sessionId) => {
      const num = parseInt(sessionId, 16);
      if (Number.isFinite(num)) sql.exec("UPDATE notification SET consumed_at = ? WHERE session_num = ? AND consumed_at IS NULL", Date.now(), num);
    },
    freshClientNonce: () => {
      const nonce = randomNonce();
      sql.exec("UPDATE account SET client_nonce_prev = client_nonce, client_nonce = ?", nonce);
      return nonce;
    },
    serverChallenge: (type, nextNonce) => {
      if (nextNonce !== undefined) sql.exec("UPDATE account SET server_nonce = ?", nextNonce);
      if (type && a.auth_type !== "syncml:auth-MAC") sql.exec("UPDATE account SET server_auth_type = ?", type);
    },
    authFailed: () => {
      const now = Date.now();
      const current = one<AccountRow>(sql, "SELECT * FROM account")!;
      const { state, lockedNow } = registerFailure(failures(current), now, DEFAULT_LOCKOUT);
      sql.exec("UPDATE account SET auth_failures = ?, auth_window_start = ?, locked_until = ?", state.failures, state.windowStart, state.lockedUntil);
      if (lockedNow) {
        const detail = `${state.failures} wrong DM credentials within ${DEFAULT_LOCKOUT.windowMs / 60_000} minutes; sessions refused until ${new Date(state.lockedUntil).toISOString()}`;
        sql.exec("INSERT INTO security_event (at, kind, detail) VALUES (?, 'auth-lockout', ?)", now, detail);
        // The operator alert: one structured line per lock-out (never the credentials themselves).
        console.warn(JSON.stringify({ event: "dm.auth.lockout", devId: a.dev_id, failures: state.failures, lockedUntil: new Date(state.lockedUntil).toISOString() }));
      }
      return lockedNow;
    },
    authSucceeded: () => {
      sql.exec("UPDATE account SET auth_failures = 0, auth_window_start = 0 WHERE auth_failures > 0");
    },
  };
}

/** "./DevInfo/Mod" and "DevInfo/Mod" name the same node. */
function normaliseUri(uri: string): string {
  return uri.startsWith("./") || uri.startsWith("/") ? uri : `./${uri}`;
}

/** Converts an account stored with plain-text passwords (before v4); false while that cannot be done (no key). */
export async function upgradeSecrets(ctx: DurableObjectState, env: Env): Promise<boolean> {
  const sql = ctx.storage.sql;
  const cols = sql.exec<{ name: string }>("PRAGMA table_info(account)").toArray().map((c) => c.name);
  if (!cols.includes("client_password")) return true;
  const legacy = one<{ client_username: string; client_password: string; server_password: string; dev_id: string; client_digest: string | null }>(
    sql, "SELECT client_username, client_password, server_password, dev_id, client_digest FROM account");
  if (!legacy || legacy.client_digest) return true;
  let key: CryptoKey;
  try {
    key = await keyFor(env);
  } catch {
    console.error("DM: DM_SECRET_KEY is not set; a device account with plain-text secrets waits for it to be converted");
    return false;
  }
  const sealed = await sealSecret(key, legacy.server_password, legacy.dev_id);
  ctx.storage.transactionSync(() =>
    sql.exec("UPDATE account SET client_digest = ?, server_secret = ?, client_password = '', server_password = ''", secretDigest(legacy.client_username, legacy.client_password), sealed));
  return true;
}
