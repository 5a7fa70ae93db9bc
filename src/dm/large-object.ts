// Large objects (SyncML RepPro 1.2 §7, OMA-TS-DM_Protocol-V1_2 §8.8): a value larger than one
// message travels as chunks of one Add/Replace (server to device) or Results (device to server):
// Meta Size on the first chunk, MoreData on all but the last, 213 for each chunk taken.
import type { Encoding } from "../codec";
import { base64Of, isBinaryFormat } from "./syncml-commands";
import type { CommandPath } from "./job-model";

/** The largest object the server takes from a device (announced as MaxObjSize). */
export const MAX_INCOMING_OBJECT = 16 * 1024 * 1024;

/** A value the server is sending in chunks. */
export interface OutgoingObject {
  jobId: string;
  path: CommandPath;
  /** Where the next chunk starts (bytes). */
  offset: number;
  total: number;
  /** Chunks sent so far. */
  sent: number;
}

/** Bytes `text[from..]` occupies as XML content: the escapes the codec writes (& < > " ' CR). */
function xmlCost(b: number): number {
  return b === 0x26 || b === 0x0d ? 5 : b === 0x3c || b === 0x3e ? 4 : b === 0x22 || b === 0x27 ? 6 : 1;
}

/**
 * The end of the next chunk of `bytes` from `offset` that takes at most `room` bytes on the wire:
 * XML escapes counted, never splitting a UTF-8 sequence. WBXML inline strings carry the bytes as they are.
 */
export function chunkEnd(bytes: Uint8Array, offset: number, room: number, encoding: Encoding): number {
  let end = offset;
  if (encoding === "wbxml") end = Math.min(bytes.length, offset + Math.max(1, room));
  else {
    let used = 0;
    while (end < bytes.length) {
      const c = xmlCost(bytes[end]!);
      if (used + c > room && end > offset) break;
      used += c;
      end++;
    }
  }
  while (end < bytes.length && end > offset + 1 && (bytes[end]! & 0xc0) === 0x80) end--;
  return end;
}

/** A value arriving from the device in chunks (Results of a Get). */
export interface IncomingObject {
  jobId?: string;
  path?: CommandPath;
  cmdRef: string;
  source: string;
  size?: number;
  format?: string;
  type?: string;
  /** The chunks so far, as base64 when binary, else as text (JSON keeps them in the session row). */
  parts: string[];
  received: number;
}

export function startIncoming(cmdRef: string, source: string, meta: { size?: number; format?: string; type?: string } | undefined, flight?: { jobId: string; path: CommandPath }): IncomingObject {
  return {
    cmdRef, source, parts: [], received: 0,
    ...(meta?.size !== undefined ? { size: meta.size } : {}),
    ...(meta?.format ? { format: meta.format } : {}),
    ...(meta?.type ? { type: meta.type } : {}),
    ...(flight ? { jobId: flight.jobId, path: flight.path } : {}),
  };
}

/** Adds one chunk; "413" when the object grows past what the server takes. */
export function addChunk(lo: IncomingObject, bytes: Uint8Array): "ok" | "413" {
  lo.received += bytes.length;
  if (lo.received > MAX_INCOMING_OBJECT) return "413";
  lo.parts.push(isBinaryFormat(lo.format) ? base64Of(bytes) : new TextDecoder().decode(bytes));
  return "ok";
}

/** The whole value after the last chunk, or "424" when it is not the size announced with the first. */
export function finishIncoming(lo: IncomingObject): { data: string; format?: string } | "424" {
  if (lo.size !== undefined && lo.received !== lo.size) return "424";
  if (!isBinaryFormat(lo.format)) return { data: lo.parts.join(""), ...(lo.format ? { format: lo.format } : {}) };
  const all = new Uint8Array(lo.received);
  let at = 0;
  for (const p of lo.parts) {
    const b = Uint8Array.from(atob(p), (c) => c.charCodeAt(0));
    all.set(b, at);
    at += b.length;
  }
  return { data: base64Of(all), format: "b64" };
}
