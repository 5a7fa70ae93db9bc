// Asking a DM 2.0 device to connect (x.2.1, x.2.4): a pending session with its package 0, which
// GET /dm/v2/sessions/pending shows (the outbox an SMS/WAP-push gateway reads) and which is POSTed
// to the push connector (DM_PUSH_WEBHOOK) when one is configured, exactly as for DM 1.2.
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { unwrap } from "../../http/errors";
import { callbackUrlProblem } from "../../notify/callback-url";
import type { UiMode } from "../../codec";
import type { Initiator, SessionView } from "./session-store";

export async function notifyDevice(c: Context<AppEnv>, accountId: string, devId: string, initiator: Initiator, uiMode?: UiMode): Promise<SessionView> {
  const pending = unwrap(await c.env.DM_ACCOUNTS.getByName(accountId).notifyPending(devId, initiator, uiMode));
  const webhook = c.env.DM_PUSH_WEBHOOK;
  if (pending.notification && webhook && !callbackUrlProblem(webhook, { allowLoopback: c.env.CALLBACK_ALLOW_LOOPBACK === "true" })) {
    c.executionCtx.waitUntil(
      fetch(webhook, {
        method: "POST",
        redirect: "manual",
        signal: AbortSignal.timeout(10_000),
        headers: { "Content-Type": "application/vnd.syncml.notification", "X-WSP-Content-Type": "0x44", "X-DM-Device-Id": devId },
        body: Uint8Array.from(atob(pending.notification.package0), (ch) => ch.charCodeAt(0)),
      }).then((r) => r.body?.cancel(), (err) => console.warn(`push connector failed: ${err instanceof Error ? err.message : String(err)}`)),
    );
  }
  return pending;
}
