// The SyncML DM 1.2 adapter of the job model: a job command as a SyncML command, and item data
// (text, WBXML opaque bytes, embedded DevInf) as the text the job and the tree keep.
import type { Command, Item, ItemData, Meta } from "../codec";
import { DM2_ONLY_COMMANDS, isDm2Only, type CommandPath, type JobCommand } from "./job-model";

const meta = (c: JobCommand): Meta | undefined => (c.format || c.type ? { ...(c.format ? { format: c.format } : {}), ...(c.type ? { type: c.type } : {}) } : undefined);

/**
 * The SyncML command for a job command. `nextCmdId` hands out CmdIDs; `onId` records which CmdID
 * stands for which path, so Status and Results find their way back.
 */
export function toSyncML(c: JobCommand, path: CommandPath, nextCmdId: () => string, onId: (cmdId: string, path: CommandPath) => void, data?: { chunk: ItemData; size?: number; more: boolean }): Command {
  const cmdId = nextCmdId();
  onId(cmdId, path);
  const target = c.target ? { target: { locURI: c.target } } : {};
  switch (c.kind) {
    case "Get":
    case "Delete":
      return { kind: c.kind, cmdId, items: [{ ...target }] };
    case "Add":
    case "Replace": {
      const m = meta(c);
      const item: Item = { ...target };
      const value = data ? data.chunk : c.data;
      if (m || data?.size !== undefined) item.meta = { ...(m ?? {}), ...(data?.size !== undefined ? { size: data.size } : {}) };
      if (value !== undefined) item.data = value;
      if (data?.more) item.moreData = true;
      return { kind: c.kind, cmdId, items: [item] };
    }
    case "Copy":
      return { kind: "Copy", cmdId, items: [{ ...target, source: { locURI: c.source! } }] };
    case "Exec":
      return { kind: "Exec", cmdId, ...(c.correlator ? { correlator: c.correlator } : {}), items: [{ ...target, ...(c.data !== undefined ? { data: c.data } : {}) }] };
    case "Alert":
      // OMA-TS-DM_Protocol §10.4: the first Item carries the options (MINDT, MAXDT, DR ...), the rest the texts.
      return { kind: "Alert", cmdId, data: c.code!, items: [{ data: c.options ?? "" }, ...(c.items ?? []).map((t) => ({ data: t }))] };
    case "Atomic":
    case "Sequence":
      return { kind: c.kind, cmdId, commands: (c.children ?? []).map((child, i) => toSyncML(child, [...path, i], nextCmdId, onId)) };
    default:
      // DM 2.0-only commands (HPost, Sub, Unsub, Default) never reach here: ./outbound.ts answers them.
      throw new Error(`${c.kind} has no SyncML DM 1.2 command`);
  }
}

/** Why a SyncML DM 1.2 session cannot carry a job command, or undefined when it can. */
export function syncmlRefusal(c: JobCommand): string | undefined {
  if (!isDm2Only(c.kind)) return undefined;
  return `${DM2_ONLY_COMMANDS[c.kind]} is a DM 2.0 command: SyncML DM 1.2 has no such command (406 optional feature not supported); the device answers it only in a DM 2.0 session`;
}

/** Size of a value as the device counts it (Meta Size: bytes). */
export const valueSize = (v: ItemData): number => (typeof v === "string" ? new TextEncoder().encode(v).length : v instanceof Uint8Array ? v.length : 0);

const BINARY_FORMATS = new Set(["b64", "bin"]);
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function base64Of(d: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < d.length; i += 0x8000) bin += String.fromCharCode(...d.subarray(i, i + 0x8000));
  return btoa(bin);
}

/**
 * Item data as the text the job document and the tree keep. The value's format is what Meta/Format
 * says (chr when absent): WBXML opaque is only how the bytes travelled, so opaque bytes of a chr (int,
 * bool, xml, ...) value are its UTF-8 text. Only b64/bin values are binary; they are kept as base64
 * with format "b64". Opaque bytes that claim a text format but are not UTF-8 are kept as base64 too
 * (nothing is lost or replaced by U+FFFD), marked "b64".
 */
export function itemText(d: ItemData | undefined, format?: string): { data: string; format?: string } {
  if (d === undefined) return { data: "", ...(format ? { format } : {}) };
  if (typeof d === "string") return { data: d, ...(format ? { format } : {}) };
  if (d instanceof Uint8Array) {
    if (!format || !BINARY_FORMATS.has(format)) {
      try {
        return { data: utf8.decode(d), ...(format ? { format } : {}) };
      } catch {
        /* not text after all: kept as bytes */
      }
    }
    return { data: base64Of(d), format: "b64" };
  }
  return { data: JSON.stringify(d), format: "xml-element" };
}

/** The bytes of item data (a chunk of a large object), as the device counts them. */
export function itemBytes(d: ItemData | undefined): Uint8Array {
  if (d === undefined) return new Uint8Array(0);
  if (typeof d === "string") return new TextEncoder().encode(d);
  if (d instanceof Uint8Array) return d;
  return new TextEncoder().encode(JSON.stringify(d));
}

export const isBinaryFormat = (format: string | undefined): boolean => format !== undefined && BINARY_FORMATS.has(format);
export { base64Of };
