// Looking up peers: by MNO (outbound calls) and by issuer (inbound tokens). The registry object is
// the truth; each isolate keeps its list for a few seconds, so a federation request does not cost
// a call to one global object, and a removed peer loses access within that time everywhere (at
// once in the isolate that removed it).
import type { Env } from "../env";
import type { Mno } from "../twinning/schemas";
import type { PeerRecord } from "./peer-registry-object";

const CACHE_MS = 5_000;
let cached: { at: number; peers: PeerRecord[] } | undefined;

export const REGISTRY_NAME = "peers";
export const registry = (env: Env) => env.PEERS.getByName(REGISTRY_NAME);
export const mnoKey = (m: Mno) => `${m.mcc}-${m.mnc}`;
export function parseMnoKey(key: string): Mno | undefined {
  const m = key.match(/^([0-9]{3})-([0-9]{2,3})$/);
  return m ? { mcc: m[1]!, mnc: m[2]! } : undefined;
}

async function peers(env: Env): Promise<PeerRecord[]> {
  if (!cached || Date.now() - cached.at > CACHE_MS) cached = { at: Date.now(), peers: await registry(env).list() };
  return cached.peers;
}

/** Called after a registration changes in this isolate. */
export function forgetPeers(): void {
  cached = undefined;
}

export async function peerByMno(env: Env, mno: Mno | string): Promise<PeerRecord | undefined> {
  const key = typeof mno === "string" ? mno : mnoKey(mno);
  return (await peers(env)).find((p) => p.mno === key);
}

export async function peerByIssuer(env: Env, issuer: string): Promise<PeerRecord | undefined> {
  return (await peers(env)).find((p) => p.issuer === issuer);
}
