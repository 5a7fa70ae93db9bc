// What a service provider may do, as data: device groups, grants and the pure checks over them.
// The registry object (./registry-object.ts) stores these; nothing here touches storage.
//
// A grant names one device group, the management subtrees it opens (./FUMO, ./Vendor/AppX) and the
// operations allowed there (read = Get, write = Add/Replace/Delete/Copy, exec = Exec). A provider
// may hold several grants; a request passes when, for every device, one grant covering that device
// covers the subtree and each operation asked for.

export const OPERATIONS = ["read", "write", "exec"] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The attributes a group filter selects on (the operator's device inventory). */
export const ATTRIBUTES = ["manufacturer", "model", "firmwareVersion", "mno"] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export interface DeviceAttributes {
  manufacturer?: string;
  model?: string;
  firmwareVersion?: string;
  /** MCC-MNC of the network the device is on. */
  mno?: string;
  /** The device's subscriber (tel:+E164): service provisioning pushes to a subscriber's devices. */
  subscriber?: string;
}

/** Each named attribute must equal the value, or one of the values (an AND of ORs). */
export type GroupFilter = Partial<Record<Attribute, string | string[]>>;

export type GroupDefinition = { devices: string[] } | { filter: GroupFilter };

export interface Grant {
  group: string;
  subtrees: string[];
  operations: Operation[];
}

/** "FUMO", "./FUMO/", "/FUMO" all name "./FUMO"; "." and "./" the root. */
export function normaliseSubtree(uri: string): string {
  let p = uri.trim();
  if (p.startsWith("./")) p = p.slice(2);
  else if (p.startsWith("/")) p = p.slice(1);
  else if (p === ".") p = "";
  p = p.replace(/\/+$/, "");
  return p ? `./${p}` : ".";
}

/** Whether `granted` is `asked` or one of its ancestors. */
export function subtreeCovers(granted: string, asked: string): boolean {
  const g = normaliseSubtree(granted);
  const a = normaliseSubtree(asked);
  return g === "." || a === g || a.startsWith(`${g}/`);
}

export function matchesFilter(filter: GroupFilter, device: DeviceAttributes | undefined): boolean {
  if (!device) return false;
  return ATTRIBUTES.every((k) => {
    const want = filter[k];
    if (want === undefined) return true;
    const have = device[k];
    return have !== undefined && (Array.isArray(want) ? want.includes(have) : want === have);
  });
}

/** What one authorization refused, by kind; empty lists mean nothing of that kind was refused. */
export interface Refusal {
  devices: string[];
  /** A group asked for that does not exist. */
  group?: string;
  /** Set when the subtree itself is outside every grant covering the devices. */
  subtree?: string;
  operations: Operation[];
  /** The subtree that was asked for (named with an operation refusal). */
  asked: string;
}

/** The 403 text naming what was refused, e.g. `operation exec on ./FUMO not granted to provider abc`. */
export function refusalText(provider: string, r: Refusal): string {
  const parts: string[] = [];
  if (r.group !== undefined) parts.push(`group ${r.group} (no such group)`);
  if (r.devices.length) parts.push(`device${r.devices.length > 1 ? "s" : ""} ${summarise(r.devices)}`);
  if (r.subtree !== undefined) parts.push(`subtree ${r.subtree}`);
  if (r.operations.length) parts.push(`operation${r.operations.length > 1 ? "s" : ""} ${r.operations.join(", ")}${r.subtree === undefined ? ` on ${r.asked}` : ""}`);
  return `${parts.join("; ")} not granted to provider ${provider}`;
}

function summarise(ids: string[]): string {
  return ids.length <= 5 ? ids.join(", ") : `${ids.slice(0, 5).join(", ")} and ${ids.length - 5} more`;
}

/** The operation each job command kind needs. */
export function operationOf(kind: string): Operation | undefined {
  if (kind === "Get") return "read";
  if (kind === "Add" || kind === "Replace" || kind === "Delete" || kind === "Copy") return "write";
  if (kind === "Exec") return "exec";
  return undefined;
}
