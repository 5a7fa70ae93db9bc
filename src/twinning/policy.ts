// Server policy of the Twinning enabler, read from the Worker's variables.
import type { Env } from "../env";
import type { Mno } from "./schemas";

/** The MNOs this gateway generates activation codes for (HOME_MNOS, "MCC-MNC,..."). */
export function homeMnos(env: Env): Mno[] {
  return (env.HOME_MNOS ?? "")
    .split(",")
    .map((s) => s.trim().match(/^([0-9]{3})-([0-9]{2,3})$/))
    .filter((m): m is RegExpMatchArray => !!m)
    .map((m) => ({ mcc: m[1]!, mnc: m[2]! }));
}

/** HLF-TE-005: how long an activation code lives (ACTIVATION_CODE_TTL_SECONDS, default 300). */
export function codeTtlMs(env: Env): number {
  const seconds = Number(env.ACTIVATION_CODE_TTL_SECONDS ?? 300);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : 300) * 1000;
}
