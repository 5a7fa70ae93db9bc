// Northbound job commands as DM 2.0 commands, and the device's DM 2.0 statuses back as the job's
// outcome, in the same words a DM 1.2 session records (status code strings, results with source,
// data, format and type), so a job reads the same whichever protocol ran it.
import type { CommandOutcome, CommandPath, JobBatch, JobCommand } from "../job-model";
import type { Dm2Command, Dm2Status } from "./commands";
import type { InFlight, Upload } from "./session-store";

/** What this adapter reads of a job command (the job model's seam, DeviceObject.takeCommands). */
type Translated = Pick<JobCommand, "kind" | "target" | "data" | "correlator" | "code" | "url" | "children">;

/** A job command answered by the server itself: DM 2.0 has no command for it. */
export interface Immediate {
  jobId: string;
  path: CommandPath;
  outcome: CommandOutcome;
}

export interface Translation {
  commands: Dm2Command[];
  inFlight: InFlight[];
  immediate: Immediate[];
  /** Sequences whose own status follows from their children's. */
  sequences: { jobId: string; path: number[]; children: number }[];
}

/** A Get of `node?list=Struct`: the node's structure, which DM 2.0's GET answers. */
const LIST_STRUCT = /\?list=Struct$/;

/** 406 "optional feature not supported": the verdict on job commands DM 2.0 cannot carry. */
const unsupported = (why: string): CommandOutcome => ({ status: "406", error: why });

/**
 * Translates what the job model handed out. `dataUrl(i)` is the ServerURI of the i-th command's
 * data (what the device HGETs for Add/Replace, where it HPUTs a Get's value).
 */
export function translate(batches: JobBatch[], dataUrl: (index: number) => string): Translation {
  const out: Translation = { commands: [], inFlight: [], immediate: [], sequences: [] };
  const emit = (jobId: string, path: CommandPath, c: Translated) => {
    const index = out.commands.length;
    const target = c.target ?? "";
    let cmd: Dm2Command;
    switch (c.kind) {
      case "Get":
        // `?list=Struct` asks for the node's structure (as in DM 1.2 TNDS): DM 2.0's GET answers the
        // ClientURIs at and below the node. Otherwise DM 2.0 moves node values over HTTP: the device
        // PUTs the value to the server (HPUT).
        cmd = LIST_STRUCT.test(target) ? ["GET", target.replace(LIST_STRUCT, "")] : ["HPUT", target, dataUrl(index)];
        break;
      case "Alert":
        // A Display alert (1100) needs no answer but "shown": SHOW opens the server's page with its text.
        cmd = ["SHOW", dataUrl(index)];
        break;
      case "Add":
      case "Replace":
        // HGET adds the node or replaces its value: DM 2.0 has one command for both.
        cmd = ["HGET", dataUrl(index), target];
        break;
      case "Delete":
        cmd = ["DELETE", target];
        break;
      case "Exec":
        cmd = c.correlator !== undefined ? ["EXEC", target, c.data ?? "", c.correlator] : c.data !== undefined ? ["EXEC", target, c.data] : ["EXEC", target];
        break;
      case "HPost":
        // Without a URL of its own, the value comes here, like a Get's (and lands in the command's results).
        cmd = ["HPOST", target, c.url ?? dataUrl(index)];
        break;
      case "Sub":
        cmd = ["SUB", target];
        break;
      case "Unsub":
        cmd = ["UNSUB", target];
        break;
      case "Default":
        cmd = ["DEFAULT", c.url ?? ""];
        break;
      default:
        out.immediate.push({ jobId, path, outcome: unsupported(`DM 2.0 has no command for ${c.kind}`) });
        return;
    }
    out.commands.push(cmd);
    out.inFlight.push({ index, name: cmd[0], jobId, path, ...(c.target ? { target: c.target } : {}), ...(c.kind === "HPost" && c.url ? { elsewhere: true } : {}) });
  };
  for (const batch of batches) {
    for (const { path, command } of batch.commands) {
      if (command.kind === "Copy") out.immediate.push({ jobId: batch.jobId, path, outcome: unsupported("DM 2.0 has no Copy: queue a Get and a Replace") });
      else if (command.kind === "Atomic") out.immediate.push({ jobId: batch.jobId, path, outcome: unsupported("DM 2.0 has no Atomic (the device cannot roll back a group of commands)") });
      else if (command.kind === "Alert" && command.code === "1100") emit(batch.jobId, path, command);
      else if (command.kind === "Alert") out.immediate.push({ jobId: batch.jobId, path, outcome: unsupported("DM 2.0 carries only the Display alert (1100, as SHOW); alerts that need the user's answer (1101-1104) have no DM 2.0 command") });
      else if (command.kind === "Sequence") {
        // A package is executed in order, so a Sequence is its children, one after another.
        const children = command.children ?? [];
        out.sequences.push({ jobId: batch.jobId, path, children: children.length });
        children.forEach((child, j) => {
          if (child.kind === "Sequence" || child.kind === "Atomic" || child.kind === "Copy" || child.kind === "Alert") out.immediate.push({ jobId: batch.jobId, path: [...path, j], outcome: unsupported(`DM 2.0 has no command for ${child.kind} inside a Sequence`) });
          else emit(batch.jobId, [...path, j], child);
        });
      } else emit(batch.jobId, path, command);
    }
  }
  return out;
}

const enc = new TextEncoder();

/** The outcome of one sent command from its Status (and, for HPUT, the data the device uploaded). */
export function outcomeOf(f: InFlight, status: Dm2Status | undefined, upload: Upload | undefined): CommandOutcome {
  if (!status) return { error: "the device sent no Status for this command" };
  const sc = String(status.sc);
  if (f.name === "GET" && /^2\d\d$/.test(sc)) {
    // The ClientURIs found, one per line, as a text/uri-list (RFC 2483) result of the node asked about.
    return { status: sc, results: [{ source: (f.target ?? "").replace(LIST_STRUCT, ""), data: (status.URI ?? []).join("\r\n"), format: "chr", type: "text/uri-list" }] };
  }
  // An HPOST to a URL of the job's own sends the value there: its status is all this server learns.
  if ((f.name !== "HPUT" && f.name !== "HPOST") || f.elsewhere || !/^2\d\d$/.test(sc)) return { status: sc };
  if (!upload) return { status: sc, error: `the device reported success but uploaded no data to the ${f.name} ServerURI` };
  return { status: sc, results: [{ source: f.target ?? "", data: upload.data, ...(upload.format ? { format: upload.format } : {}), ...(upload.type ? { type: upload.type } : {}) }] };
}

/** An uploaded body as the job model keeps values: text as chr (like a DM 1.2 Results item), anything else base64. */
export function uploadOf(bytes: Uint8Array, contentType: string | undefined): Upload {
  const type = (contentType ?? "text/plain").split(";")[0]!.trim().toLowerCase() || "text/plain";
  if (type.startsWith("text/") || type.endsWith("+json") || type === "application/json" || type.endsWith("+xml")) {
    try {
      return { data: new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes), format: "chr", type };
    } catch {
      // not UTF-8 after all: kept as bytes
    }
  }
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { data: btoa(bin), format: "b64", type };
}

/** The body the device HGETs for an Add/Replace: the command's data (b64 decoded) and its type. */
export function downloadOf(c: Pick<JobCommand, "data" | "format" | "type">): { body: Uint8Array; type: string } {
  const data = c.data ?? "";
  if (c.format === "b64" || c.format === "bin") return { body: Uint8Array.from(atob(data), (ch) => ch.charCodeAt(0)), type: c.type ?? "application/octet-stream" };
  return { body: enc.encode(data), type: `${c.type ?? "text/plain"}; charset=utf-8` };
}

/** A Sequence's own status once every child has one: 200 when all succeeded, else the first failure's code. */
export function sequenceStatus(children: (CommandOutcome | undefined)[]): string | undefined {
  if (children.some((c) => !c || (c.status === undefined && c.error === undefined))) return undefined;
  const bad = children.find((c) => !c!.status || !/^2\d\d$/.test(c!.status) || c!.error);
  return bad ? (bad.status ?? "500") : "200";
}
