// Who is calling the campaign API and which devices a campaign may reach. The operator (admin
// token) sees and runs every campaign; a service provider (an access token with dm:manage) its own.
// The seam for the provider grants of src/dmws (group resolution, grant checks per device and
// operation): until they exist, a campaign names its devices and dm:manage covers them.
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { requireAdminOrScope } from "../../http/auth";
import type { Caller } from "./campaign-object";

export const requireCampaignCaller = requireAdminOrScope("dm:manage");

export function callerOf(c: Context<AppEnv>): Caller {
  const auth = c.get("auth");
  return auth ? { operator: false, clientId: auth.clientId } : { operator: true };
}

export const ownerOf = (caller: Caller): string => (caller.operator ? "operator" : caller.clientId);

/** The devices of a campaign's target, in campaign order, each once. */
export async function resolveTarget(_c: Context<AppEnv>, _caller: Caller, target: { devices: string[] }): Promise<string[]> {
  return [...new Set(target.devices)];
}
