// Data residency: where a subscriber's and a device's Durable Objects live. Each served MNO may have
// a setting in RESIDENCY (src/config.ts): a jurisdiction (`eu`, `fedramp`: the object is created and
// kept inside it, Cloudflare guarantees it never leaves) or a location hint (where the object is
// first created; a preference, not a guarantee). Every place that picks a subscriber's or device's
// object asks here (`subscriberStub`, `deviceStub`), so the choice is made once, the same way, for
// every request, alarm and RPC between objects.
//
// Which MNO a name belongs to: the MNO whose `prefixes` match the name (the longest match wins: an
// E.164 range such as "tel:+4917", a device-id range such as "IMEI:3598"), otherwise the gateway's
// first served MNO (HOME_MNOS[0]), which is the whole answer for a gateway that serves one MNO.
//
// A jurisdiction is part of the object's id: the same name in another jurisdiction is another object.
// Setting or changing an MNO's jurisdiction therefore applies to objects created from then on; set it
// before that MNO's subscribers and devices are provisioned (README, "Data residency"). A location
// hint does not change the id and is safe to change at any time. workerd (npm start, the tests) does
// not implement jurisdictions ("Jurisdiction restrictions are not implemented in workerd"): the
// placement decision is tested on its own, and locally a jurisdiction is refused with that error.
import { config, type ResidencySetting } from "./config";
import type { Env } from "./env";

export type { ResidencySetting } from "./config";

export interface Placement extends ResidencySetting {
  /** The served MNO ("MCC-MNC") the name was found to belong to. */
  mno: string;
}

/** The residency setting of one served MNO (none: Cloudflare places the object near its first use). */
export function placementOf(env: object, mno: string): ResidencySetting {
  return config(env).RESIDENCY[mno] ?? {};
}

/** The served MNO a subscriber address or device id belongs to: by the longest matching prefix, else the first served MNO. */
export function mnoOf(env: object, name: string): string {
  const cfg = config(env);
  let best: { mno: string; length: number } | undefined;
  for (const [mno, setting] of Object.entries(cfg.RESIDENCY)) {
    for (const prefix of setting.prefixes ?? []) {
      if (name.startsWith(prefix) && prefix.length > (best?.length ?? -1)) best = { mno, length: prefix.length };
    }
  }
  if (best) return best.mno;
  const home = cfg.HOME_MNOS[0];
  return home ? `${home.mcc}-${home.mnc}` : "";
}

/** Where the object named `name` lives. */
export function placementFor(env: object, name: string): Placement {
  const mno = mnoOf(env, name);
  return { mno, ...placementOf(env, mno) };
}

type Namespace<T extends Rpc.DurableObjectBranded | undefined> = DurableObjectNamespace<T>;

/** The stub of `name` in `ns` as `placement` says: inside its jurisdiction, or with its location hint. */
export function stubIn<T extends Rpc.DurableObjectBranded | undefined>(ns: Namespace<T>, placement: ResidencySetting, name: string): DurableObjectStub<T> {
  if (placement.jurisdiction) return ns.jurisdiction(placement.jurisdiction).getByName(name);
  return placement.locationHint ? ns.getByName(name, { locationHint: placement.locationHint }) : ns.getByName(name);
}

/** A subscriber's object (twinning, OAuth ledger, notifications), named by its address. */
export const subscriberStub = (env: Env, address: string) => stubIn(env.SUBSCRIBERS, placementFor(env, address), address);

/** A managed device's object (DM jobs, tree, sessions), named by its devId. */
export const deviceStub = (env: Env, devId: string) => stubIn(env.DEVICES, placementFor(env, devId), devId);

/**
 * Why `name` cannot be provisioned as a subscriber of `mno`: its object is placed by the MNO its name
 * belongs to (prefixes, else the first served MNO), so a name that resolves to an MNO with another
 * placement would have its data kept where `mno`'s regulator does not want it. Undefined when the two agree.
 */
export function placementConflict(env: object, name: string, mno: string): string | undefined {
  const at = placementFor(env, name);
  const wanted = placementOf(env, mno);
  if (at.mno === mno || ((at.jurisdiction ?? "") === (wanted.jurisdiction ?? "") && (at.locationHint ?? "") === (wanted.locationHint ?? ""))) return undefined;
  return `${name} is placed as a subscriber of ${at.mno} (RESIDENCY prefixes), not ${mno}: add its range to ${mno}'s prefixes`;
}
