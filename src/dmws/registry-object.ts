// The operator's DM web-services registry, one object ("registry"): the device inventory (the
// attributes group filters select on), the device groups, each provider's grants and the audit
// trail of refusals and grant changes. An authorization and the audit entry of its refusal are one
// transaction, so no refusal goes unrecorded.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { migrate, one } from "../http/sql";
import {
  matchesFilter, normaliseSubtree, subtreeCovers,
  type DeviceAttributes, type Grant, type GroupDefinition, type GroupFilter, type Operation, type Refusal,
} from "./access-model";

const SCHEMA = [
  `CREATE TABLE device (dev_id TEXT PRIMARY KEY, manufacturer TEXT, model TEXT, firmware_version TEXT, mno TEXT, subscriber TEXT, updated_at INTEGER NOT NULL);
   CREATE INDEX device_by_subscriber ON device (subscriber);
   CREATE TABLE grp (name TEXT PRIMARY KEY, filter TEXT, created_at INTEGER NOT NULL);
   CREATE TABLE grp_member (name TEXT NOT NULL, dev_id TEXT NOT NULL, PRIMARY KEY (name, dev_id));
   CREATE TABLE grant_rule (client_id TEXT NOT NULL, seq INTEGER NOT NULL, group_name TEXT NOT NULL, subtrees TEXT NOT NULL, operations TEXT NOT NULL, PRIMARY KEY (client_id, seq));
   CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, client_id TEXT NOT NULL, kind TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
   CREATE INDEX audit_by_client ON audit (client_id, at);`,
];

export const REGISTRY_NAME = "registry";

export interface DeviceRecord extends DeviceAttributes {
  devId: string;
}

export interface Group {
  name: string;
  devices?: string[];
  filter?: GroupFilter;
  createdAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface AuthorizationRequest {
  provider: string;
  /** Device ids, or a whole group. */
  devices: string[] | { group: string };
  subtree: string;
  operations: Operation[];
  /** What the provider tried (e.g. "POST /dmws/v1/operations fumo"), for the audit trail. */
  action: string;
}

export type AuthorizationDecision = { allowed: true; devices: string[] } | { allowed: false; refusal: Refusal };

export interface AuditEntry {
  seq: number;
  at: string;
  provider: string;
  kind: "refusal" | "grants-changed";
  action: string;
  /** JSON text: a refusal's `refused` and `asked`, a grant change's `before` and `after`. */
  detail: string;
}

interface DeviceRow extends Record<string, SqlStorageValue> {
  dev_id: string;
  manufacturer: string | null;
  model: string | null;
  firmware_version: string | null;
  mno: string | null;
  subscriber: string | null;
}

const MAX_PAGE = 1000;
/** A group named in an authorization is expanded up to this many devices. */
const MAX_GROUP_EXPANSION = 100_000;

function record(r: DeviceRow): DeviceRecord {
  return {
    devId: r.dev_id,
    ...(r.manufacturer !== null ? { manufacturer: r.manufacturer } : {}),
    ...(r.model !== null ? { model: r.model } : {}),
    ...(r.firmware_version !== null ? { firmwareVersion: r.firmware_version } : {}),
    ...(r.mno !== null ? { mno: r.mno } : {}),
    ...(r.subscriber !== null ? { subscriber: r.subscriber } : {}),
  };
}

export class DmwsRegistryObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
  }

  private tx<T>(fn: () => T): T {
    return this.ctx.storage.transactionSync(fn);
  }

  // ------------------------------------------------------------------ inventory

  putDevice(d: DeviceRecord): { created: boolean; device: DeviceRecord } {
    return this.tx(() => {
      const created = !one(this.sql, "SELECT dev_id FROM device WHERE dev_id = ?", d.devId);
      this.sql.exec(
        `INSERT INTO device (dev_id, manufacturer, model, firmware_version, mno, subscriber, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (dev_id) DO UPDATE SET manufacturer = excluded.manufacturer, model = excluded.model, firmware_version = excluded.firmware_version,
           mno = excluded.mno, subscriber = excluded.subscriber, updated_at = excluded.updated_at`,
        d.devId, d.manufacturer ?? null, d.model ?? null, d.firmwareVersion ?? null, d.mno ?? null, d.subscriber ?? null, Date.now(),
      );
      return { created, device: this.deviceRecord(d.devId)! };
    });
  }

  deleteDevice(devId: string): boolean {
    return this.tx(() => {
      const existed = !!one(this.sql, "SELECT dev_id FROM device WHERE dev_id = ?", devId);
      this.sql.exec("DELETE FROM device WHERE dev_id = ?", devId);
      this.sql.exec("DELETE FROM grp_member WHERE dev_id = ?", devId);
      return existed;
    });
  }

  deviceRecord(devId: string): DeviceRecord | undefined {
    const r = one<DeviceRow>(this.sql, "SELECT * FROM device WHERE dev_id = ?", devId);
    return r ? record(r) : undefined;
  }

  /** The devices of a subscriber (service provisioning), in devId order. */
  devicesOfSubscriber(subscriber: string): string[] {
    return this.sql.exec<{ dev_id: string }>("SELECT dev_id FROM device WHERE subscriber = ? ORDER BY dev_id", subscriber).toArray().map((r) => r.dev_id);
  }

  // ------------------------------------------------------------------ groups

  putGroup(name: string, def: GroupDefinition): { created: boolean; group: Group } {
    return this.tx(() => {
      const created = !one(this.sql, "SELECT name FROM grp WHERE name = ?", name);
      this.sql.exec(
        "INSERT INTO grp (name, filter, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET filter = excluded.filter",
        name, "filter" in def ? JSON.stringify(def.filter) : null, Date.now(),
      );
      this.sql.exec("DELETE FROM grp_member WHERE name = ?", name);
      if ("devices" in def) for (const d of new Set(def.devices)) this.sql.exec("INSERT INTO grp_member (name, dev_id) VALUES (?, ?)", name, d);
      return { created, group: this.group(name)! };
    });
  }

  deleteGroup(name: string): boolean {
    return this.tx(() => {
      const existed = !!one(this.sql, "SELECT name FROM grp WHERE name = ?", name);
      this.sql.exec("DELETE FROM grp WHERE name = ?", name);
      this.sql.exec("DELETE FROM grp_member WHERE name = ?", name);
      return existed;
    });
  }

  group(name: string, opts: { withDevices?: boolean } = {}): Group | undefined {
    const g = one<{ name: string; filter: string | null; created_at: number }>(this.sql, "SELECT * FROM grp WHERE name = ?", name);
    if (!g) return undefined;
    const base = { name: g.name, createdAt: new Date(g.created_at).toISOString() };
    if (g.filter !== null) return { ...base, filter: JSON.parse(g.filter) as GroupFilter };
    return opts.withDevices === false ? base : { ...base, devices: this.members(name, undefined, MAX_PAGE).items };
  }

  groups(): Group[] {
    return this.sql.exec<{ name: string }>("SELECT name FROM grp ORDER BY name").toArray().map((r) => this.group(r.name, { withDevices: false })!);
  }

  /** The device ids of a group in devId order, `limit` at a time after `cursor` (the last id of the page before). */
  resolveGroup(name: string, cursor: string | undefined, limit: number): Page<string> | undefined {
    if (!one(this.sql, "SELECT name FROM grp WHERE name = ?", name)) return undefined;
    return this.members(name, cursor, Math.max(1, Math.min(limit, MAX_PAGE)));
  }

  private members(name: string, cursor: string | undefined, limit: number): Page<string> {
    const g = one<{ filter: string | null }>(this.sql, "SELECT filter FROM grp WHERE name = ?", name);
    if (!g) return { items: [] };
    let ids: string[];
    if (g.filter === null) {
      ids = this.sql.exec<{ dev_id: string }>("SELECT dev_id FROM grp_member WHERE name = ? AND dev_id > ? ORDER BY dev_id LIMIT ?", name, cursor ?? "", limit + 1)
        .toArray().map((r) => r.dev_id);
    } else {
      const filter = JSON.parse(g.filter) as GroupFilter;
      ids = [];
      // The filter is evaluated over the inventory in devId order, so pages stay stable.
      for (const r of this.sql.exec<DeviceRow>("SELECT * FROM device WHERE dev_id > ? ORDER BY dev_id", cursor ?? "")) {
        if (matchesFilter(filter, record(r))) ids.push(r.dev_id);
        if (ids.length > limit) break;
      }
    }
    const more = ids.length > limit;
    const items = ids.slice(0, limit);
    return more ? { items, nextCursor: items[items.length - 1]! } : { items };
  }

  private inGroup(name: string, devId: string): boolean {
    const g = one<{ filter: string | null }>(this.sql, "SELECT filter FROM grp WHERE name = ?", name);
    if (!g) return false;
    if (g.filter === null) return !!one(this.sql, "SELECT dev_id FROM grp_member WHERE name = ? AND dev_id = ?", name, devId);
    return matchesFilter(JSON.parse(g.filter) as GroupFilter, this.deviceRecord(devId));
  }

  // ------------------------------------------------------------------ grants

  putGrants(provider: string, grants: Grant[]): Grant[] {
    return this.tx(() => {
      const before = this.grants(provider);
      this.sql.exec("DELETE FROM grant_rule WHERE client_id = ?", provider);
      grants.forEach((g, i) =>
        this.sql.exec("INSERT INTO grant_rule (client_id, seq, group_name, subtrees, operations) VALUES (?, ?, ?, ?, ?)",
          provider, i, g.group, JSON.stringify(g.subtrees.map(normaliseSubtree)), JSON.stringify([...new Set(g.operations)])));
      const after = this.grants(provider);
      this.audit(provider, "grants-changed", "PUT /admin/v1/dm-providers/{clientId}/grants", { before, after });
      return after;
    });
  }

  grants(provider: string): Grant[] {
    return this.sql.exec<{ group_name: string; subtrees: string; operations: string }>("SELECT * FROM grant_rule WHERE client_id = ? ORDER BY seq", provider)
      .toArray().map((r) => ({ group: r.group_name, subtrees: JSON.parse(r.subtrees), operations: JSON.parse(r.operations) }));
  }

  /** The devices any grant of the provider covers, in devId order (what the provider may see). */
  coveredDevices(provider: string, cursor: string | undefined, limit: number): Page<DeviceRecord> {
    const groups = [...new Set(this.grants(provider).map((g) => g.group))];
    const n = Math.max(1, Math.min(limit, MAX_PAGE));
    const ids = new Set<string>();
    for (const name of groups) {
      // Each group's first n+1 ids after the cursor suffice for the merged page.
      for (const id of this.members(name, cursor, n + 1).items) ids.add(id);
    }
    const sorted = [...ids].sort().slice(0, n + 1);
    const items = sorted.slice(0, n).map((devId) => this.deviceRecord(devId) ?? { devId });
    return sorted.length > n ? { items, nextCursor: items[items.length - 1]!.devId } : { items };
  }

  // ------------------------------------------------------------------ authorization and audit

  /**
   * Whether the provider's grants cover every device, the subtree and each operation. A refusal
   * names what was refused and is written to the audit trail in the same transaction.
   */
  authorize(req: AuthorizationRequest): AuthorizationDecision {
    return this.tx(() => {
      const grants = this.grants(req.provider);
      const asked = normaliseSubtree(req.subtree);
      let devices: string[];
      if (Array.isArray(req.devices)) devices = [...new Set(req.devices)];
      else {
        const page = this.members(req.devices.group, undefined, MAX_GROUP_EXPANSION);
        if (!one(this.sql, "SELECT name FROM grp WHERE name = ?", req.devices.group)) {
          return this.refuse(req, { devices: [], operations: [], asked, group: req.devices.group });
        }
        devices = page.items;
      }
      const refusedDevices: string[] = [];
      let subtreeRefused = false;
      const refusedOps = new Set<Operation>();
      const membership = new Map<string, boolean>();
      const member = (group: string, devId: string) => {
        const key = `${group}\u0000${devId}`;
        let v = membership.get(key);
        if (v === undefined) membership.set(key, (v = this.inGroup(group, devId)));
        return v;
      };
      for (const devId of devices) {
        const covering = grants.filter((g) => member(g.group, devId));
        if (!covering.length) {
          refusedDevices.push(devId);
          continue;
        }
        // No operation asked: the question is only whether the provider may see the device.
        if (!req.operations.length) continue;
        const inSubtree = covering.filter((g) => g.subtrees.some((s) => subtreeCovers(s, asked)));
        if (!inSubtree.length) {
          subtreeRefused = true;
          continue;
        }
        for (const op of req.operations) if (!inSubtree.some((g) => g.operations.includes(op))) refusedOps.add(op);
      }
      if (!refusedDevices.length && !subtreeRefused && !refusedOps.size) return { allowed: true as const, devices };
      return this.refuse(req, { devices: refusedDevices, ...(subtreeRefused ? { subtree: asked } : {}), operations: [...refusedOps], asked });
    });
  }

  private refuse(req: AuthorizationRequest, refusal: Refusal): AuthorizationDecision {
    this.audit(req.provider, "refusal", req.action, {
      refused: refusal,
      asked: { subtree: normaliseSubtree(req.subtree), operations: req.operations, ...(Array.isArray(req.devices) ? { devices: req.devices.slice(0, 100), deviceCount: req.devices.length } : { group: req.devices.group }) },
    });
    return { allowed: false, refusal };
  }

  /** Refusals found elsewhere (e.g. a device outside the grant asked for directly) go to the same trail. */
  recordRefusal(provider: string, action: string, detail: Record<string, unknown>): void {
    this.tx(() => this.audit(provider, "refusal", action, detail));
  }

  private audit(provider: string, kind: AuditEntry["kind"], action: string, detail: Record<string, unknown>): void {
    this.sql.exec("INSERT INTO audit (at, client_id, kind, action, detail) VALUES (?, ?, ?, ?, ?)", Date.now(), provider, kind, action, JSON.stringify(detail));
  }

  /** The audit trail, oldest first after `afterSeq`, optionally for one provider and period. */
  auditTrail(q: { provider?: string; from?: number; to?: number; kind?: AuditEntry["kind"]; afterSeq?: number; limit: number }): Page<AuditEntry> {
    const limit = Math.max(1, Math.min(q.limit, MAX_PAGE));
    const rows = this.sql.exec<{ seq: number; at: number; client_id: string; kind: AuditEntry["kind"]; action: string; detail: string }>(
      `SELECT * FROM audit WHERE seq > ? AND (? IS NULL OR client_id = ?) AND (? IS NULL OR at >= ?) AND (? IS NULL OR at < ?) AND (? IS NULL OR kind = ?)
       ORDER BY seq LIMIT ?`,
      q.afterSeq ?? 0, q.provider ?? null, q.provider ?? null, q.from ?? null, q.from ?? null, q.to ?? null, q.to ?? null, q.kind ?? null, q.kind ?? null, limit + 1,
    ).toArray();
    const items = rows.slice(0, limit).map((r) => ({ seq: r.seq, at: new Date(r.at).toISOString(), provider: r.client_id, kind: r.kind, action: r.action, detail: r.detail }));
    return rows.length > limit ? { items, nextCursor: String(items[items.length - 1]!.seq) } : { items };
  }
}
