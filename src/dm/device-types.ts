// The device object's RPC types and the helpers it shares with nothing else: sealing-key cache,
// constant-time comparison of secret hashes.
import type { Env } from "../env";
import { config } from "../config";
import type { Encoding, SyncMLMessage } from "../codec";
import { ApiError } from "../http/errors";
import { sealingKey, type AuthType } from "./security";

export interface DeviceAccount {
  devId: string;
  serverId: string;
  authType: AuthType;
  clientUsername: string;
  clientPassword: string;
  serverPassword: string;
  subscriber?: string;
}

export interface DeviceView {
  devId: string;
  serverId: string;
  authType: AuthType;
  clientUsername: string;
  subscriber?: string;
  createdAt: number;
  /** Set while the device is locked out after too many wrong credentials (ms since the epoch). */
  authLockedUntil?: number;
}

export interface NotificationRecord {
  id: string;
  sessionId: string;
  package0: string;
  createdAt: number;
  consumedAt?: number;
}

export interface TreeNode {
  value: string;
  format?: string;
  type?: string;
  updatedAt: string;
}

/** What the Worker hands over for one SyncML message. */
export interface IncomingMessage {
  message: SyncMLMessage;
  body: Uint8Array;
  encoding: Encoding;
  hmac?: string;
  /** The origin the request came to: RespURIs are built on it. */
  origin: string;
  /** The RespURI secret the message came to, if it came to one. */
  secret?: string;
}

export interface OutgoingMessage {
  body: Uint8Array;
  headers: Record<string, string>;
}

/** Which DM account registered the device for DM 2.0, and the protocol it said the device speaks. */
export interface Dm2Binding {
  accountId: string;
  protocol: string;
}

const keys = new Map<string, Promise<CryptoKey>>();
export function keyFor(env: Env): Promise<CryptoKey> {
  const setting = config(env).DM_SECRET_KEY;
  if (!setting) throw new ApiError(503, "SVC0001", ["DM_SECRET_KEY is not set: the server's DM secrets cannot be sealed or opened"]);
  let k = keys.get(setting);
  if (!k) keys.set(setting, (k = sealingKey(setting)));
  return k;
}

export function constantTimeHexEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}
