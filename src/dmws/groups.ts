// Device groups: named sets of devices, kept by the operator as a list or as a filter over device
// attributes (manufacturer, model, firmware version, MNO) of the inventory. Campaigns and
// operations walk a group with resolveGroup, a page at a time.
import type { Env } from "../env";
import { notFound } from "../http/errors";
import { REGISTRY_NAME, type Group, type Page } from "./registry-object";

export type { Group, Page } from "./registry-object";

export const registry = (env: Env) => env.DMWS_REGISTRY.getByName(REGISTRY_NAME);

/**
 * The device ids of group `name`, in devId order, `limit` (1..1000, default 500) at a time; pass the
 * answer's `nextCursor` to get the next page (absent on the last). 404 for an unknown group.
 */
export async function resolveGroup(env: Env, name: string, page: { cursor?: string; limit?: number } = {}): Promise<Page<string>> {
  const found = await registry(env).resolveGroup(name, page.cursor, page.limit ?? 500);
  if (!found) throw notFound("group", name);
  return found;
}

/** Every device id of a group (all pages). */
export async function allDevicesOf(env: Env, name: string): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await resolveGroup(env, name, { ...(cursor ? { cursor } : {}), limit: 1000 });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

export async function group(env: Env, name: string): Promise<Group> {
  const g = await registry(env).group(name);
  if (!g) throw notFound("group", name);
  return g;
}
