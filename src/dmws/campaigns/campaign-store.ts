// The campaign's tables in its object's SQLite: the campaign document (one row) and one row per
// device (its wave, its state in the campaign, its job on the device and the job's outcome).
import { one } from "../../http/sql";
import type { CampaignOperation } from "./dispatch";
import { COUNTED_STATES, emptyCounts, type CampaignPlan, type Counts, type CountedState, type DeviceState, type PausedBy } from "./plan";

export const CAMPAIGN_SCHEMA = `
  CREATE TABLE campaign (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
  CREATE TABLE device (seq INTEGER PRIMARY KEY, dev_id TEXT NOT NULL UNIQUE, wave INTEGER NOT NULL, state TEXT NOT NULL,
    job_id TEXT, started_at INTEGER, finished_at INTEGER, reason TEXT, statuses TEXT, cancel_requested INTEGER NOT NULL DEFAULT 0);
  CREATE INDEX device_by_state ON device (state, wave, seq);
  CREATE INDEX device_by_start ON device (started_at);`;

/**
 * The counts per (wave, state), kept by triggers in the statement (so the transaction) that inserts
 * a device or changes its state: a progress read costs O(waves), never a scan of the devices. Also a
 * later result's deadline and code (FUMO), per device.
 */
export const CAMPAIGN_SCHEMA_COUNTS = `
  ALTER TABLE device ADD COLUMN result_deadline INTEGER;
  ALTER TABLE device ADD COLUMN result_code TEXT;
  CREATE INDEX device_by_result_deadline ON device (result_deadline) WHERE result_deadline IS NOT NULL;
  CREATE TABLE device_count (wave INTEGER NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (wave, state));
  INSERT INTO device_count (wave, state, n) SELECT wave, state, COUNT(*) FROM device GROUP BY wave, state;
  CREATE TRIGGER device_counted AFTER INSERT ON device BEGIN
    INSERT INTO device_count (wave, state, n) VALUES (NEW.wave, NEW.state, 1) ON CONFLICT (wave, state) DO UPDATE SET n = n + 1;
  END;
  CREATE TRIGGER device_recounted AFTER UPDATE OF state ON device WHEN OLD.state <> NEW.state BEGIN
    UPDATE device_count SET n = n - 1 WHERE wave = OLD.wave AND state = OLD.state;
    INSERT INTO device_count (wave, state, n) VALUES (NEW.wave, NEW.state, 1) ON CONFLICT (wave, state) DO UPDATE SET n = n + 1;
  END;`;

export type UiMode = "not-specified" | "background" | "informative" | "user-interaction";

export interface CampaignDoc extends CampaignPlan {
  campaignId: string;
  /** "operator", or the client id of the service provider that created it. */
  owner: string;
  name?: string;
  operation: CampaignOperation;
  uiMode: UiMode;
  waves: { size: number } | { count: number };
  maxPerMinute: number;
  deadline: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  pausedBy?: PausedBy;
  pausedWave?: number;
  /** Why the campaign paused, stopped or ended. */
  reason?: string;
  subscriptionId?: string;
}

export interface DeviceRow extends Record<string, SqlStorageValue> {
  seq: number;
  dev_id: string;
  wave: number;
  state: DeviceState;
  job_id: string | null;
  started_at: number | null;
  finished_at: number | null;
  reason: string | null;
  statuses: string | null;
  cancel_requested: number;
  /** A later result (FUMO) not reported by then is a timeout (ms). */
  result_deadline: number | null;
  /** The device's result code (FUMO 200, 410, ...). */
  result_code: string | null;
}

const counted = (s: DeviceState): CountedState => (s === "dispatching" ? "inProgress" : s);
export const IN_FLIGHT = "('dispatching', 'inProgress')";
export const UNFINISHED = "('pending', 'dispatching', 'inProgress')";

export class CampaignStore {
  constructor(private readonly sql: SqlStorage) {}

  doc(): CampaignDoc | undefined {
    const row = one<{ doc: string }>(this.sql, "SELECT doc FROM campaign");
    return row ? (JSON.parse(row.doc) as CampaignDoc) : undefined;
  }

  save(doc: CampaignDoc): void {
    this.sql.exec("INSERT INTO campaign (id, doc) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", JSON.stringify(doc));
  }

  addDevices(devices: { devId: string; wave: number }[]): void {
    for (const d of devices) this.sql.exec("INSERT INTO device (dev_id, wave, state) VALUES (?, ?, 'pending')", d.devId, d.wave);
  }

  device(devId: string): DeviceRow | undefined {
    return one<DeviceRow>(this.sql, "SELECT * FROM device WHERE dev_id = ?", devId);
  }

  /** Counts per state over the whole campaign, and per wave (index = wave), from the counts the triggers keep. */
  counts(waveCount: number): { all: Counts; waves: Counts[] } {
    const all = emptyCounts();
    const waves = Array.from({ length: waveCount }, emptyCounts);
    for (const r of this.sql.exec<{ wave: number; state: DeviceState; n: number }>("SELECT wave, state, n FROM device_count WHERE n > 0")) {
      const s = counted(r.state);
      all[s] += r.n;
      all.total += r.n;
      const w = waves[r.wave];
      if (w) {
        w[s] += r.n;
        w.total += r.n;
      }
    }
    return { all, waves };
  }

  startsSince(t: number): { n: number; oldest: number | null } {
    return one<{ n: number; oldest: number | null }>(this.sql, "SELECT COUNT(*) AS n, MIN(started_at) AS oldest FROM device WHERE started_at > ?", t)!;
  }

  /** Marks up to `limit` pending devices of the released waves as being dispatched, each with a fresh job id. */
  claim(currentWave: number, limit: number, now: number, resultDeadline?: number): DeviceRow[] {
    if (limit <= 0) return [];
    const rows = this.sql.exec<DeviceRow>("SELECT * FROM device WHERE state = 'pending' AND wave <= ? ORDER BY wave, seq LIMIT ?", currentWave, limit).toArray();
    for (const r of rows) {
      r.job_id = crypto.randomUUID();
      r.state = "dispatching";
      r.started_at = now;
      r.result_deadline = resultDeadline ?? null;
      this.sql.exec("UPDATE device SET state = 'dispatching', job_id = ?, started_at = ?, result_deadline = ? WHERE seq = ?", r.job_id, now, r.result_deadline, r.seq);
    }
    return rows;
  }

  /** Devices left in "dispatching" by an earlier run that did not finish (their job id is kept: queueing it again is idempotent). */
  unconfirmed(limit: number): DeviceRow[] {
    return this.sql.exec<DeviceRow>("SELECT * FROM device WHERE state = 'dispatching' AND cancel_requested = 0 ORDER BY seq LIMIT ?", limit).toArray();
  }

  confirm(seq: number): void {
    this.sql.exec("UPDATE device SET state = 'inProgress' WHERE seq = ? AND state = 'dispatching'", seq);
  }

  /**
   * A device's final state in the campaign, once: a device that already has one keeps it (a report
   * delivered twice, or one arriving after the campaign timed the device out, changes nothing).
   */
  finish(devId: string, jobId: string | undefined, state: DeviceState, reason: string | undefined, statuses: (string | null)[] | undefined, now: number, resultCode?: string): boolean {
    const row = one<{ seq: number }>(this.sql, `SELECT seq FROM device WHERE dev_id = ? AND state IN ${UNFINISHED} AND (? IS NULL OR job_id = ?)`, devId, jobId ?? null, jobId ?? null);
    if (!row) return false;
    this.sql.exec(
      "UPDATE device SET state = ?, reason = ?, statuses = ?, finished_at = ?, cancel_requested = 0, result_deadline = NULL, result_code = ? WHERE seq = ?",
      state, reason ?? null, statuses ? JSON.stringify(statuses) : null, now, resultCode ?? null, row.seq,
    );
    return true;
  }

  /** Devices whose later result (FUMO alert 1226) did not come by their result deadline time out. */
  expireResults(now: number): void {
    this.sql.exec(
      `UPDATE device SET state = 'timedOut', reason = 'no result from the device by its result deadline (resultTimeoutSeconds)', finished_at = ?, cancel_requested = 0, result_deadline = NULL
       WHERE result_deadline IS NOT NULL AND result_deadline <= ? AND state IN ${IN_FLIGHT}`, now, now,
    );
  }

  /** The earliest result deadline of a device still waiting for its result. */
  nextResultDeadline(): number | undefined {
    return one<{ t: number | null }>(this.sql, `SELECT MIN(result_deadline) AS t FROM device WHERE result_deadline IS NOT NULL AND state IN ${IN_FLIGHT}`)?.t ?? undefined;
  }

  /** Every device still pending gets `state` (a stop, a cancel, the deadline). */
  finishPending(state: DeviceState, reason: string, now: number): void {
    this.sql.exec("UPDATE device SET state = ?, reason = ?, finished_at = ? WHERE state = 'pending'", state, reason, now);
  }

  finishInFlight(state: DeviceState, reason: string, now: number): void {
    this.sql.exec(`UPDATE device SET state = ?, reason = ?, finished_at = ?, cancel_requested = 0, result_deadline = NULL WHERE state IN ${IN_FLIGHT}`, state, reason, now);
  }

  requestCancel(): void {
    this.sql.exec(`UPDATE device SET cancel_requested = 1 WHERE state IN ${IN_FLIGHT}`);
  }

  toCancel(limit: number): DeviceRow[] {
    return this.sql.exec<DeviceRow>(`SELECT * FROM device WHERE cancel_requested = 1 AND state IN ${IN_FLIGHT} ORDER BY seq LIMIT ?`, limit).toArray();
  }

  cancelSent(seq: number): void {
    this.sql.exec("UPDATE device SET cancel_requested = 0 WHERE seq = ?", seq);
  }

  hasWork(currentWave: number): { dispatchable: boolean; cancels: boolean; unconfirmed: boolean } {
    const r = one<{ d: number; c: number; u: number }>(this.sql, `SELECT
      EXISTS (SELECT 1 FROM device WHERE state = 'pending' AND wave <= ?) AS d,
      EXISTS (SELECT 1 FROM device WHERE cancel_requested = 1 AND state IN ${IN_FLIGHT}) AS c,
      EXISTS (SELECT 1 FROM device WHERE state = 'dispatching' AND cancel_requested = 0) AS u`, currentWave)!;
    return { dispatchable: !!r.d, cancels: !!r.c, unconfirmed: !!r.u };
  }

  /** Devices in campaign order after `after` (a seq), of one counted state when given. */
  list(opts: { state?: CountedState; after: number; limit: number }): DeviceRow[] {
    const states = opts.state === undefined ? undefined : opts.state === "inProgress" ? ["dispatching", "inProgress"] : [opts.state];
    return this.sql.exec<DeviceRow>(
      `SELECT * FROM device WHERE seq > ? ${states ? `AND state IN (${states.map(() => "?").join(", ")})` : ""} ORDER BY seq LIMIT ?`,
      opts.after, ...(states ?? []), opts.limit,
    ).toArray();
  }
}

export const isCountedState = (s: string): s is CountedState => (COUNTED_STATES as readonly string[]).includes(s);
