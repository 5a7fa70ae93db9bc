// The per-peer store behind Idempotency-Key: first answer kept, replayed, bound to its request,
// held while running, freed after a failure or when its lease runs out, forgotten after a day.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { IDEMPOTENCY_RETENTION_MS } from "../../src/federation/idempotency-object";

const store = () => env.IDEMPOTENCY.getByName(`peer-${crypto.randomUUID()}`);
const answer = { status: 201, contentType: "application/json", body: '{"ok":true}' };

describe("Idempotency-Key store", () => {
  it("a retry gets the first answer; the same key for another request is a mismatch", async () => {
    const s = store();
    expect(await s.begin("k", "fp1")).toEqual({ kind: "new" });
    await s.complete("k", "fp1", answer);
    expect(await s.begin("k", "fp1")).toEqual({ kind: "replay", answer });
    expect(await s.begin("k", "fp2")).toEqual({ kind: "mismatch" });
  });

  it("a retry while the first attempt runs is told so; after a failure (release) or after the lease it runs again", async () => {
    const s = store();
    expect((await s.begin("k", "fp")).kind).toBe("new");
    expect((await s.begin("k", "fp")).kind).toBe("in-progress");
    await s.release("k", "fp");
    expect((await s.begin("k", "fp")).kind).toBe("new");
    await runInDurableObject(s, (_o, state) => state.storage.sql.exec("UPDATE request SET lease_until = ?", Date.now() - 1));
    expect((await s.begin("k", "fp")).kind).toBe("new");
    expect((await s.begin("k", "fp")).kind).toBe("in-progress");
  });

  it("answers are forgotten after the retention period by the alarm", async () => {
    const s = store();
    await s.begin("old", "fp");
    await s.complete("old", "fp", answer);
    await s.begin("new", "fp");
    await s.complete("new", "fp", answer);
    await runInDurableObject(s, (_o, state) => state.storage.sql.exec("UPDATE request SET created_at = ? WHERE key = 'old'", Date.now() - IDEMPOTENCY_RETENTION_MS - 1));
    expect(await runDurableObjectAlarm(s)).toBe(true);
    expect(await s.begin("old", "fp")).toEqual({ kind: "new" });
    expect((await s.begin("new", "fp")).kind).toBe("replay");
  });
});
