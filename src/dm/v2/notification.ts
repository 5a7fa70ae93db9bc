// Asking a DM 2.0 device to connect (x.2.1, x.2.4): a pending session of its DM account with the
// package 0 that announces it (DM 1.2 layout, version 2.0). GET /dm/v2/sessions/pending and the
// northbound GET /dm/v1/devices/{devId}/notifications show it (the outbox an SMS/WAP-push gateway
// reads), and it goes to the push connector (DM_PUSH_WEBHOOK) exactly as for DM 1.2.
import type { Context } from "hono";
import type { AppEnv, Env } from "../../env";
import { unwrap } from "../../http/errors";
import type { UiMode } from "../../codec";
import { pushPackage0 } from "../push-connector";
import { jobPort } from "./device-binding";
import type { Initiator, SessionView } from "./session-store";
import { deviceStub } from "../../residency";

/** The northbound API's view of a notification (as DeviceObject's NotificationRecord). */
export interface Dm2NotificationRecord {
  id: string;
  sessionId: string;
  package0: string;
  createdAt: number;
}

export async function notifyDevice(c: Context<AppEnv>, accountId: string, devId: string, initiator: Initiator, uiMode?: UiMode): Promise<SessionView> {
  const pending = unwrap(await c.env.DM_ACCOUNTS.getByName(accountId).notifyPending(devId, initiator, uiMode));
  if (pending.notification) pushPackage0(c, devId, pending.notification.package0);
  return pending;
}

const record = (s: SessionView): Dm2NotificationRecord => ({
  id: s.sessionId,
  sessionId: s.notification!.sessionNum.toString(16).toUpperCase(),
  package0: s.notification!.package0,
  createdAt: s.notification!.createdAt,
});

/** The account that registered the device for DM 2.0, when its notifications are DM 2.0 ones (no DM 1.2 account beside). */
async function dm2Owner(env: Env, devId: string): Promise<string | undefined> {
  const port = jobPort(env, devId);
  const binding = await port.dm2Binding();
  if (!binding) return undefined;
  if (binding.protocol !== "DM2.0" && (await deviceStub(env, devId).device())) return undefined;
  return binding.accountId;
}

/** The northbound trigger (POST /dm/v1/devices/{devId}/notifications) for a DM 2.0 device; undefined for a DM 1.2 one. */
export async function dm2Notification(env: Env, devId: string, uiMode: UiMode): Promise<Dm2NotificationRecord | undefined> {
  const accountId = await dm2Owner(env, devId);
  if (!accountId) return undefined;
  return record(unwrap(await env.DM_ACCOUNTS.getByName(accountId).notifyPending(devId, "server", uiMode)));
}

/** The outbox (GET /dm/v1/devices/{devId}/notifications) of a DM 2.0 device: its pending session's package 0. */
export async function dm2Notifications(env: Env, devId: string): Promise<Dm2NotificationRecord[] | undefined> {
  const accountId = await dm2Owner(env, devId);
  if (!accountId) return undefined;
  const sessions = unwrap(await env.DM_ACCOUNTS.getByName(accountId).sessionsIn("pending"));
  return sessions.filter((s) => s.devId === devId && s.state === "pending" && s.notification).map(record);
}
