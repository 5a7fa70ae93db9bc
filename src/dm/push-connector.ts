// The optional push connector: an SMS/WAP-push gateway (DM_PUSH_WEBHOOK) that takes each binary
// package 0 (WSP content type 0x44), for DM 1.2 and DM 2.0 devices alike.
import type { Context } from "hono";
import type { AppEnv, Env } from "../env";
import { config } from "../config";
import { callbackUrlProblem } from "../notify/callback-url";

export function pushPackage0(c: Context<AppEnv>, devId: string, package0: string): void {
  c.executionCtx.waitUntil(sendPackage0(c.env, devId, package0));
}

/** Hands one package 0 to the push gateway, if one is set; never fails (a push that does not arrive is a device that does not call). */
export async function sendPackage0(env: Env, devId: string, package0: string): Promise<void> {
  const { DM_PUSH_WEBHOOK: webhook, CALLBACK_ALLOW_LOOPBACK: allowLoopback } = config(env);
  if (!webhook || callbackUrlProblem(webhook, { allowLoopback })) return;
  await fetch(webhook, {
    method: "POST",
    redirect: "manual",
    signal: AbortSignal.timeout(10_000),
    headers: { "Content-Type": "application/vnd.syncml.notification", "X-WSP-Content-Type": "0x44", "X-DM-Device-Id": devId },
    body: Uint8Array.from(atob(package0), (ch) => ch.charCodeAt(0)),
  }).then((r) => r.body?.cancel(), (err) => console.warn(`push connector failed: ${err instanceof Error ? err.message : String(err)}`));
}
