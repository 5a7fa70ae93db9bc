// DM 2.0 change alerts (SUB) on the job model: an alert about a node lands on the newest succeeded Sub
// that covers it, unless an Unsub of that node succeeded after it.
import { describe, expect, it } from "vitest";
import type { GenericAlert, Job } from "../../../src/dm/job-model";
import { JobStore } from "../../../src/dm/job-store";
import { MemRows } from "./fixture";

const change = (source: string, data = "v"): GenericAlert => ({ type: "urn:oma:at:dm:2.0:MOChange", source, data, receivedAt: "2026-12-03T09:00:00.000Z" });

function answered(store: JobStore, rows: MemRows, specs: Parameters<JobStore["queue"]>[0], statuses: string[]): Job {
  const job = store.queue(specs);
  statuses.forEach((status, i) => store.record(job.jobId, [i], { status }));
  return rows.load(job.jobId)!;
}
/** Newest first, as SqlJobRows.recent answers. */
const recent = (rows: MemRows) => [...rows.jobs].reverse().map((j) => structuredClone(j));

describe("change alerts of subscribed nodes", () => {
  it("land on the Sub whose node is the source or above it; a node outside every subscription, or a failed Sub, keeps nothing", () => {
    const rows = new MemRows();
    const store = new JobStore(rows);
    const sub = answered(store, rows, [{ kind: "Sub", target: "./Vendor" }, { kind: "Sub", target: "./Failed" }], ["200", "404"]);
    store.attachChanges([change("./Vendor/Mode", "eco"), change("./VendorX/A"), change("./Failed/B"), change("./Vendor")], recent(rows));
    const doc = rows.load(sub.jobId)!;
    expect(doc.commands[0]!.alerts?.map((a) => a.source)).toEqual(["./Vendor/Mode", "./Vendor"]);
    expect(doc.commands[0]!.alerts?.[0]?.data).toBe("eco");
    expect(doc.commands[1]!.alerts).toBeUndefined();
  });

  it("an Unsub that succeeded after the Sub ends it; a newer Sub takes the alerts after that", () => {
    const rows = new MemRows();
    const store = new JobStore(rows);
    const first = answered(store, rows, [{ kind: "Sub", target: "./Vendor" }], ["200"]);
    answered(store, rows, [{ kind: "Unsub", target: "./Vendor" }], ["200"]);
    store.attachChanges([change("./Vendor/Mode")], recent(rows));
    expect(rows.load(first.jobId)!.commands[0]!.alerts).toBeUndefined();
    const again = answered(store, rows, [{ kind: "Sub", target: "./Vendor/Mode" }], ["200"]);
    store.attachChanges([change("./Vendor/Mode")], recent(rows));
    expect(rows.load(again.jobId)!.commands[0]!.alerts).toHaveLength(1);
    expect(rows.load(first.jobId)!.commands[0]!.alerts).toBeUndefined();
  });
});
