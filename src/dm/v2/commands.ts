// The DM 2.0 JSON packages (OMA-TS-DM_Protocol-V2_0): commands as positional arrays in "CMD",
// results as "Status" objects in command order, device events in "Alert". Every package is checked
// here, command by command, so a wrong one is refused with the exact place that is wrong.
import { z } from "@hono/zod-openapi";
import { invalidInput } from "../../http/errors";

/** A node of the device's tree: "./DevInfo/Mod", or MOID-relative ("urn:oma:mo:oma-dm-devinfo:1.0//Mod"). */
export const ClientUri = z
  .string()
  .min(1)
  .max(1024)
  .regex(/^(?:\.(?:\/\S*)?|urn:oma:mo:\S+)$/, "a ClientURI: ./path or urn:oma:mo:MOID//path")
  .openapi({ example: "./DevInfo/Mod" });
/** Where the device fetches or sends data, or continues the session: an absolute http(s) URL. */
export const ServerUri = z
  .string()
  .max(2048)
  .regex(/^https?:\/\/[^\s]+$/, "a ServerURI: an absolute https URL")
  .openapi({ example: "https://dm.example.net/dm/v2/sessions/id/5f0c.../data/1" });

/** Each command and its positional arguments; index 0 is the command name. */
export const COMMANDS = {
  /** Fetch data from ServerURI into the node at ClientURI (adds it, or replaces what is there); optional cache validator. */
  HGET: z.tuple([z.literal("HGET"), ServerUri, ClientUri, z.string().max(256).optional()]),
  /** Send the data of ClientURI to ServerURI with HTTP PUT. */
  HPUT: z.tuple([z.literal("HPUT"), ClientUri, ServerUri]),
  /** Send the data of ClientURI to ServerURI with HTTP POST. */
  HPOST: z.tuple([z.literal("HPOST"), ClientUri, ServerUri]),
  DELETE: z.tuple([z.literal("DELETE"), ClientUri]),
  /** Execute ClientURI with optional data; a correlator ties a later asynchronous result (Alert) to it. */
  EXEC: z.tuple([z.literal("EXEC"), ClientUri, z.string().max(65_536).optional(), z.string().max(128).optional()]),
  /** The ClientURIs at or below ClientURI (answered in Status "URI"). */
  GET: z.tuple([z.literal("GET"), ClientUri]),
  /** Report changes of ClientURI with an Alert until UNSUB. */
  SUB: z.tuple([z.literal("SUB"), ClientUri]),
  UNSUB: z.tuple([z.literal("UNSUB"), ClientUri]),
  /** Continue the session: send the results of this package to ServerURI. */
  CONT: z.tuple([z.literal("CONT"), ServerUri]),
  /** The session ends with this package. */
  END: z.tuple([z.literal("END")]),
  /** The ServerURI the device contacts by default (its DM server address) from now on. */
  DEFAULT: z.tuple([z.literal("DEFAULT"), ServerUri]),
  /** Show the page at ServerURI in the device's browser component (user interaction). */
  SHOW: z.tuple([z.literal("SHOW"), ServerUri]),
} as const;
export type CommandName = keyof typeof COMMANDS;
export type Dm2Command = z.infer<(typeof COMMANDS)[CommandName]>;
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];
/** Commands that steer the session; they carry no management operation and get no Status. */
export const FLOW_COMMANDS: readonly CommandName[] = ["CONT", "END"];

/** Codes a device may answer (OMA-TS-DM_Protocol-V2_0 status codes are HTTP-like). */
const StatusCode = z.coerce.number().int().min(100).max(599);

export const StatusSchema = z
  .object({
    sc: StatusCode.openapi({ type: "integer", example: 200, description: "200 done, 202 accepted (asynchronous EXEC; the result follows as an Alert), 304 not modified (HGET validator matched), 404 no such node, 405 not allowed on a permanent node, 406 not supported, 415 unsupported data type, 500 failed" }),
    URI: z.array(ClientUri).max(10_000).optional().openapi({ description: "GET: the ClientURIs found" }),
  })
  .passthrough()
  .openapi("Dm2Status");
export type Dm2Status = z.infer<typeof StatusSchema>;

export const AlertSchema = z
  .object({
    AlertType: z.string().min(1).max(256).regex(/^\S+$/, "an alert type URN").openapi({ example: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" }),
    SourceURI: z.string().max(1024).optional(),
    TargetURI: z.string().max(1024).optional(),
    Mark: z.string().max(64).optional(),
    DataType: z.string().max(128).optional(),
    Data: z.union([z.string().max(65_536), z.number(), z.boolean()]).optional(),
    Correlator: z.string().max(128).optional().openapi({ description: "The correlator of the EXEC this alert reports the result of" }),
  })
  .strict()
  .openapi("Dm2Alert");
export type Dm2Alert = z.infer<typeof AlertSchema>;

export const ALERT = {
  serverInitiated: "urn:oma:at:dm:2.0:ServerInitiatedMgmt",
  clientInitiated: "urn:oma:at:dm:2.0:ClientInitiatedMgmt",
  bootstrapComplete: "urn:oma:at:dm:2.0:BootstrapComplete",
} as const;

const MAX_COMMANDS = 500;

/** The server's package: `{"CMD":[[...],...]}` (documentation and the tests' check of what the server sends). */
export const CommandPackageSchema = z
  .object({ CMD: z.array(z.array(z.union([z.string(), z.number()])).min(1)).min(1).max(MAX_COMMANDS) })
  .strict()
  .openapi("Dm2CommandPackage", { example: { CMD: [["HGET", "https://dm.example.net/dm/v2/sessions/id/5f0c/data/1", "./Vendor/Setting"], ["HPUT", "./DevInfo/Mod", "https://dm.example.net/dm/v2/sessions/id/5f0c/data/2"], ["CONT", "https://dm.example.net/dm/v2/sessions/id/5f0c"]] } });

/** The device's package: statuses in command order and its own alerts. */
export const ResultPackageSchema = z
  .object({ Status: z.array(StatusSchema).max(MAX_COMMANDS).optional(), Alert: z.array(AlertSchema).max(100).optional() })
  .strict()
  .openapi("Dm2ResultPackage", { example: { Status: [{ sc: 200 }, { sc: 200 }], Alert: [] } });
export type ResultPackage = z.infer<typeof ResultPackageSchema>;

/** Package 1 (initiation): the alerts that start the session (ClientInitiatedMgmt, ServerInitiatedMgmt, a generic alert). */
export const InitiationPackageSchema = z
  .object({ Alert: z.array(AlertSchema).max(100).optional() })
  .strict()
  .openapi("Dm2InitiationPackage", { example: { Alert: [{ AlertType: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" }] } });
export type InitiationPackage = z.infer<typeof InitiationPackageSchema>;

const MAX_PACKAGE_BYTES = 256 * 1024;

/** Parses a package body as JSON: malformed text, a wrong top-level shape or invalid UTF-8 are 400 naming the place. */
export function parseJsonBody(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_PACKAGE_BYTES) throw invalidInput("body", `a package of at most ${MAX_PACKAGE_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw invalidInput("body", "invalid UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidInput("body", `malformed JSON: ${err instanceof Error ? err.message : "unparsable"}`);
  }
}

function check<T>(schema: z.ZodType<T>, value: unknown, at: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  throw invalidInput(`${at}${path}`, issue.message);
}

export const parseResultPackage = (body: unknown): ResultPackage => check(ResultPackageSchema, body ?? {}, "body");
export const parseInitiationPackage = (body: unknown): InitiationPackage => check(InitiationPackageSchema, body ?? {}, "body");

/** Checks one command: a known name, and the arguments that name takes. */
export function parseCommand(value: unknown, at: string): Dm2Command {
  if (!Array.isArray(value) || value.length === 0) throw invalidInput(at, "a command: a non-empty array [NAME, arguments...]");
  const name = value[0];
  if (typeof name !== "string" || !(name in COMMANDS)) throw invalidInput(`${at}[0]`, `one of ${COMMAND_NAMES.join(", ")}`);
  return check(COMMANDS[name as CommandName] as z.ZodType<Dm2Command>, value, at);
}

/** Checks a server package `{"CMD":[...]}` command by command. */
export function parseCommandPackage(body: unknown): Dm2Command[] {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidInput("body", 'an object {"CMD":[...]}');
  const extra = Object.keys(body).find((k) => k !== "CMD");
  if (extra) throw invalidInput(`body.${extra}`, "no such member (only CMD)");
  const cmds = (body as { CMD?: unknown }).CMD;
  if (!Array.isArray(cmds) || cmds.length === 0) throw invalidInput("body.CMD", "a non-empty array of commands");
  if (cmds.length > MAX_COMMANDS) throw invalidInput("body.CMD", `at most ${MAX_COMMANDS} commands`);
  return cmds.map((c, i) => parseCommand(c, `body.CMD[${i}]`));
}

/** The commands of a package that expect a Status (all but CONT and END), in order. */
export const managementCommands = (cmds: Dm2Command[]): Dm2Command[] => cmds.filter((c) => !FLOW_COMMANDS.includes(c[0]));
