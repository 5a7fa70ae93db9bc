// One northbound job, whichever protocol the device speaks: the same job request queued for a DM 1.2
// device (the SyncML simulator of test/dm/) and for a DM 2.0 device ends as the same job document.
import { describe, expect, it } from "vitest";
import { createJob, device as dm12Device, expectClean, getJob } from "../dm/harness";
import { TestDevice } from "./device";
import { createAccount, newDevId, registerDevice } from "./helpers";

const JOB = [
  { kind: "Get", target: "./DevInfo/Mod" },
  { kind: "Replace", target: "./Vendor/Setting", data: "42" },
  { kind: "Delete", target: "./Vendor/Old" },
  { kind: "Exec", target: "./Vendor/Reboot", correlator: "r-1" },
  { kind: "Get", target: "./Vendor/Missing" },
];
const TREE = { "./DevInfo/Mod": "SIM-1000", "./Vendor/Setting": "1", "./Vendor/Old": "x", "./Vendor/Reboot": "" };

/** What must be equal: everything but the ids and times of the two jobs. */
const comparable = (job: Record<string, unknown>) => {
  const { jobId: _id, createdAt: _c, updatedAt: _u, deadline: _d, resourceURL: _r, ...rest } = job;
  return rest;
};

describe("one job reaches a device whichever protocol it speaks", () => {
  it("the same job run by a DM 1.2 device over SyncML and by a DM 2.0 device over JSON gives the same job document", async () => {
    const old = await dm12Device("syncml:auth-md5", { tree: TREE });
    const job12 = await createJob(old.devId, JOB);
    expectClean(await old.client.startSession());

    const account = await createAccount();
    const devId = newDevId();
    await registerDevice(account, devId);
    const job20 = await createJob(devId, JOB);
    const dm2 = new TestDevice(account, devId, TREE);
    await dm2.session();

    const a = await getJob(old.devId, job12.jobId);
    const b = await getJob(devId, job20.jobId);
    expect(a.state).toBe("failed");
    expect(a.commands.map((c: any) => c.status)).toEqual(["200", "200", "200", "200", "404"]);
    expect(a.commands[0].results).toEqual([{ source: "./DevInfo/Mod", data: "SIM-1000", format: "chr", type: "text/plain" }]);
    expect(comparable(b)).toEqual(comparable(a));
    expect(dm2.tree.get("./Vendor/Setting")).toBe("42");
    expect(old.client.tree.value("./Vendor/Setting")).toBe("42");
  });
});
