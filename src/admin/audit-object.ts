// The operator's audit log: one row per admin action (who, what, on which resource, when, how it
// ended), newest first when read. One object holds it (named "audit"): admin actions are few, and
// one serial log is the simplest thing an auditor can trust to be complete and ordered. Rows older
// than the retention are removed as new ones are written. Never a request body: no secret reaches it.
// The same object counts wrong admin tokens per address (guard.ts): the admin API's one serial place.
import { DurableObject } from "cloudflare:workers";
import { FailureLedger, failureLedgerTable, type FailurePolicy } from "../http/failure-ledger";
import { keysetPage, migrate } from "../http/sql";

export interface AuditEntry {
  at: number;
  /** "admin" (the admin token), "client:<client_id>" (a dm:manage token), or "anonymous" (refused). */
  actor: string;
  /** Method and route pattern, e.g. "DELETE /admin/v1/clients/:clientId". */
  action: string;
  /** The concrete path: which resource. */
  target: string;
  status: number;
  outcome: "ok" | "refused" | "failed";
  /** For refusals and failures, the error's text. */
  detail?: string;
  correlator?: string;
}

export interface AuditPage {
  entries: (AuditEntry & { seq: number })[];
  /** Pass as `before` for the next (older) page. */
  next?: number;
}

export const AUDIT_RETENTION_MS = 400 * 24 * 3600_000;

const SCHEMA = [
  `CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
     target TEXT NOT NULL, status INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT, correlator TEXT);
   CREATE INDEX audit_at ON audit (at);`,
  failureLedgerTable("admin_auth_failure"),
];

type Row = { seq: number; at: number; actor: string; action: string; target: string; status: number; outcome: AuditEntry["outcome"]; detail: string | null; correlator: string | null };

export class AuditLogObject extends DurableObject {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
  }

  /** Seconds `address` stays locked out of the admin API for wrong admin tokens; undefined if it is not. */
  async adminLockedFor(address: string): Promise<number | undefined> {
    return new FailureLedger(this.sql, "admin_auth_failure").lockedFor(address);
  }

  /** A wrong admin token from `address`, counted: the seconds it is now locked for, if it is. */
  async adminTokenFailed(address: string, policy: FailurePolicy): Promise<number | undefined> {
    return this.ctx.storage.transactionSync(() => new FailureLedger(this.sql, "admin_auth_failure").failed(address, policy).lockedFor);
  }

  async record(e: AuditEntry): Promise<number> {
    return this.ctx.storage.transactionSync(() => {
      this.sql.exec("DELETE FROM audit WHERE at < ?", e.at - AUDIT_RETENTION_MS);
      this.sql.exec(
        "INSERT INTO audit (at, actor, action, target, status, outcome, detail, correlator) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        e.at, e.actor, e.action, e.target, e.status, e.outcome, e.detail ?? null, e.correlator ?? null,
      );
      return this.sql.exec<{ seq: number }>("SELECT last_insert_rowid() AS seq").one().seq;
    });
  }

  /** Newest first: up to `limit` entries older than `before`, optionally only those whose target starts with `target`. */
  async page(opts: { before?: number; limit: number; target?: string; actor?: string }): Promise<AuditPage> {
    const { rows, next } = keysetPage<Row, "seq">(this.sql, {
      select: "SELECT * FROM audit", key: "seq", order: "desc", limit: opts.limit,
      ...(opts.before !== undefined ? { after: opts.before } : {}),
      ...(opts.target ? { prefix: { column: "target", value: opts.target } } : {}),
      ...(opts.actor ? { equals: { column: "actor", value: opts.actor } } : {}),
    });
    const entries = rows.map(({ detail, correlator, ...r }) => ({ ...r, ...(detail ? { detail } : {}), ...(correlator ? { correlator } : {}) }));
    return next !== undefined ? { entries, next } : { entries };
  }
}
