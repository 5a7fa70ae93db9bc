// Every environment variable of the gateway, parsed and validated in one place.
//
// Read a variable as `config(env).NAME`: it arrives parsed (a number, a boolean, a list), with its
// default applied. Nothing else reads `env.NAME` for a variable (bindings are read from `env` as
// usual). The parse runs once per `env` object (once per isolate in practice) and a bad value fails
// every request that needs the configuration with one error that names the variable, instead of
// quietly falling back to a default the operator did not choose.
//
// To add a variable:
//   1. add one entry to VARIABLES below: its zod schema (type, default, limits) and a comment
//      saying what it means; the helpers (`seconds`, `flag`, `optionalUrl`, ...) cover most kinds;
//   2. give it a value in wrangler.toml [vars] (or `wrangler secret put NAME` for a secret; local
//      development reads secrets from .dev.vars), and a row in the README's Configuration table;
//   3. run `npm run types`, which regenerates worker-configuration.d.ts from wrangler.toml
//      (`npm test` fails while that file is stale).
// A variable with no value in wrangler.toml (an optional URL, a secret) is not in the generated
// type; `config()` reads it all the same, by name, from the runtime's env.
import { z } from "zod";

/** An unset variable and an empty one mean the same: take the default. */
const unsetIfEmpty = (v: unknown) => (typeof v === "string" && v.trim() === "" ? undefined : v);
const variable = <T extends z.ZodType>(schema: T) => z.preprocess(unsetIfEmpty, schema);

/** Whole seconds, > 0. */
const seconds = (fallback: number, max = 365 * 24 * 3600) => variable(z.coerce.number().int().min(1).max(max).default(fallback));
/** "true" or "false" (unset = false). */
const flag = () => variable(z.enum(["true", "false"]).default("false").transform((v) => v === "true"));
const optionalUrl = () => variable(z.url().optional());
const optionalSecret = () => variable(z.string().optional());

export interface Mno {
  mcc: string;
  mnc: string;
}

/** "MCC-MNC,MCC-MNC": the MNOs this gateway serves. */
const mnoList = (fallback: string) =>
  variable(
    z
      .string()
      .default(fallback)
      .transform((s, ctx) => {
        const mnos: Mno[] = [];
        for (const part of s.split(",").map((p) => p.trim()).filter(Boolean)) {
          const m = part.match(/^([0-9]{3})-([0-9]{2,3})$/);
          if (!m) {
            ctx.addIssue({ code: "custom", message: `"${part}" is not MCC-MNC (3 digits, dash, 2 or 3 digits)` });
            return z.NEVER;
          }
          mnos.push({ mcc: m[1]!, mnc: m[2]! });
        }
        return mnos;
      }),
  );

/** A JSON value, parsed, then checked by `schema`. */
const json = <T extends z.ZodType>(schema: T, fallback: string) =>
  variable(
    z
      .string()
      .default(fallback)
      .transform((s, ctx) => {
        try {
          return JSON.parse(s) as unknown;
        } catch {
          ctx.addIssue({ code: "custom", message: "not valid JSON" });
          return z.NEVER;
        }
      })
      .pipe(schema),
  );

/** Where Cloudflare may place a Durable Object (the location hints of DurableObjectNamespace.getByName). */
export const LOCATION_HINTS = ["wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me"] as const;
export const JURISDICTIONS = ["eu", "fedramp", "fedramp-high"] as const;

/** One served MNO's data residency (src/residency.ts): a jurisdiction or a location hint, and which names are its own. */
const ResidencySettingSchema = z
  .object({
    jurisdiction: z.enum(JURISDICTIONS).optional(),
    locationHint: z.enum(LOCATION_HINTS).optional(),
    /** Subscriber addresses and device ids that belong to this MNO, by prefix ("tel:+4917", "IMEI:3598"). */
    prefixes: z.array(z.string().min(1).max(64).regex(/^\S+$/, "a name prefix without spaces")).max(100).optional(),
  })
  .strict()
  .refine((r) => !(r.jurisdiction && r.locationHint), "a jurisdiction or a location hint, not both (a jurisdiction decides the place)");
export type ResidencySetting = z.output<typeof ResidencySettingSchema>;

const VARIABLES = {
  /** Bearer token of the operator admin API (a secret). Unset: the admin API refuses every call. */
  ADMIN_TOKEN: optionalSecret(),
  /** HLF-TE-005 server policy: activation-code lifetime. */
  ACTIVATION_CODE_TTL_SECONDS: seconds(300, 24 * 3600),
  /** Wrong client secrets (per client) or admin tokens from one address that lock that address out (RFC 6749 §10.10). */
  AUTH_FAILURE_LIMIT: variable(z.coerce.number().int().min(1).max(1000).default(10)),
  /** The window in which those failures count, and how long the lock then lasts. */
  AUTH_FAILURE_LOCK_SECONDS: seconds(900, 24 * 3600),
  /** Access-token lifetime. */
  ACCESS_TOKEN_TTL_SECONDS: seconds(3600, 24 * 3600),
  /** The MNOs this gateway generates activation codes for. */
  HOME_MNOS: mnoList("001-01"),
  /** `iss`/`aud` of access tokens; unset: the origin the request arrived on (local development). */
  ISSUER: optionalUrl(),
  /** How /oauth/authorize and /oauth/device_authorization identify the subscriber. */
  SUBSCRIBER_IDENTIFICATION: variable(z.enum(["assertion", "header"]).default("assertion")),
  /** The header the operator's edge sets (and strips from clients) in `header` mode. */
  TRUSTED_SUBSCRIBER_HEADER: variable(z.string().regex(/^[A-Za-z0-9-]+$/, "an HTTP header name").default("x-operator-subscriber").transform((h) => h.toLowerCase())),
  /** Local development only: callbacks may be http on loopback. */
  CALLBACK_ALLOW_LOOPBACK: flag(),
  /** How long a failing notification is retried before it is dropped and counted. */
  NOTIFY_RETRY_WINDOW_SECONDS: seconds(86_400),
  /** Optional HTTP push connector (an SMS/WAP-push gateway) that receives each DM package 0. */
  DM_PUSH_WEBHOOK: optionalUrl(),
  /** Shortest DM client/server password accepted when a device is provisioned (the admin API's policy). */
  DM_MIN_PASSWORD_LENGTH: variable(z.coerce.number().int().min(1).max(256).default(8)),
  /** Shared secret (at least 16 characters) of the operator's provisioning system: it signs its webhooks to /dmws/v1/provisioning-events. */
  DMWS_PROVISIONING_WEBHOOK_SECRET: variable(z.string().min(16).optional()),
  /** Key (a secret, at least 16 characters) that seals each device's DM server secret at rest. */
  DM_SECRET_KEY: variable(z.string().min(16).optional()),
  /** The least severe log line written (src/ops/log.ts): every request is one "info" line. */
  LOG_LEVEL: variable(z.enum(["debug", "info", "warn", "error"]).default("info")),
  /** Local development only: inter-MNO peers may be http on loopback. */
  PEER_ALLOW_LOOPBACK: flag(),
  /** The operator's name on the consent page (/oauth/authorize). */
  OPERATOR_NAME: variable(z.string().min(1).max(80).default("Your operator")),
  /** The operator's logo on the consent page: an https URL or a data:image/…;base64 URI. Unset: the name alone. */
  OPERATOR_LOGO_URL: variable(
    z
      .string()
      .max(64_000)
      .refine((u) => /^https:\/\/[^\s"'<>]+$/.test(u) || /^data:image\/(?:png|jpeg|gif|webp|svg\+xml);base64,[A-Za-z0-9+/]+=*$/.test(u), "an https URL or a data:image/…;base64 URI")
      .optional(),
  ),
  /** HLF-IC-006: service name → URL of this operator's network services, shown to a twinned secondary at a peer. */
  PRIMARY_SERVICES: json(z.record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/), z.url().max(2000)), "{}"),
  /** Data residency per served MNO ("MCC-MNC" → setting): where its subscribers' and devices' objects live (src/residency.ts). */
  // Each key is checked against HOME_MNOS below (so it is an MCC-MNC the gateway serves).
  RESIDENCY: json(z.record(z.string(), ResidencySettingSchema), "{}"),
  /** Seconds an unanswered WebRTC call rings on every device before it ends as NoAnswer. */
  WEBRTC_RING_TIMEOUT_SECONDS: seconds(60, 600),
};

const ConfigSchema = z.object(VARIABLES).superRefine((c, ctx) => {
  // A residency setting for an MNO the gateway does not serve would never apply: say so rather than ignore it.
  const served = new Set(c.HOME_MNOS.map((m) => `${m.mcc}-${m.mnc}`));
  for (const mno of Object.keys(c.RESIDENCY)) {
    if (!served.has(mno)) ctx.addIssue({ code: "custom", path: ["RESIDENCY", mno], message: `${mno} is not one of HOME_MNOS (${[...served].join(", ")})` });
  }
});
export type Config = z.output<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const parsed = new WeakMap<object, Config>();

/** The gateway's configuration, parsed from `env` (once per env object). Throws ConfigError naming every bad variable. */
export function config(env: object): Config {
  let value = parsed.get(env);
  if (value) return value;
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(VARIABLES)) raw[name] = (env as Record<string, unknown>)[name];
  const result = ConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    // Logged where the operator looks (wrangler tail / the dashboard), never a secret's value.
    console.error(`gateway configuration is invalid: ${problems}`);
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  value = result.data;
  parsed.set(env, value);
  return value;
}
