// Who is calling the campaign API and which devices a campaign may reach. The operator (admin
// token) sees and runs every campaign, over any device or group; a service provider (an access
// token with dm:manage) its own, over the devices its grants cover for every command of the
// operation (src/dmws/access.ts `authorize`: a refusal is 403 naming what was refused, and is
// written to the audit trail).
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { requireAdminOrScope } from "../../http/auth";
import { authorize, type Operation } from "../access";
import { allDevicesOf } from "../groups";
import type { JobCommandSpec } from "../../dm/job-model";
import { planOperation } from "../operation-kinds";
import type { Caller } from "./campaign-object";
import type { CampaignOperation } from "./dispatch";

export const requireCampaignCaller = requireAdminOrScope("dm:manage");

export function callerOf(c: Context<AppEnv>): Caller {
  const auth = c.get("auth");
  return auth ? { operator: false, clientId: auth.clientId } : { operator: true };
}

export const ownerOf = (caller: Caller): string => (caller.operator ? "operator" : caller.clientId);

export type CampaignTarget = { devices: string[] } | { group: string };

/** The grant a command needs: its tree URI and operation (a UI alert needs none). */
const OPERATION_OF: Partial<Record<JobCommandSpec["kind"], Operation>> = { Get: "read", Add: "write", Replace: "write", Delete: "write", Copy: "write", Exec: "exec" };

function needs(commands: JobCommandSpec[], out = new Map<string, Set<Operation>>()): Map<string, Set<Operation>> {
  for (const cmd of commands) {
    if ("commands" in cmd) {
      needs(cmd.commands, out);
      continue;
    }
    if (!("target" in cmd)) continue;
    const add = (uri: string, op: Operation) => out.set(uri, (out.get(uri) ?? new Set<Operation>()).add(op));
    add(cmd.target, OPERATION_OF[cmd.kind]!);
    if (cmd.kind === "Copy") add(cmd.source, "read");
  }
  return out;
}

/** Each (subtree, operations) the campaign's operation needs on every device: its commands', or the operation's plan (../operation-kinds.ts). */
function needsOf(operation: CampaignOperation): Map<string, Set<Operation>> {
  if (!("kind" in operation)) return needs(operation.commands);
  const out = new Map<string, Set<Operation>>();
  for (const n of planOperation(operation, "").needs) out.set(n.subtree, new Set([...(out.get(n.subtree) ?? []), ...n.operations]));
  return out;
}

/** The devices of a campaign's target, in campaign order, each once; for a provider, only if its grants cover every command. */
export async function resolveTarget(c: Context<AppEnv>, caller: Caller, target: CampaignTarget, operation: CampaignOperation): Promise<string[]> {
  if (caller.operator) return "group" in target ? allDevicesOf(c.env, target.group) : [...new Set(target.devices)];
  const asked = "group" in target ? { group: target.group } : [...new Set(target.devices)];
  let covered: string[] | undefined;
  for (const [subtree, ops] of needsOf(operation)) {
    covered = await authorize(c.env, caller.clientId, asked, subtree, [...ops], "POST /dmws/v1/campaigns");
  }
  return covered ?? (await authorize(c.env, caller.clientId, asked, ".", [], "POST /dmws/v1/campaigns"));
}
