import type { SubscriberObject } from "./twinning/subscriber-object";
import type { ActivationCodeObject } from "./twinning/activation-code-object";
import type { OAuthClientObject } from "./oauth/client-object";
import type { SigningKeysObject } from "./oauth/signing-keys-object";
import type { TokenFamilyObject } from "./oauth/token-family-object";
import type { NotificationChannelObject } from "./notify/channel-object";
import type { DeviceObject } from "./dm/device-object";
import type { PeerRegistryObject } from "./federation/peer-registry-object";
import type { IdempotencyObject } from "./federation/idempotency-object";
import type { CallSessionObject } from "./webrtc/session-object";
import type { SignalingUserObject } from "./webrtc/user-object";

export interface Env {
  SUBSCRIBERS: DurableObjectNamespace<SubscriberObject>;
  ACTIVATION_CODES: DurableObjectNamespace<ActivationCodeObject>;
  OAUTH_CLIENTS: DurableObjectNamespace<OAuthClientObject>;
  SIGNING_KEYS: DurableObjectNamespace<SigningKeysObject>;
  TOKEN_FAMILIES: DurableObjectNamespace<TokenFamilyObject>;
  CHANNELS: DurableObjectNamespace<NotificationChannelObject>;
  DEVICES: DurableObjectNamespace<DeviceObject>;
  PEERS: DurableObjectNamespace<PeerRegistryObject>;
  IDEMPOTENCY: DurableObjectNamespace<IdempotencyObject>;
  CALL_SESSIONS: DurableObjectNamespace<CallSessionObject>;
  SIGNALING_USERS: DurableObjectNamespace<SignalingUserObject>;
  /** Token endpoint and device authorization requests per client_id (wrangler.toml [[ratelimits]]). */
  OAUTH_CLIENT_RATE_LIMIT: RateLimit;
  /** Device authorization requests per subscriber. */
  DEVICE_AUTHORIZATION_RATE_LIMIT: RateLimit;
  /** Activation-code requests per secondary; activation attempts per code and across all primaries. */
  ACTIVATION_CODE_RATE_LIMIT: RateLimit;
  ACTIVATION_GUESS_PER_CODE_RATE_LIMIT: RateLimit;
  ACTIVATION_GUESS_RATE_LIMIT: RateLimit;
  /** Federation API requests per calling peer operator. */
  FEDERATION_PEER_RATE_LIMIT: RateLimit;
  /** Bearer token of the operator admin API. A secret in production; `dev-admin-token` in .dev.vars. */
  ADMIN_TOKEN?: string;
  ACTIVATION_CODE_TTL_SECONDS?: string;
  ACCESS_TOKEN_TTL_SECONDS?: string;
  /** Comma-separated MCC-MNC pairs served by this gateway, e.g. "001-01,001-02". */
  HOME_MNOS?: string;
  /** Issuer URL of tokens; defaults to the origin the request arrived on. */
  ISSUER?: string;
  /**
   * How /oauth/authorize and /oauth/device_authorization learn which subscriber is asking:
   * "assertion" (default): a device-key JWT (login_hint_token / assertion parameter);
   * "header": a tel: URI in TRUSTED_SUBSCRIBER_HEADER, set by the operator's edge (which must strip it from clients).
   */
  SUBSCRIBER_IDENTIFICATION?: string;
  TRUSTED_SUBSCRIBER_HEADER?: string;
  /** "true" only in local development: callbacks may use http on loopback. */
  CALLBACK_ALLOW_LOOPBACK?: string;
  /** Optional HTTP push connector (an SMS/WAP-push gateway) that receives each DM package 0. */
  DM_PUSH_WEBHOOK?: string;
  /** How long a failing notification is retried before it is dropped and counted (default 86400). */
  NOTIFY_RETRY_WINDOW_SECONDS?: string;
  /** "true" only in local development: inter-MNO peers may be http on loopback. */
  PEER_ALLOW_LOOPBACK?: string;
  /** JSON object of service name → URL: the primary's network services shown to a twinned secondary at a peer (HLF-IC-006). */
  PRIMARY_SERVICES?: string;
  /** Seconds an unanswered WebRTC call rings before it ends as NoAnswer (default 60). */
  WEBRTC_RING_TIMEOUT_SECONDS?: string;
}

export type AppEnv = { Bindings: Env; Variables: { correlator: string; auth?: import("./http/auth").TokenContext } };

declare global {
  // `import { env } from "cloudflare:workers"` (and the test helpers) see the gateway's bindings.
  namespace Cloudflare {
    interface Env extends GatewayEnv {}
  }
}

type GatewayEnv = Env;
