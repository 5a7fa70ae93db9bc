// The state of one SyncML DM 1.2 session and what the engine works with for one message: the
// session the object stored, the device's tables behind a small port, and the turn being built.
import type { Command, Encoding, Status, SyncMLMessage } from "../codec";
import type { CommandPath, GenericAlert } from "./job-model";
import type { JobStore } from "./job-store";
import type { IncomingObject, OutgoingObject } from "./large-object";
import type { AuthType, ClientAuth, ServerAuth } from "./security";

/** The server's own limit on what it accepts in one message (announced as MaxMsgSize). */
export const SERVER_MAX_MSG_SIZE = 512 * 1024;
/** A device that refuses the server's credentials this often in a session fails the refused commands. */
export const MAX_SERVER_AUTH_FAILURES = 5;

export interface InFlight {
  jobId: string;
  path: CommandPath;
  /** The server message that carried it. */
  msgId: number;
  /** For a chunk of a large object: where it starts and whether more follow. */
  chunk?: { start: number; more: boolean; index: number };
}

export interface Ref {
  jobId: string;
  path: CommandPath;
}

/** What the object keeps between the messages of one authenticated session. */
export interface SessionState {
  /** The job model's key for this session ("syncml:" + the RespURI secret's hash). */
  key: string;
  /** Hex SHA-256 of the RespURI secret: a continuation must present the secret itself. */
  secretHash: string;
  /** The RespURI of this message (not stored: it carries the secret). */
  respUri: string;
  sessionId: string;
  serverMsgId: number;
  nextCmdId: number;
  maxMsgSize: number;
  maxObjSize?: number;
  encoding: Encoding;
  contentType: string;
  serverAuthAccepted: boolean;
  serverAuthFailures: number;
  /** CmdID → job command, for the commands the device has not answered yet. */
  inFlight: Record<string, InFlight>;
  /** CmdID → job command, answered with a Status; their Results may still be on the way (in chunks). */
  answered: Record<string, InFlight>;
  /** The rest of the server's package: commands that did not fit in the last message. */
  queue: Ref[];
  /** Commands the device refused to execute because it did not accept the server's credentials. */
  resend: Ref[];
  outgoingObject?: OutgoingObject;
  incomingObject?: IncomingObject;
  lastActivity: number;
  ended: boolean;
}

/** The device's tables, as the engine needs them. */
export interface DevicePort {
  storeNode(uri: string, value: string, format?: string, type?: string): void;
  node(uri: string): string | undefined;
  genericAlert(correlator: string | undefined, alerts: GenericAlert[]): void;
  consumeNotification(sessionId: string): void;
  /** A NextNonce never used before, for the client's next credentials (the current one is kept as the previous). */
  freshClientNonce(): string;
  /** The device's Chal for the server's credentials: the type and nonce to use from now on. */
  serverChallenge(type: AuthType | undefined, nextNonce: string | undefined): void;
  /** A wrong guess; true when this one started a lock-out. */
  authFailed(): boolean;
  authSucceeded(): void;
  /** Whether the device also speaks DM 2.0 (registered DM2.0 or both): DM 2.0-only job commands then wait for a DM 2.0 session. */
  speaksDm2?(): boolean;
}

export interface EngineInput {
  now: number;
  message: SyncMLMessage;
  body: Uint8Array;
  encoding: Encoding;
  contentType: string;
  hmac?: string;
  /** The live session this message continues (it came to the session's RespURI with its secret), or none: a new session. */
  session?: SessionState;
  /** The session the device had before (released when a new one authenticates). */
  previousKey?: string;
  /** For a new session: its key, secret hash and RespURI. */
  fresh: { key: string; secretHash: string; respUri: string };
  /** Where an unauthenticated client sends its next try: the plain endpoint (a new session again). */
  entryUri: string;
  client: ClientAuth;
  locked: boolean;
  server: ServerAuth;
}

export interface EngineOutput {
  body: Uint8Array;
  headers: Record<string, string>;
  /** The session to store; none when nothing authenticated happened. */
  session?: SessionState;
}

export interface Ports {
  jobs: JobStore;
  device: DevicePort;
}

/** One message being answered: what inbound and outbound processing share. */
export interface Turn {
  readonly in_: EngineInput;
  readonly p: Ports;
  readonly s: SessionState;
  readonly hdr: SyncMLMessage["header"];
  /** The server's statuses (and Alerts 1222) of this message, in order. */
  readonly statuses: Command[];
  /** The server's credentials, as the device last challenged them. */
  readonly server: ServerAuth;
  cmdId(): string;
  header(respUri: string, msgId: number): SyncMLMessage["header"];
}

/** The Status for one of the client's commands, with its refs. */
export function statusFor(t: Turn, c: Command, code: string, extra: Partial<Status> = {}): Status {
  const item = "items" in c ? c.items?.[0] : undefined;
  return {
    kind: "Status",
    cmdId: t.cmdId(),
    msgRef: t.hdr.msgId,
    cmdRef: c.cmdId,
    cmd: c.kind,
    ...(c.kind !== "Results" && item?.target ? { targetRefs: [item.target.locURI] } : {}),
    ...(c.kind !== "Results" && item?.source ? { sourceRefs: [item.source.locURI] } : {}),
    data: code,
    ...extra,
  };
}
