// A DM 2.0 device, written from the protocol description (the seed CR's resources and flows x.2.1-x.2.4,
// OMA-TS-DM_Protocol-V2_0's packages and commands), the gateway's /openapi.json and src/dm/v2/README.md:
// never from the server's code. It keeps its own management tree, logs in with HTTP Basic or Digest
// (RFC 7616, SHA-256), runs the four flows, executes every command and answers statuses in command
// order, and can abort a session midway (DELETE) and resume it with a new one.
//
// Package 1:  POST {root}/sessions/next | /sessions/id/{id} | /alert   {"Alert":[...]}  (+ OMADM-DevID)
// Package 2+: {"CMD":[[...],...,["CONT", ServerURI] | ["END"]]}
// Package 3+: PUT ServerURI {"Status":[{"sc":..},...],"Alert":[...]}   (no status for CONT/END)

import { changeAlerts, executeCommand, SESSION_CONTROL, type CommandContext, type Dm2Alert, type Dm2Command, type Dm2Status, type PendingExec, type ShownPage } from "./commands";
import { AuthClient, digestHa1, type AuthScheme, type Fetcher } from "./http-auth";
import { package0DigestMatches, parsePackage0, type Package0 } from "./package0";
import { ManagementTree, type TreeNode } from "./tree";

export * from "./commands";
export * from "./http-auth";
export * from "./package0";
export * from "./tree";

export const MEDIA = {
  seed: "application/vnd.omadm-cmd+json",
  initiation: "application/vnd.oma.dm.initiation+json",
  request: "application/vnd.oma.dm.request+json",
  response: "application/vnd.oma.dm.response+json",
} as const;

export const ALERT = {
  clientInitiated: "urn:oma:at:dm:2.0:ClientInitiatedMgmt",
  serverInitiated: "urn:oma:at:dm:2.0:ServerInitiatedMgmt",
} as const;

export interface Dm2DeviceOptions {
  /** The gateway's origin, e.g. http://127.0.0.1:8787 (the DM 2.0 root is {gateway}/dm/v2). */
  gateway: string;
  account: string;
  password: string;
  devId: string;
  auth?: AuthScheme;
  fetch?: Fetcher;
  tree?: Record<string, string | TreeNode>;
  /** MO identifier → root URI, for ClientURIs of the form "urn:oma:mo:…//path". */
  mos?: Record<string, string>;
  /** Send OMADM-DevID (needed when the account has several DM 2.0 devices). Default true. */
  sendDevId?: boolean;
}

export interface PackageRecord {
  /** Where the package came from (the request that fetched it). */
  url: string;
  httpStatus: number;
  contentType: string | null;
  /** OMADM-SessionID and Location of the answer. */
  sessionId: string | null;
  location: string | null;
  commands: Dm2Command[];
  /** What the device answered, one per command (CONT/END excepted). */
  statuses: Dm2Status[];
  alerts: Dm2Alert[];
}

export interface SessionOutcome {
  packages: PackageRecord[];
  /** The session reached END. */
  ended: boolean;
  /** The device gave up midway with DELETE. */
  aborted: boolean;
  /** A non-200 answer that stopped the session (status and body). */
  error?: { status: number; contentType: string | null; body: string };
}

export interface SessionOptions {
  /** Package 1's alerts; default the client-initiated alert. */
  alerts?: Dm2Alert[];
  /** Content type of the device's packages (package 1 / result packages). */
  contentType?: string;
  resultContentType?: string;
  accept?: string;
  /**
   * Abort after executing `afterCommands` commands of package `inPackage` (0-based): DELETE on that
   * spelling of the resource, or "none" for a device that just goes silent (crash, lost coverage).
   */
  abort?: { inPackage: number; afterCommands: number; spelling?: "session" | "sessions" | "none" };
  /** Send no body with package 1 (an empty POST, as the web-browser component may). */
  emptyBody?: boolean;
}

export class Dm2Device {
  readonly tree: ManagementTree;
  readonly http: AuthClient;
  readonly devId: string;
  readonly pendingExecs: PendingExec[] = [];
  readonly shownPages: ShownPage[] = [];
  /** The DM 2.0 root this device talks to; DEFAULT changes it. */
  serverRoot: string;
  /**
   * The nonce for checking the next package 0: empty until the server gives one, then the last
   * OMADM-NextNonce header of a session's package (the server's README, decision 14).
   */
  package0Nonce = "";
  readonly sessions: SessionOutcome[] = [];
  private readonly sendDevId: boolean;
  private realm = "oma-edge DM";

  constructor(readonly options: Dm2DeviceOptions) {
    this.devId = options.devId;
    this.tree = new ManagementTree(options.tree ?? {});
    for (const [mo, root] of Object.entries(options.mos ?? {})) this.tree.registerMo(mo, root);
    this.http = new AuthClient(options.fetch ?? ((u, i) => fetch(u, i)), { user: options.account, password: options.password }, options.auth ?? "digest");
    this.serverRoot = `${options.gateway.replace(/\/+$/, "")}/dm/v2`;
    this.sendDevId = options.sendDevId ?? true;
  }

  // ---- the four flows -------------------------------------------------------------------------

  /** x.2.2 client-initiated: package 1 at /sessions/next. */
  clientInitiated(options: SessionOptions = {}): Promise<SessionOutcome> {
    return this.run(`${this.serverRoot}/sessions/next`, options);
  }

  /** x.2.2 via the alert resource: a device event; commands follow when jobs wait. */
  alert(alerts: Dm2Alert[], options: SessionOptions = {}): Promise<SessionOutcome> {
    return this.run(`${this.serverRoot}/alert`, { ...options, alerts });
  }

  /**
   * x.2.1 server-initiated: the device got package 0, checks it came from its server (digest keyed with
   * the account's Digest HA1), and starts the session it names at /sessions/id/{session number}.
   */
  async serverInitiated(package0: string, options: SessionOptions & { skipDigestCheck?: boolean } = {}): Promise<SessionOutcome & { notification: Package0 }> {
    const notification = parsePackage0(package0);
    if (notification.version !== 20) throw new Error(`package 0 version ${notification.version}, not DM 2.0 (20)`);
    if (!options.skipDigestCheck) {
      const key = await digestHa1(this.options.account, this.realm, this.options.password);
      if (!package0DigestMatches(notification, key, this.package0Nonce)) throw new Error("package 0 digest does not match this device's credentials and nonce");
    }
    const outcome = await this.run(`${this.serverRoot}/sessions/id/${notification.sessionId}`, {
      alerts: [{ AlertType: ALERT.serverInitiated }],
      ...options,
    });
    return { ...outcome, notification };
  }

  /** x.2.3 web-browser-component-initiated: the browser component POSTs with Accept of the seed type. */
  browserComponent(options: SessionOptions = {}): Promise<SessionOutcome> {
    return this.run(`${this.serverRoot}/sessions/next`, { contentType: MEDIA.seed, resultContentType: MEDIA.seed, accept: MEDIA.seed, ...options });
  }

  /**
   * x.2.4 web-browser-initiated: a plain browser POST (no DM type in Accept) gets an HTML page; the
   * server triggers the client with a notification, which the device then answers (server-initiated).
   */
  async browserInitiated(): Promise<{ page: { status: number; contentType: string | null; html: string } }> {
    const headers: Record<string, string> = { Accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
    if (this.sendDevId) headers["OMADM-DevID"] = this.devId;
    const res = await this.http.request(`${this.serverRoot}/sessions/next`, { method: "POST", headers });
    return { page: { status: res.status, contentType: res.headers.get("Content-Type"), html: await res.text() } };
  }

  /** What the push connector would deliver: this device's newest package 0 in GET /sessions/pending. */
  async pendingNotification(): Promise<{ sessionId: string; initiator: string; package0: string } | undefined> {
    const res = await this.http.request(`${this.serverRoot}/sessions/pending`, { method: "GET", headers: { Accept: "application/json" } });
    if (res.status !== 200) throw new Error(`GET /sessions/pending: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { sessionList: { sessionId: string; devId: string; initiator: string; notification?: { package0: string } }[] };
    const mine = body.sessionList.filter((s) => s.devId === this.devId && s.notification);
    const last = mine[mine.length - 1];
    return last ? { sessionId: last.sessionId, initiator: last.initiator, package0: last.notification!.package0 } : undefined;
  }

  /** Async EXECs finished: their results go to the server as alerts with the EXEC's correlator. */
  reportFinishedExecs(options: SessionOptions = {}): Promise<SessionOutcome> {
    const alerts: Dm2Alert[] = this.pendingExecs.splice(0).map((e) => ({
      AlertType: e.alertType,
      SourceURI: e.clientUri,
      ...(e.correlator ? { Correlator: e.correlator } : {}),
      ...(e.data !== undefined ? { DataType: "text/plain", Data: e.data } : {}),
    }));
    return this.alert(alerts, options);
  }

  /** A change made on the device itself (a user, an app): reported as an Alert if the node is SUB'd. */
  localChange(uri: string, value: string | undefined): void {
    if (value === undefined) this.tree.delete(uri, "device");
    else this.tree.set(uri, value, "text/plain", "device");
  }

  // ---- the session engine ---------------------------------------------------------------------

  private async run(startUrl: string, options: SessionOptions): Promise<SessionOutcome> {
    const outcome: SessionOutcome = { packages: [], ended: false, aborted: false };
    this.sessions.push(outcome);
    const alerts = [...(options.alerts ?? [{ AlertType: ALERT.clientInitiated }]), ...changeAlerts(this.tree)];
    let response = await this.post(startUrl, options.emptyBody ? undefined : { Alert: alerts }, options.contentType ?? MEDIA.initiation, options.accept);
    for (let index = 0; ; index++) {
      const text = await response.text();
      const contentType = response.headers.get("Content-Type");
      const nextNonce = response.headers.get("OMADM-NextNonce");
      if (response.status === 200 && nextNonce !== null) this.package0Nonce = nextNonce;
      if (response.status !== 200) {
        outcome.error = { status: response.status, contentType, body: text };
        return outcome;
      }
      const pkg = JSON.parse(text) as { CMD?: Dm2Command[] };
      if (!Array.isArray(pkg.CMD)) throw new Error(`package without CMD: ${text}`);
      const record: PackageRecord = {
        url: response.url || startUrl,
        httpStatus: response.status,
        contentType,
        sessionId: response.headers.get("OMADM-SessionID"),
        location: response.headers.get("Location"),
        commands: pkg.CMD,
        statuses: [],
        alerts: [],
      };
      outcome.packages.push(record);
      let next: string | undefined;
      let executed = 0;
      for (const cmd of pkg.CMD) {
        if (options.abort && options.abort.inPackage === index && executed === options.abort.afterCommands) {
          await this.abort(record, next, options.abort.spelling ?? "session");
          outcome.aborted = true;
          return outcome;
        }
        const name = cmd[0];
        if (typeof name === "string" && SESSION_CONTROL.has(name)) {
          if (name === "END") outcome.ended = true;
          else next = typeof cmd[1] === "string" ? cmd[1] : undefined;
          break;
        }
        record.statuses.push(await executeCommand(cmd, this.context()));
        executed++;
      }
      if (outcome.ended) return outcome;
      if (!next) throw new Error(`package ${index} ends with neither CONT nor END: ${text}`);
      record.alerts = changeAlerts(this.tree);
      const body: { Status: Dm2Status[]; Alert?: Dm2Alert[] } = { Status: record.statuses };
      if (record.alerts.length) body.Alert = record.alerts;
      response = await this.put(next, body, options.resultContentType ?? MEDIA.response, options.accept);
    }
  }

  private async abort(record: PackageRecord, _cont: string | undefined, spelling: "session" | "sessions" | "none"): Promise<void> {
    if (spelling === "none") return;
    const contUri = record.commands.find((c) => c[0] === "CONT")?.[1];
    const id = record.sessionId ?? (typeof contUri === "string" ? contUri.split("/").pop() : undefined);
    if (!id) throw new Error("no session id to abort");
    const res = await this.http.request(`${this.serverRoot}/${spelling}/id/${id}`, { method: "DELETE" });
    await res.arrayBuffer();
    if (res.status !== 204) throw new Error(`DELETE ${spelling}/id/${id}: ${res.status}`);
  }

  private context(): CommandContext {
    return {
      tree: this.tree,
      http: this.http,
      pendingExecs: this.pendingExecs,
      shownPages: this.shownPages,
      setDefaultServer: (url) => (this.serverRoot = url.replace(/\/+$/, "")),
    };
  }

  private headers(contentType: string | undefined, accept: string | undefined): Record<string, string> {
    const h: Record<string, string> = { Accept: accept ?? MEDIA.request };
    if (contentType) h["Content-Type"] = contentType;
    if (this.sendDevId) h["OMADM-DevID"] = this.devId;
    return h;
  }

  private post(url: string, body: unknown, contentType: string, accept?: string): Promise<Response> {
    return this.http.request(url, { method: "POST", headers: this.headers(body === undefined ? undefined : contentType, accept), body: body === undefined ? undefined : JSON.stringify(body) });
  }

  private put(url: string, body: unknown, contentType: string, accept?: string): Promise<Response> {
    return this.http.request(url, { method: "PUT", headers: this.headers(contentType, accept), body: JSON.stringify(body) });
  }
}
