// Reading charging records (writing them is the device's job: ./charging-hook.ts). Campaigns and the
// routes use these; a record's id is the job it charges for.
import type { Env } from "../env";
import { CHARGING_FIELDS, type ChargingRecord } from "./charging-model";
import { exportStream, type ExportFormat } from "./export";

export type { ChargingRecord } from "./charging-model";

export interface ChargingQuery {
  /** Records at or after (ms since the epoch). */
  from?: number;
  /** Records before (ms since the epoch). */
  to?: number;
  operationId?: string;
  cursor?: string;
  limit?: number;
}

/** One page of a provider's charging records in time order (then record id). */
export async function chargingRecords(env: Env, provider: string, q: ChargingQuery = {}): Promise<{ items: ChargingRecord[]; nextCursor?: string }> {
  return env.DMWS_PROVIDERS.getByName(provider).chargingRecords({ ...q, limit: q.limit ?? 100 });
}

/** Every matching record, streamed as NDJSON or CSV. */
export function chargingExport(env: Env, provider: string, format: ExportFormat, q: Omit<ChargingQuery, "cursor" | "limit"> = {}): ReadableStream<Uint8Array> {
  return exportStream(format, CHARGING_FIELDS, (cursor) => chargingRecords(env, provider, { ...q, ...(cursor ? { cursor } : {}), limit: 500 }), (r) => [r as unknown as Record<string, unknown>]);
}
