// One object per managed device, named by its devId (the LocURI the client sends, e.g.
// IMEI:493005100592800). It owns the device's DM account (what verification needs of the client's
// secret, the server's own secret sealed), nonces and failed-attempt counter, its management tree
// as the server knows it, its jobs (./job-model.ts), its package-0 notifications and the live
// SyncML session. Each message is one transaction around the pure engine (./engine.ts).
//
// An object that was never provisioned writes nothing: its schema is created by provision(), so a
// request naming an unknown devId leaves no stored object behind.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { base64, decodePackage0, encodePackage0, nonceFromNextNonce, secretDigest, type UiMode } from "../codec";
import { ApiError, notFound, outcome, type Outcome } from "../http/errors";
import { hasTable, migrate, one } from "../http/sql";
import { devicePort, failures, SCHEMA, SESSION_IDLE_MS, upgradeSecrets, type AccountRow } from "./device-tables";
import { reply, type SessionState } from "./engine";
import { jobView, type CommandOutcome, type CommandPath, type GenericAlert, type Job, type JobBatch, type JobCommandSpec } from "./job-model";
import { jobHooks } from "./job-hooks";
import { DEFAULT_JOB_POLICY, JobStore, SqlJobRows, type QueueOptions } from "./job-store";
import { constantTimeHexEqual, keyFor, type DeviceAccount, type DeviceView, type Dm2Binding, type IncomingMessage, type NotificationRecord, type OutgoingMessage, type TreeNode } from "./device-types";
import { isLocked, newSessionSecret, openSecret, randomNonce, sealSecret, sessionSecretHash } from "./security";
import { JobReports } from "./job-reports";
import { Dm2Registration } from "./dm2-registration";

export type { AuthType } from "./security";
export type { DeviceAccount, DeviceView, Dm2Binding, IncomingMessage, NotificationRecord, OutgoingMessage, TreeNode } from "./device-types";

export class DeviceObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly jobs: JobStore;
  private readonly rows: SqlJobRows;
  private readonly reports: JobReports;
  private readonly dm2: Dm2Registration;
  /** The opened server secret, per sealed value (opening it is asynchronous, messages are not). */
  private opened?: { sealed: string; secret: string };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.rows = new SqlJobRows(this.sql);
    this.reports = new JobReports(this.sql, env);
    this.dm2 = new Dm2Registration(this.sql);
    this.jobs = new JobStore(this.rows, DEFAULT_JOB_POLICY, Date.now, (job) => this.reports.add(job));
    ctx.blockConcurrencyWhile(() => this.migrateStorage());
  }

  private get provisioned(): boolean {
    return hasTable(this.sql, "account");
  }

  /** Schema steps for an object that has storage; the conversion of plain-text secrets in between. */
  async migrateStorage(): Promise<void> {
    if (!this.provisioned) return;
    const version = one<{ version: number }>(this.sql, "SELECT version FROM _schema")?.version ?? 0;
    if (version >= SCHEMA.length) return;
    // Up to v3 in SQL; the rows converted in JS (hashing, sealing); then v4 drops the plain-text columns.
    if (version < 3) migrate(this.ctx, SCHEMA.slice(0, 3));
    if (!(await upgradeSecrets(this.ctx, this.env))) return;
    migrate(this.ctx, SCHEMA);
  }

  private tx<T>(fn: () => T): T {
    const out = this.ctx.storage.transactionSync(fn);
    // A job with a listener finished: its report goes out from the alarm, now (./job-reports.ts).
    if (this.reports.written) void this.ctx.storage.setAlarm(Date.now());
    return out;
  }

  private account(): AccountRow | undefined {
    if (!this.provisioned) return undefined;
    return one<AccountRow>(this.sql, "SELECT * FROM account");
  }

  private requireAccount(): AccountRow {
    const a = this.account();
    if (!a || !a.client_digest) throw a ? new ApiError(503, "SVC0001", ["the device account waits for DM_SECRET_KEY to convert its secrets"]) : notFound("devId", "device");
    return a;
  }

  /** A device the jobs API serves: a DM 1.2 account, or a DM 2.0 registration (src/dm/v2/), or both. */
  private requireManaged(): void {
    if (!this.dm2.get()) this.requireAccount();
  }

  private async serverSecret(a: AccountRow): Promise<string> {
    if (this.opened?.sealed !== a.server_secret) this.opened = { sealed: a.server_secret, secret: await openSecret(await keyFor(this.env), a.server_secret, a.dev_id) };
    return this.opened.secret;
  }

  // ---------------------------------------------------------------- provisioning

  async provision(a: DeviceAccount): Promise<Outcome<{ created: boolean; device: DeviceView }>> {
    return outcome(async () => {
      const sealed = await sealSecret(await keyFor(this.env), a.serverPassword, a.devId);
      if (!this.provisioned) migrate(this.ctx, SCHEMA);
      const created = this.tx(() => {
        const existing = this.account();
        // Re-provisioning sets new secrets and lifts a lock-out; the nonces stay (the device keeps its own).
        this.sql.exec(
          `INSERT INTO account (id, dev_id, server_id, auth_type, client_username, client_digest, server_secret, subscriber, client_nonce, server_nonce, created_at)
           VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, '', ?)
           ON CONFLICT (id) DO UPDATE SET server_id = excluded.server_id, auth_type = excluded.auth_type, client_username = excluded.client_username,
             client_digest = excluded.client_digest, server_secret = excluded.server_secret, subscriber = excluded.subscriber,
             auth_failures = 0, auth_window_start = 0, locked_until = 0`,
          a.devId, a.serverId, a.authType, a.clientUsername, secretDigest(a.clientUsername, a.clientPassword), sealed, a.subscriber ?? null, randomNonce(), Date.now(),
        );
        return !existing;
      });
      return { created, device: this.view(this.requireAccount()) };
    });
  }

  private view(a: AccountRow): DeviceView {
    return {
      devId: a.dev_id, serverId: a.server_id, authType: a.auth_type, clientUsername: a.client_username,
      ...(a.subscriber ? { subscriber: a.subscriber } : {}), createdAt: a.created_at,
      ...(isLocked(failures(a), Date.now()) ? { authLockedUntil: a.locked_until } : {}),
    };
  }

  async device(): Promise<DeviceView | undefined> {
    const a = this.account();
    return a ? this.view(a) : undefined;
  }

  async deprovision(): Promise<boolean> {
    if (!this.account()) return false;
    await this.ctx.storage.deleteAll();
    return true;
  }

  // ---------------------------------------------------------------- northbound: jobs, tree, notifications

  queueJob(commands: JobCommandSpec[], opts: QueueOptions = {}): Promise<Outcome<Job>> {
    return outcome(async () => {
      this.requireManaged();
      const job = this.tx(() => this.jobs.queue(commands, opts));
      await this.armAlarm();
      return jobView(job) as Job;
    });
  }

  job(jobId: string): Promise<Outcome<Job>> {
    return outcome(() => {
      this.requireManaged();
      return jobView(this.jobs.get(jobId)) as Job;
    });
  }

  /** Cancels an unfinished job (nothing more of it goes out); a finished job is answered as it is. */
  cancelJob(jobId: string): Promise<Outcome<Job>> {
    return outcome(() => {
      this.requireManaged();
      return jobView(this.tx(() => this.jobs.cancel(jobId))) as Job;
    });
  }

  // ---------------------------------------------------------------- the seam for a second protocol adapter (see ./job-model.ts)

  /** The next `maxJobs` unfinished jobs with the commands `sessionKey` has not handed out yet, marked sent. */
  takeCommands(sessionKey: string, opts: { maxJobs?: number } = {}): Promise<Outcome<JobBatch[]>> {
    return outcome(() => {
      this.requireManaged();
      return this.tx(() => this.jobs.take(sessionKey, opts.maxJobs ?? 1));
    });
  }

  /** A device's verdict on one command; the job as it stands after it. */
  recordCommand(jobId: string, path: CommandPath, result: CommandOutcome): Promise<Outcome<Job>> {
    return outcome(async () => {
      this.requireManaged();
      const job = this.tx(() => this.jobs.record(jobId, path, result));
      if (!job) throw notFound("jobId", jobId);
      await this.armDelivery();
      return jobView(job) as Job;
    });
  }

  /** The session ended: what it handed out without a status goes back to the queue (or fails after the attempt limit). */
  releaseSession(sessionKey: string): Promise<Outcome<void>> {
    return outcome(async () => {
      this.requireManaged();
      this.tx(() => this.jobs.release(sessionKey));
      await this.armDelivery();
    });
  }

  // ---------------------------------------------------------------- deadlines

  private async armAlarm(): Promise<void> {
    const next = this.rows.nextDeadline();
    if (next === undefined) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }

  /** What a job hook left for delivery (./job-model.ts JobHooks) goes out from the alarm, now. */
  private async armDelivery(): Promise<void> {
    if (!jobHooks().pending?.(this.sql)) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > Date.now()) await this.ctx.storage.setAlarm(Date.now());
  }

  override async alarm(): Promise<void> {
    if (!this.provisioned) return;
    const next = this.tx(() => this.jobs.expire());
    const retry = await jobHooks().deliver?.(this.env, this.sql).catch(() => Date.now() + 10_000);
    const reported = await this.reports.deliver();
    const at = Math.min(next !== undefined ? Math.max(next, Date.now() + 1000) : Infinity, retry ?? Infinity, reported ?? Infinity);
    if (at !== Infinity) await this.ctx.storage.setAlarm(at);
  }

  tree(): Promise<Outcome<Record<string, TreeNode>>> {
    return outcome(() => {
      this.requireManaged();
      const tree: Record<string, TreeNode> = {};
      for (const r of this.sql.exec<{ uri: string; value: string; format: string | null; type: string | null; updated_at: number }>("SELECT * FROM tree ORDER BY uri")) {
        tree[r.uri] = { value: r.value, ...(r.format ? { format: r.format } : {}), ...(r.type ? { type: r.type } : {}), updatedAt: new Date(r.updated_at).toISOString() };
      }
      return tree;
    });
  }

  /**
   * Package 0 (OMA-TS-DM_Notification-V1_2 §6): the trigger announcing a server-initiated session.
   * Its digest uses the server's password and the nonce the device gave the server.
   */
  notify(uiMode: UiMode): Promise<Outcome<NotificationRecord>> {
    return outcome(async () => {
      const a = this.requireAccount();
      const password = await this.serverSecret(a);
      return this.tx(() => {
        const now = this.requireAccount();
        const sessionNum = 1 + (crypto.getRandomValues(new Uint16Array(1))[0]! % 0xfffe);
        const pkg = encodePackage0(
          { version: 12, uiMode, initiator: "server", sessionId: sessionNum, serverId: now.server_id },
          { password, nonce: nonceFromNextNonce(now.server_nonce) },
        );
        const record: NotificationRecord = { id: crypto.randomUUID(), sessionId: sessionNum.toString(16).toUpperCase(), package0: base64(pkg), createdAt: Date.now() };
        this.sql.exec("INSERT INTO notification (id, session_num, package0, created_at) VALUES (?, ?, ?, ?)", record.id, sessionNum, record.package0, record.createdAt);
        return record;
      });
    });
  }

  notifications(): Promise<Outcome<NotificationRecord[]>> {
    return outcome(() => {
      this.requireAccount();
      return this.sql.exec<{ id: string; session_num: number; package0: string; created_at: number }>("SELECT * FROM notification WHERE consumed_at IS NULL ORDER BY created_at")
        .toArray()
        .map((r) => ({ id: r.id, sessionId: r.session_num.toString(16).toUpperCase(), package0: r.package0, createdAt: r.created_at }));
    });
  }

  /** Operator alerts about this device (lock-outs), newest first. */
  securityEvents(): Promise<Outcome<{ at: number; kind: string; detail: string }[]>> {
    return outcome(() => {
      this.requireAccount();
      return this.sql.exec<{ at: number; kind: string; detail: string }>("SELECT at, kind, detail FROM security_event ORDER BY seq DESC LIMIT 100").toArray();
    });
  }

  // ---------------------------------------------------------------- the device-facing session

  private loadSession(): SessionState | undefined {
    const row = one<{ doc: string }>(this.sql, "SELECT doc FROM session");
    return row ? JSON.parse(row.doc) : undefined;
  }

  async handleMessage(incoming: IncomingMessage, contentType: string): Promise<Outcome<OutgoingMessage>> {
    return outcome(async () => {
      const a = this.requireAccount();
      const serverPassword = await this.serverSecret(a);
      const presented = incoming.secret !== undefined ? await sessionSecretHash(incoming.secret) : undefined;
      const secret = newSessionSecret();
      const secretHash = await sessionSecretHash(secret);
      const devPath = `${incoming.origin}/dm/s/${encodeURIComponent(incoming.message.header.source.locURI)}`;
      const current = incoming.secret !== undefined ? `${devPath}/${incoming.secret}` : undefined;
      const out = this.tx(() => this.process(incoming, contentType, serverPassword, presented && current ? { hash: presented, respUri: current } : undefined, { key: `syncml:${secretHash}`, secretHash, respUri: `${devPath}/${secret}` }));
      await this.armDelivery();
      return out;
    });
  }

  /**
   * `presented`: the secret of the RespURI the message came to (its hash, and that RespURI again:
   * the object keeps only the hash, so the address is rebuilt from the request).
   */
  private process(incoming: IncomingMessage, contentType: string, serverPassword: string, presented: { hash: string; respUri: string } | undefined, fresh: { key: string; secretHash: string; respUri: string }): OutgoingMessage {
    const a = this.requireAccount();
    const now = Date.now();
    const stored = this.loadSession();
    let session: SessionState | undefined;
    if (presented !== undefined) {
      // A continuation: only at the live session's RespURI, with its SessionID.
      const live = stored && !stored.ended && now - stored.lastActivity <= SESSION_IDLE_MS;
      if (!live || !constantTimeHexEqual(stored.secretHash, presented.hash) || stored.sessionId !== incoming.message.header.sessionId) {
        throw new ApiError(404, "SVC0002", ["RespURI", "no live DM session at this address: start a new session at /dm"]);
      }
      session = { ...stored, respUri: presented.respUri };
    }
    const out = reply(
      {
        now,
        message: incoming.message,
        body: incoming.body,
        encoding: incoming.encoding,
        contentType,
        ...(incoming.hmac ? { hmac: incoming.hmac } : {}),
        ...(session ? { session } : {}),
        ...(stored && !session ? { previousKey: stored.key } : {}),
        fresh,
        entryUri: `${incoming.origin}/dm`,
        client: {
          authType: a.auth_type, username: a.client_username, digest: a.client_digest,
          nonce: nonceFromNextNonce(a.client_nonce), ...(a.client_nonce_prev ? { previousNonce: nonceFromNextNonce(a.client_nonce_prev) } : {}),
        },
        locked: isLocked(failures(a), now),
        server: {
          serverId: a.server_id, password: serverPassword,
          type: a.auth_type === "syncml:auth-MAC" ? "syncml:auth-MAC" : a.server_auth_type ?? "syncml:auth-md5",
          nonce: nonceFromNextNonce(a.server_nonce),
        },
      },
      { jobs: this.jobs, device: devicePort(this.sql, a, this.jobs, this.rows, this.dm2) },
    );
    if (out.session) {
      // Never the RespURI itself: it carries the session's secret, of which only the hash is kept.
      const { respUri: _secret, ...kept } = out.session;
      this.sql.exec("INSERT INTO session (id, doc) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET doc = excluded.doc", JSON.stringify(kept));
    }
    return { body: out.body, headers: out.headers };
  }

  // ---------------------------------------------------------------- DM 2.0 registration (src/dm/v2/)

  /** Claims the device for a DM account (its DM 2.0 registration); the claim of another account is 409. */
  bindDm2(accountId: string, protocol: string): Promise<Outcome<Dm2Binding>> {
    return outcome(() => {
      const current = this.dm2.get();
      if (current && current.accountId !== accountId) throw new ApiError(409, "SVC0002", ["devId", "the device is registered to another DM account"]);
      if (!this.provisioned) migrate(this.ctx, SCHEMA);
      this.tx(() => this.dm2.set(accountId, protocol));
      return { accountId, protocol };
    });
  }

  /** The account unregistered the device; a device with no DM 1.2 account is then forgotten whole. */
  async unbindDm2(accountId: string): Promise<Outcome<void>> {
    return outcome(async () => {
      if (this.dm2.get()?.accountId !== accountId) return;
      if (!this.account()) await this.ctx.storage.deleteAll();
      else this.dm2.remove();
    });
  }

  async dm2Binding(): Promise<Dm2Binding | undefined> {
    return this.dm2.get();
  }

  /** DM 2.0 alerts: with an EXEC's correlator (as 1226 is for DM 1.2), or without, a subscribed node's changes (a Sub command's). */
  attachAlerts(correlator: string | undefined, alerts: GenericAlert[]): Promise<Outcome<void>> {
    return outcome(async () => {
      this.requireManaged();
      this.tx(() => {
        this.sql.exec("INSERT INTO generic_alert (correlator, doc) VALUES (?, ?)", correlator ?? null, JSON.stringify(alerts));
        if (correlator !== undefined) this.jobs.attachAlerts(correlator, alerts, this.rows.recent(50));
        else this.jobs.attachChanges(alerts, this.rows.recent(50));
      });
      await this.armDelivery();
    });
  }

  /** Test and diagnostics: the package 0 of a notification, decoded. */
  async decodeNotification(id: string) {
    if (!this.provisioned) return undefined;
    const row = one<{ package0: string }>(this.sql, "SELECT package0 FROM notification WHERE id = ?", id);
    return row ? decodePackage0(Uint8Array.from(atob(row.package0), (c) => c.charCodeAt(0))) : undefined;
  }
}
