// One attempt to deliver one notification to one subscription: by RPC to one of this gateway's
// Notification Channels, or as a signed HTTP POST to a callback URL that passes the SSRF rules at
// the time of use. The queue (queue.ts) decides what is attempted when and what an outcome means.
import type { Env } from "../env";
import { callbackUrlProblem } from "./callback-url";
import type { SubscriptionRow } from "./queue-schema";

const DELIVERY_TIMEOUT_MS = 10_000;

export const SIGNATURE_HEADER = "x-notification-signature";

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`: origin and freshness, as receivers check webhooks. */
export async function signNotification(secret: string, body: string, timestamp: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${timestamp}.${body}`)));
  return `t=${timestamp},v1=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** `delivered`; `failed` (try again later); `gone` (the target will never take it: drop it). */
export type Attempt = { outcome: "delivered" } | { outcome: "failed"; why: string } | { outcome: "gone"; why: string };

export async function attemptDelivery(env: Env, sub: SubscriptionRow, notificationId: string, body: string, policy: { allowLoopback: boolean }): Promise<Attempt> {
  if (sub.channel_id) {
    try {
      const taken = await withDeadline(env.CHANNELS.getByName(sub.channel_id).deliver(JSON.parse(body)), DELIVERY_TIMEOUT_MS);
      return taken ? { outcome: "delivered" } : { outcome: "gone", why: "channel deleted or expired" };
    } catch (err) {
      return { outcome: "failed", why: `channel: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
  // Checked again at use: the policy may have changed since the subscription was made.
  const problem = callbackUrlProblem(sub.notify_url, policy);
  if (problem) return { outcome: "gone", why: `callback URL refused: ${problem}` };
  const timestamp = Math.floor(Date.now() / 1000);
  try {
    const res = await fetch(sub.notify_url, {
      method: "POST",
      redirect: "manual", // a redirect could point anywhere, the internal network included
      signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      headers: {
        "Content-Type": "application/json",
        "X-Notification-Id": notificationId,
        [SIGNATURE_HEADER]: await signNotification(sub.signing_secret, body, timestamp),
      },
      body,
    });
    await res.body?.cancel();
    return res.ok ? { outcome: "delivered" } : { outcome: "failed", why: `HTTP ${res.status}` };
  } catch (err) {
    const name = err instanceof Error ? err.name : "";
    return { outcome: "failed", why: name === "TimeoutError" || name === "AbortError" ? "timeout" : "network error" };
  }
}

/** `promise`, or a rejection after `ms` (an RPC to another object has no deadline of its own). */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (err: unknown) => (clearTimeout(timer), reject(err)),
    );
  });
}
