import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { activate, ADMIN, call, device, enc, registerClient, requestCode, twin, type Device } from "../helpers";

const client = await registerClient();

const roleOf = async (d: Device) => (await call("GET", `/admin/v1/subscribers/${enc(d.address)}`, { headers: ADMIN })).json.subscriber.role;
const sqlRows = (address: string, query: string) =>
  runInDurableObject(env.SUBSCRIBERS.getByName(address), (_o, state) => state.storage.sql.exec(query).toArray());

describe("Concurrency and partial failure", () => {
  it("HLF-TE-009: 20 primaries racing to activate the same secondary: exactly one wins, no orphaned claim", async () => {
    const s = await device(client);
    const primaries = await Promise.all(Array.from({ length: 20 }, () => device(client)));
    const code = (await requestCode(s)).json.activationCode.code;
    const results = await Promise.all(primaries.map((p) => activate(p, code)));
    const winners = results.filter((r) => r.status === 201);
    expect(winners).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 201)) {
      const id = r.json.requestError.serviceException?.messageId ?? r.json.requestError.policyException?.messageId;
      expect(["SVC0002", "POL1037"]).toContain(id);
    }
    const winner = primaries[results.findIndex((r) => r.status === 201)]!;
    const rel = await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    expect(rel.json.relationship.primary).toBe(winner.address);
    for (const p of primaries) {
      const twins = (await call("GET", `/twinning/v1/${enc(p.address)}/twins`, { token: p.token })).json.twinList.twin;
      expect(twins.length).toBe(p === winner ? 1 : 0);
      expect(await sqlRows(p.address, "SELECT * FROM reservation")).toEqual([]);
      expect(await roleOf(p)).toBe(p === winner ? "primary" : "none");
    }
  });

  it("HLF-TE-008: a secondary racing to become a primary while it is being twinned: one side wins, the other gets POL1037", async () => {
    const outcomes = new Set<string>();
    for (let round = 0; round < 6; round++) {
      const [p, s, x] = [await device(client), await device(client), await device(client)];
      const codeS = (await requestCode(s)).json.activationCode.code;
      const codeX = (await requestCode(x)).json.activationCode.code;
      const [pTwinsS, sTwinsX] = await Promise.all([activate(p, codeS), activate(s, codeX)]);
      const statuses = [pTwinsS.status, sTwinsX.status].sort();
      expect(statuses).toEqual([201, 403]);
      const loser = pTwinsS.status === 403 ? pTwinsS : sTwinsX;
      expect(loser.json.requestError.policyException.messageId).toBe("POL1037");
      if (pTwinsS.status === 201) {
        outcomes.add("secondary");
        expect(await roleOf(s)).toBe("secondary");
        expect(await roleOf(x)).toBe("none");
        expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.primary).toBe(p.address);
      } else {
        outcomes.add("primary");
        expect(await roleOf(s)).toBe("primary");
        expect(await roleOf(p)).toBe("none");
        expect((await call("GET", `/twinning/v1/${enc(x.address)}/relationship`, { token: x.token })).json.relationship.primary).toBe(s.address);
      }
      expect(await sqlRows(s.address, "SELECT * FROM reservation")).toEqual([]);
      expect(await sqlRows(p.address, "SELECT * FROM reservation")).toEqual([]);
    }
    expect(outcomes.size).toBeGreaterThan(0);
  });

  it("a claim the secondary prepared but the primary never committed is rolled back by the secondary's alarm", async () => {
    const [p, s, q] = [await device(client), await device(client), await device(client)];
    const code = (await requestCode(s)).json.activationCode.code;
    // The request died after the prepare step: the secondary holds a pending claim for p that p never committed.
    const prepared = await env.SUBSCRIBERS.getByName(s.address).acceptPrimary({
      activationId: crypto.randomUUID(), primary: p.address, primaryMno: { mcc: "001", mnc: "01" }, code, name: "lost", activatedAt: Date.now(),
    });
    expect(prepared).toEqual({ ok: true, value: "accepted" });
    expect(await roleOf(s)).toBe("secondary");
    expect((await requestCode(s)).status).toBe(403);
    await runInDurableObject(env.SUBSCRIBERS.getByName(s.address), (_o, state) => state.storage.sql.exec("UPDATE relationship SET deadline = ?", Date.now() - 1));
    expect(await runDurableObjectAlarm(env.SUBSCRIBERS.getByName(s.address))).toBe(true);
    expect(await roleOf(s)).toBe("none");
    // The device is free again.
    expect((await twin(q, s)).secondary).toBe(s.address);
  });

  it("a twin the primary committed but whose confirmation never reached the secondary is completed by the secondary's alarm", async () => {
    const [p, s] = [await device(client), await device(client)];
    const code = (await requestCode(s)).json.activationCode.code;
    const activationId = crypto.randomUUID();
    const now = Date.now();
    await env.SUBSCRIBERS.getByName(s.address).acceptPrimary({ activationId, primary: p.address, primaryMno: { mcc: "001", mnc: "01" }, code, name: "w", activatedAt: now });
    // The primary's commit happened; the request died before confirmActivation reached the secondary.
    await runInDurableObject(env.SUBSCRIBERS.getByName(p.address), (_o, state) =>
      state.storage.sql.exec(
        "INSERT INTO twin (secondary, name, status, version, activation_id, mcc, mnc, activated_at, changed_at, changed_by) VALUES (?, 'w', 'On', 1, ?, '001', '01', ?, ?, 'primary')",
        s.address, activationId, now, now,
      ),
    );
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(404);
    await runInDurableObject(env.SUBSCRIBERS.getByName(s.address), (_o, state) => state.storage.sql.exec("UPDATE relationship SET deadline = ?", Date.now() - 1));
    await runDurableObjectAlarm(env.SUBSCRIBERS.getByName(s.address));
    const rel = await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token });
    expect(rel.status).toBe(200);
    expect(rel.json.relationship.primary).toBe(p.address);
  });

  it("a primary's reservation that outlives its deadline is aborted, and the secondary's prepared claim with it", async () => {
    const [p, s] = [await device(client), await device(client)];
    const code = (await requestCode(s)).json.activationCode.code;
    const activationId = crypto.randomUUID();
    // The request died mid-activation; activateTwin had set the alarm for the reservation's deadline.
    await runInDurableObject(env.SUBSCRIBERS.getByName(p.address), async (_o, state) => {
      state.storage.sql.exec("INSERT INTO reservation (activation_id, name, secondary, deadline) VALUES (?, 'w', ?, ?)", activationId, s.address, Date.now() - 1);
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    await env.SUBSCRIBERS.getByName(s.address).acceptPrimary({ activationId, primary: p.address, primaryMno: { mcc: "001", mnc: "01" }, code, name: "w", activatedAt: Date.now() });
    expect(await roleOf(p)).toBe("primary");
    expect(await runDurableObjectAlarm(env.SUBSCRIBERS.getByName(p.address))).toBe(true);
    expect(await roleOf(p)).toBe("none");
    expect(await roleOf(s)).toBe("none");
    // and a late commit attempt for it is refused by the primary's final word
    expect(await env.SUBSCRIBERS.getByName(p.address).resolveActivation(activationId)).toBe("aborted");
  });

  it("a deactivation whose message to the other side failed is delivered by the outbox alarm", async () => {
    const [p, s] = [await device(client), await device(client)];
    const t = await twin(p, s);
    // Simulate a failed delivery: the twin is removed and the message queued (with the alarm its
    // transaction arms), but not delivered yet.
    await runInDurableObject(env.SUBSCRIBERS.getByName(p.address), async (_o, state) => {
      const row = state.storage.sql.exec<{ activation_id: string }>("SELECT activation_id FROM twin").one();
      state.storage.sql.exec("DELETE FROM twin");
      state.storage.sql.exec(
        "INSERT INTO outbox (target, message, attempts, next_at) VALUES (?, ?, 1, ?)",
        s.address, JSON.stringify({ method: "relationshipEnded", activationId: row.activation_id }), Date.now() - 1,
      );
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(200);
    await runDurableObjectAlarm(env.SUBSCRIBERS.getByName(p.address));
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).status).toBe(404);
    expect(await sqlRows(p.address, "SELECT * FROM outbox")).toEqual([]);
    expect(t.secondary).toBe(s.address);
  });

  it("HLF-TE-002: concurrent toggles from both sides leave both objects agreeing on the last status", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2
          ? call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: i % 4 === 1 ? "Off" : "On" } })
          : call("PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: i % 4 === 0 ? "Off" : "On" } }),
      ),
    );
    // let any queued repair messages go out
    await runDurableObjectAlarm(env.SUBSCRIBERS.getByName(p.address));
    const atPrimary = (await call("GET", `/twinning/v1/${enc(p.address)}/twins/w`, { token: p.token })).json.twin.status;
    const atSecondary = (await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.status;
    expect(atSecondary).toBe(atPrimary);
  });
});
