// The one authorization check of the DM web services: every provider request, and every campaign,
// passes through authorize() before anything reaches a device.
import type { Env } from "../env";
import { ApiError } from "../http/errors";
import { refusalText, type Operation } from "./access-model";
import { registry } from "./groups";

export type { Operation } from "./access-model";

/**
 * Whether `provider` (its OAuth client_id) may apply `operations` to `subtree` on `devices` (device
 * ids, or `{ group }` for a whole group). Answers the device ids covered; otherwise throws 403
 * POL0001 naming what was refused (devices, subtree, operations), after the refusal was written to
 * the audit trail (GET /admin/v1/dm-audit). `action` says what was attempted, for that trail.
 */
export async function authorize(
  env: Env,
  provider: string,
  devices: string[] | { group: string },
  subtree: string,
  operations: Operation | Operation[],
  action = "request",
): Promise<string[]> {
  const ops = Array.isArray(operations) ? operations : [operations];
  const decision = await registry(env).authorize({ provider, devices, subtree, operations: ops, action });
  if (decision.allowed) return decision.devices;
  throw new ApiError(403, "POL0001", [refusalText(provider, decision.refusal)]);
}
