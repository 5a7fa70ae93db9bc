// Server policy of the Twinning enabler, from the gateway's configuration (src/config.ts).
import { config } from "../config";
import type { Env } from "../env";
import type { Mno } from "./schemas";

/** The MNOs this gateway generates activation codes for (HOME_MNOS). */
export const homeMnos = (env: Env): Mno[] => config(env).HOME_MNOS;

/** HLF-TE-005: how long an activation code lives (ACTIVATION_CODE_TTL_SECONDS). */
export const codeTtlMs = (env: Env): number => config(env).ACTIVATION_CODE_TTL_SECONDS * 1000;
