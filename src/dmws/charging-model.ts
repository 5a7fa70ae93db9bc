// Charging records: one per chargeable event of the DM web services. A record is written by the
// device's object in the same transaction as the result it charges for (./charging-hook.ts), kept in
// that device's outbox until the provider's ledger (./provider-object.ts) has it, and identified by
// the result it charges for, so retries of a job, a message or a delivery never double it.

export type ChargeOutcome = "success" | "failure";

export interface ChargingRecord {
  /** The result charged for: `<jobId>` (one final result per device job). */
  recordId: string;
  provider: string;
  devId: string;
  subscriber?: string;
  /** What was done: fumo.download, fumo.update, fumo.downloadandupdate, scomo.install, diagmon.collect, provisioning.push, ... */
  operation: string;
  /** The provider's operation (or campaign) the device job belongs to. */
  operationId: string;
  jobId: string;
  /** When the result arrived (ISO 8601). */
  at: string;
  outcome: ChargeOutcome;
  /** The device's result code when it gave one (FUMO 200/250-299/4xx/5xx, a command status). */
  resultCode?: string;
}

export const CHARGING_FIELDS = ["recordId", "provider", "devId", "subscriber", "operation", "operationId", "jobId", "at", "outcome", "resultCode"] as const;
