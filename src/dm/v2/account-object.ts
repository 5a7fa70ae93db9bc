// One object per DM account (named by its accountId, which is also the user name of HTTP Basic
// and Digest). It owns the account's credentials and login state, the devices registered to it and
// its DM 2.0 sessions; the devices' jobs stay with each device's DeviceObject.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../../env";
import { ApiError, notFound, outcome, type Outcome } from "../../http/errors";
import { migrate } from "../../http/sql";
import { base64, encodePackage0, type UiMode } from "../../codec";
import { CredentialStore, CREDENTIAL_SCHEMA, type AccountRecord } from "./credential-store";
import { digestResponse, hashSecret, nonceIssuedAt, PBKDF2_ITERATIONS, REALM, timingSafeHexEqual, verifyBasicSecret, type Credentials } from "./credentials";
import { DeviceRegistry, DEVICE_NONCE_STEP, DEVICE_SCHEMA, MAX_DEVICES, type DeviceFields, type RegisteredDevice } from "./device-registry";
import { jobPort } from "./device-binding";
import { SessionStore, SESSION_SCHEMA, type Initiator, type Session, type SessionDoc, type SessionView, type Upload } from "./session-store";

/** The server identifier in a DM 2.0 package 0. */
export const DM2_SERVER_ID = "oma-edge";

/** Verified in place of a missing account's credentials: a well-formed PBKDF2 hash (of no password) and HA1. */
const UNKNOWN_ACCOUNT_SECRET = {
  basic: `pbkdf2-sha256$${PBKDF2_ITERATIONS}$${btoa("\0".repeat(16))}$${btoa("\0".repeat(32))}`,
  digestHa1: "0".repeat(64),
};

const SCHEMA = [CREDENTIAL_SCHEMA + DEVICE_SCHEMA + SESSION_SCHEMA, DEVICE_NONCE_STEP];

export type AuthVerdict = { ok: true } | { ok: false; reason: "wrong" | "stale" | "replayed" | "unknown"; retryAfterMs?: number };

export class DmAccountObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly credentials: CredentialStore;
  private readonly devices: DeviceRegistry;
  private readonly sessions: SessionStore;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(ctx, SCHEMA);
    this.credentials = new CredentialStore(this.sql);
    this.devices = new DeviceRegistry(this.sql);
    this.sessions = new SessionStore(this.sql);
  }

  private tx<T>(fn: () => T): T {
    return this.ctx.storage.transactionSync(fn);
  }

  private requireAccount(): AccountRecord {
    const a = this.credentials.record();
    if (!a) throw notFound("accountId", "DM account");
    return a;
  }

  // ---------------------------------------------------------------- the account (operator)

  async putAccount(accountId: string, password: string, subscriber?: string): Promise<{ created: boolean; account: AccountRecord }> {
    const secret = await hashSecret(accountId, password);
    const created = this.tx(() => this.credentials.put(accountId, secret, subscriber));
    return { created, account: this.credentials.record()! };
  }

  async account(): Promise<AccountRecord | undefined> {
    return this.credentials.record();
  }

  /** Removes the account; answers the devices it had, so their device objects can forget it. */
  async removeAccount(): Promise<RegisteredDevice[] | undefined> {
    if (!this.credentials.record()) return undefined;
    const devices = this.devices.list();
    await this.ctx.storage.deleteAll();
    migrate(this.ctx, SCHEMA);
    return devices;
  }

  // ---------------------------------------------------------------- authentication

  /**
   * Checks Basic or Digest credentials. The hashing runs before the transaction (WebCrypto is
   * asynchronous); the transaction then decides on the nonce count and the failure window, which
   * are the state a concurrent request could race on.
   */
  async authenticate(creds: Exclude<Credentials, { scheme: "invalid" }>, method: string): Promise<AuthVerdict> {
    const stored = this.credentials.secret();
    // An unknown account costs the same work as a wrong password (PBKDF2 or the Digest hashes, against
    // a hash nobody's password matches), so answer times do not tell which account names exist.
    const secret = stored ?? UNKNOWN_ACCOUNT_SECRET;
    const locked = this.credentials.lockedFor();
    if (locked > 0) return { ok: false, reason: "wrong", retryAfterMs: locked };
    let match: boolean;
    let issuedAt: number | undefined;
    if (creds.scheme === "basic") {
      match = await verifyBasicSecret(secret.basic, creds.password);
    } else {
      issuedAt = nonceIssuedAt(creds.nonce);
      const ncValue = /^[0-9a-fA-F]{8}$/.test(creds.nc) ? parseInt(creds.nc, 16) : NaN;
      if (issuedAt === undefined || creds.realm !== REALM || creds.algorithm.toUpperCase() !== "SHA-256" || creds.qop !== "auth" || !Number.isFinite(ncValue)) {
        match = false;
      } else {
        match = timingSafeHexEqual(await digestResponse(secret.digestHa1, { ...creds, method }), creds.response);
      }
      // The dummy HA1 is public (anyone can compute a response with it): never treat that as a login.
      if (match && stored) {
        const use = this.tx(() => this.credentials.useNonce(creds.nonce, issuedAt!, ncValue));
        if (use !== "ok") return { ok: false, reason: use };
      }
    }
    if (!stored) return { ok: false, reason: "unknown" };
    if (!match) {
      this.tx(() => this.credentials.failed());
      const after = this.credentials.lockedFor();
      return { ok: false, reason: "wrong", ...(after > 0 ? { retryAfterMs: after } : {}) };
    }
    return { ok: true };
  }

  // ---------------------------------------------------------------- devices

  registerDevice(devId: string, fields: DeviceFields): Promise<Outcome<RegisteredDevice>> {
    return outcome(() =>
      this.tx(() => {
        this.requireAccount();
        if (this.devices.get(devId)) throw new ApiError(409, "SVC0002", ["devId", `${devId} is already registered to this account`]);
        if (this.devices.count() >= MAX_DEVICES) throw new ApiError(403, "POL0001", [`an account holds at most ${MAX_DEVICES} devices`]);
        return this.devices.add(devId, fields);
      }),
    );
  }

  /** Takes back a registration (its device object refused the claim: another account owns it). */
  async forgetDevice(devId: string, createdAt: number): Promise<void> {
    this.tx(() => {
      if (this.devices.get(devId)?.createdAt === createdAt) this.devices.remove(devId);
    });
  }

  listDevices(): Promise<Outcome<RegisteredDevice[]>> {
    return outcome(() => (this.requireAccount(), this.devices.list()));
  }

  device(devId: string): Promise<Outcome<RegisteredDevice>> {
    return outcome(() => {
      this.requireAccount();
      const d = this.devices.get(devId);
      if (!d) throw notFound("devId", devId);
      return d;
    });
  }

  updateDevice(devId: string, fields: Partial<DeviceFields>): Promise<Outcome<RegisteredDevice>> {
    return outcome(() =>
      this.tx(() => {
        this.requireAccount();
        const d = this.devices.update(devId, fields);
        if (!d) throw notFound("devId", devId);
        return d;
      }),
    );
  }

  /** Unregisters a device; answers its open session, whose unanswered commands go back to the device's queue. */
  removeDevice(devId: string): Promise<Outcome<{ open?: Session }>> {
    return outcome(() =>
      this.tx(() => {
        this.requireAccount();
        if (!this.devices.get(devId)) throw notFound("devId", devId);
        const open = this.sessions.openFor(devId);
        this.devices.remove(devId);
        this.sessions.removeDevice(devId);
        return open ? { open } : {};
      }),
    );
  }

  // ---------------------------------------------------------------- sessions

  /**
   * A pending session for the device and the package 0 that asks it to connect (DM 1.2 layout,
   * version 2.0; its digest keyed with the account's Digest HA1, which the device can derive from
   * the credentials it logs in with, and the nonce the device was given in its last session).
   */
  notifyPending(devId: string, initiator: Initiator, uiMode: UiMode = "not-specified"): Promise<Outcome<SessionView>> {
    return outcome(() =>
      this.tx(() => {
        this.requireDevice(devId);
        const s = this.sessions.openFor(devId) ?? this.sessions.pending(devId, initiator);
        const sessionNum = 1 + (crypto.getRandomValues(new Uint16Array(1))[0]! % 0xfffe);
        const pkg = encodePackage0({ version: 20, uiMode, initiator: "server", sessionId: sessionNum, serverId: DM2_SERVER_ID }, { password: this.credentials.secret()!.digestHa1, nonce: this.devices.nonce(devId) });
        const doc = { ...s.doc, notification: { package0: base64(pkg), sessionNum, createdAt: Date.now() } };
        this.sessions.setDoc(s, doc);
        return this.sessions.view(s);
      }),
    );
  }

  /** A pending (server- or browser-initiated) session for the device, created if there is none. */
  pendingSession(devId: string, initiator: Initiator): Promise<Outcome<SessionView>> {
    return outcome(() =>
      this.tx(() => {
        this.requireDevice(devId);
        const open = this.sessions.openFor(devId);
        return this.sessions.view(open ?? this.sessions.pending(devId, initiator));
      }),
    );
  }

  /**
   * The device starts a session (package 1). An open session of the same device is ended as
   * aborted: the device would not start again if it were still in it. With `sessionId`, that
   * pending session is the one started (x.1.1 POST /sessions/id/{sessionId}). The device's package-0
   * nonce is renewed: the session delivers the new one (OMADM-NextNonce), and a package 0 made
   * before it (a replayed one) no longer verifies on the device.
   */
  startSession(devId: string, initiator: Initiator, sessionId?: string): Promise<Outcome<{ session: Session; abandoned?: Session; nextNonce: string }>> {
    return outcome(() =>
      this.tx(() => {
        this.requireDevice(devId);
        let open = this.sessions.openFor(devId);
        const named = (s: Session) => s.id === sessionId || (sessionId!.length <= 4 && s.doc.notification?.sessionNum === parseInt(sessionId!, 16));
        if (sessionId !== undefined && (!open || !named(open))) throw notFound("sessionId", sessionId);
        let abandoned: Session | undefined;
        if (open && open.state === "active") {
          abandoned = open;
          this.sessions.finish(open, "aborted", open.doc, "the device started a new session");
          open = undefined;
        }
        const session = this.sessions.activate(open ?? this.sessions.pending(devId, initiator), initiator);
        const nextNonce = this.devices.renewNonce(devId);
        this.armAlarm();
        return abandoned ? { session, abandoned, nextNonce } : { session, nextNonce };
      }),
    );
  }

  /**
   * Claims the package the device answers: the id is spent at once (a second answer with the same
   * id is refused), and the session continues under a new id. Answers the device's package-0 nonce
   * too, which every package of the session repeats.
   */
  claim(sessionId: string): Promise<Outcome<{ session: Session; nextNonce: string }>> {
    return outcome(() =>
      this.tx(() => {
        this.requireAccount();
        const s = this.sessions.byId(sessionId);
        if (!s || s.state !== "active") throw notFound("sessionId", sessionId);
        return { session: this.sessions.advance(s, s.doc), nextNonce: this.devices.nonce(s.devId) };
      }),
    );
  }

  /** Records what was sent in the package under the session's current id (the one `claim` or `startSession` gave). */
  commit(sessionId: string, doc: SessionDoc): Promise<Outcome<void>> {
    return outcome(() =>
      this.tx(() => {
        const s = this.sessions.byId(sessionId);
        if (!s || s.state !== "active") throw notFound("sessionId", sessionId);
        this.sessions.clearUploads(s);
        this.sessions.setDoc(s, doc);
      }),
    );
  }

  finish(sessionId: string, state: "completed" | "failed" | "aborted", doc: SessionDoc, reason?: string): Promise<Outcome<SessionView>> {
    return outcome(() =>
      this.tx(() => {
        const s = this.sessions.byId(sessionId);
        if (!s || (s.state !== "active" && s.state !== "pending")) throw notFound("sessionId", sessionId);
        return this.sessions.finish(s, state, doc, reason);
      }),
    );
  }

  /** DELETE /session/id/{id}: the device (or its user) gives up; answers the session so its commands can be requeued. */
  abort(sessionId: string): Promise<Outcome<Session>> {
    return outcome(() =>
      this.tx(() => {
        this.requireAccount();
        const s = this.sessions.byId(sessionId);
        if (!s || (s.state !== "active" && s.state !== "pending")) throw notFound("sessionId", sessionId);
        this.sessions.finish(s, "aborted", s.doc, "aborted by the device");
        return s;
      }),
    );
  }

  /** The active session with this current id (for its data resources). */
  activeSession(sessionId: string): Promise<Outcome<Session>> {
    return outcome(() => {
      this.requireAccount();
      const s = this.sessions.byId(sessionId);
      if (!s || s.state !== "active") throw notFound("sessionId", sessionId);
      return s;
    });
  }

  putUpload(sessionId: string, index: number, upload: Upload): Promise<Outcome<void>> {
    return outcome(() =>
      this.tx(() => {
        const s = this.sessions.byId(sessionId);
        if (!s || s.state !== "active") throw notFound("sessionId", sessionId);
        if (!s.doc.inFlight.some((f) => f.index === index && (f.name === "HPUT" || f.name === "HPOST"))) throw notFound("dataId", String(index));
        this.sessions.putUpload(s, index, upload);
      }),
    );
  }

  /** What the device uploaded for the HPUT/HPOST commands of a session's last package, by command index. */
  async uploads(sessionKey: number): Promise<Record<number, Upload>> {
    return Object.fromEntries(this.sessions.uploads(sessionKey));
  }

  sessionsIn(which: "pending" | "completed"): Promise<Outcome<SessionView[]>> {
    return outcome(() => {
      this.requireAccount();
      return this.sessions.list(which === "pending" ? ["pending", "active"] : ["completed", "failed", "aborted"]);
    });
  }

  private requireDevice(devId: string): RegisteredDevice {
    this.requireAccount();
    const d = this.devices.get(devId);
    if (!d) throw notFound("devId", devId);
    return d;
  }

  /** The alarm goes off when the oldest open session would be idle too long (it re-arms itself for the next). */
  private armAlarm(): void {
    const due = this.sessions.nextIdleDeadline();
    if (due) void this.ctx.storage.setAlarm(due);
  }

  /** Sessions that went quiet fail; their unanswered commands go back to each device's queue. */
  override async alarm(): Promise<void> {
    const idle = this.tx(() => this.sessions.idle().map((s) => (this.sessions.finish(s, "failed", s.doc, "no answer from the device within 10 minutes"), s)));
    for (const s of idle) await jobPort(this.env, s.devId).releaseSession(s.doc.jobSession);
    const next = this.sessions.nextIdleDeadline();
    if (next) await this.ctx.storage.setAlarm(next);
  }
}
