// The subscriber object as stores (issue 13): schema steps per store, migrated from the object's
// previous single schema version with data in it; and the protocol leaves nothing behind.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SubscriberObject } from "../../src/twinning/subscriber-object";
import { PROFILE_SCHEMA } from "../../src/twinning/profile-store";
import { RELATIONSHIPS_SCHEMA } from "../../src/twinning/relationships";
import { ACTIVATION_CODES_SCHEMA } from "../../src/twinning/activation-codes";
import { OUTBOX_SCHEMA } from "../../src/twinning/outbox";
import { SUBJECT_LEDGER_SCHEMA } from "../../src/oauth/subject-ledger";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE } from "../../src/notify/queue";
import { activate, call, device, enc, newAddress, registerClient, requestCode, twin } from "../helpers";

const client = await registerClient();

/** The five steps of the object's schema before the stores (one `_schema` version for all of it). */
const LEGACY_STEPS: string[] = [
  [PROFILE_SCHEMA.steps[0], SUBJECT_LEDGER_SCHEMA.steps[0], RELATIONSHIPS_SCHEMA.steps[0], ACTIVATION_CODES_SCHEMA.steps[0], OUTBOX_SCHEMA.steps[0]].join("\n"),
  [SUBJECT_LEDGER_SCHEMA.steps[1], RELATIONSHIPS_SCHEMA.steps[1]].join("\n"),
  NOTIFY_SCHEMA,
  PROFILE_SCHEMA.steps[1]!,
  NOTIFY_SCHEMA_DELIVERY_STATE,
];

const alarmOf = (ns: "subscriber" | "code", name: string): Promise<number | null> =>
  ns === "subscriber"
    ? runInDurableObject(env.SUBSCRIBERS.getByName(name), (_o, state) => state.storage.getAlarm())
    : runInDurableObject(env.ACTIVATION_CODES.getByName(name), (_o, state) => state.storage.getAlarm());

describe("SubscriberObject stores (issue 13)", () => {
  it("an object written by the previous schema (version 5, one _schema row) keeps its data and gets each store's version", async () => {
    const address = newAddress();
    const result = await runInDurableObject(env.SUBSCRIBERS.getByName(address), async (_o, state) => {
      const sql = state.storage.sql;
      // Start over as the previous code left such an object.
      for (const { name } of sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' AND name != 'sqlite_sequence'").toArray()) sql.exec(`DROP TABLE "${name}"`);
      sql.exec("CREATE TABLE _schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL); INSERT INTO _schema VALUES (1, 5)");
      for (const step of LEGACY_STEPS) sql.exec(step);
      const now = Date.now();
      sql.exec("INSERT INTO profile (id, address, mcc, mnc, device_key, created_at, tokens_from) VALUES (1, ?, '001', '01', ?, ?, 0)", address, new Uint8Array(32), now);
      sql.exec("INSERT INTO twin VALUES ('tel:+15550001111', 'watch', 'Off', 3, 'act-1', '001', '01', ?, ?, 'secondary')", now, now);
      sql.exec("INSERT INTO outbox (target, message, attempts, next_at) VALUES ('tel:+15550001111', '{\"method\":\"abortActivation\",\"activationId\":\"x\"}', 2, ?)", now + 3_600_000);
      sql.exec("INSERT INTO revoked_token VALUES ('jti-1', ?)", Math.floor(now / 1000) + 3600);
      sql.exec("INSERT INTO failed_code VALUES (?)", now);
      // The new code, on the same storage.
      const o = new SubscriberObject(state as any, env as any);
      const versions = sql.exec<{ name: string; version: number }>("SELECT name, version FROM _store_schema ORDER BY name").toArray();
      const legacyGone = sql.exec("SELECT 1 FROM sqlite_master WHERE name = '_schema'").toArray().length === 0;
      const profile = await o.profile();
      const twins = await o.twinStatuses();
      const live = await o.isTokenLive({ jti: "jti-1", exp: Math.floor(now / 1000) + 3600, iat: Math.floor(now / 1000) });
      const otherLive = await o.isTokenLive({ jti: "jti-2", exp: Math.floor(now / 1000) + 3600, iat: Math.floor(now / 1000) });
      const outbox = sql.exec("SELECT attempts FROM outbox").toArray();
      return { versions, legacyGone, profile, twins, live, otherLive, outbox };
    });
    expect(result.versions).toEqual([
      { name: "activation-codes", version: 1 },
      { name: "notifications", version: 2 },
      { name: "oauth-subject-ledger", version: 2 },
      { name: "outbox", version: 1 },
      { name: "profile", version: 2 },
      { name: "relationships", version: 3 },
    ]);
    expect(result.legacyGone).toBe(true);
    expect(result.profile).toMatchObject({ address, role: "primary" });
    expect(result.twins).toEqual([{ secondary: "tel:+15550001111", status: "Off" }]);
    expect(result.live).toBe(false);
    expect(result.otherLive).toBe(true);
    expect(result.outbox).toEqual([{ attempts: 2 }]);
  });

  it("an object of the first schema version (before the OAuth ledger) gets every later step", async () => {
    const address = newAddress();
    const tables = await runInDurableObject(env.SUBSCRIBERS.getByName(address), async (_o, state) => {
      const sql = state.storage.sql;
      for (const { name } of sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' AND name != 'sqlite_sequence'").toArray()) sql.exec(`DROP TABLE "${name}"`);
      sql.exec("CREATE TABLE _schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL); INSERT INTO _schema VALUES (1, 1)");
      sql.exec(LEGACY_STEPS[0]!);
      sql.exec("INSERT INTO used_jti VALUES ('spent', ?)", Math.floor(Date.now() / 1000) + 60);
      new SubscriberObject(state as any, env as any);
      return {
        names: sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((r) => r.name),
        columns: sql.exec<{ name: string }>("SELECT name FROM pragma_table_info('relationship')").toArray().map((r) => r.name),
        spent: sql.exec("SELECT jti FROM used_jti").toArray(),
      };
    });
    expect(tables.names).toEqual(expect.arrayContaining(["revoked_token", "device_grant", "subscription", "delivery", "dropped_notification", "retired"]));
    expect(tables.columns).toContain("via_code");
    expect(tables.spent).toEqual([{ jti: "spent" }]);
  });

  it("a successful activation leaves nothing to fire: no alarm on the primary, the secondary or the code object", async () => {
    const [p, s] = [await device(client), await device(client)];
    const code = (await requestCode(s)).json.activationCode.code;
    expect((await activate(p, code)).status).toBe(201);
    expect(await alarmOf("subscriber", p.address)).toBeNull();
    expect(await alarmOf("subscriber", s.address)).toBeNull();
    expect(await alarmOf("code", code)).toBeNull();
    const rows = await runInDurableObject(env.SUBSCRIBERS.getByName(p.address), (_o, state) => state.storage.sql.exec("SELECT * FROM outbox UNION ALL SELECT activation_id, 0, 0, 0, 0 FROM reservation").toArray());
    expect(rows).toEqual([]);
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.primary).toBe(p.address);
  });

  it("HLF-SD-004: a toggle from the secondary is applied by the secondary itself; the primary keeps only a delayed repair copy", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    const before = Date.now();
    const res = await call("PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: "Off" } });
    expect(res.json.relationship.status).toBe("Off");
    const queued = await runInDurableObject(env.SUBSCRIBERS.getByName(p.address), (_o, state) => state.storage.sql.exec<{ next_at: number }>("SELECT next_at FROM outbox").toArray());
    expect(queued).toHaveLength(1);
    // not due now: nothing sends the same status again right after the secondary applied it
    expect(queued[0]!.next_at).toBeGreaterThanOrEqual(before + 25_000);
    expect((await call("GET", `/twinning/v1/${enc(p.address)}/twins/w`, { token: p.token })).json.twin.status).toBe("Off");
  });

  it("HLF-PD-002: a toggle from the primary is delivered inline; its outbox row goes with the object's next transaction", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.status).toBe("Off");
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "On" } });
    const rows = await runInDurableObject(env.SUBSCRIBERS.getByName(p.address), (_o, state) => state.storage.sql.exec<{ message: string }>("SELECT message FROM outbox").toArray());
    expect(rows).toHaveLength(1);
    expect(JSON.parse(rows[0]!.message).change.status).toBe("On");
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.status).toBe("On");
  });
  it("an alarm that runs before its outbox message is due leaves the outbox working: a later alarm delivers the message once due", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    await call("PUT", `/twinning/v1/${enc(s.address)}/relationship/status`, { token: s.token, body: { status: "Off" } });
    const primary = env.SUBSCRIBERS.getByName(p.address);
    const outbox = () => runInDurableObject(primary, (_o, state) => state.storage.sql.exec<{ id: number }>("SELECT id FROM outbox").toArray());
    expect(await outbox()).toHaveLength(1);
    // The alarm runs early (as when it fires within the millisecond before its row's time): nothing is due yet.
    expect(await runDurableObjectAlarm(primary)).toBe(true);
    expect(await outbox()).toHaveLength(1);
    await runInDurableObject(primary, (_o, state) => state.storage.sql.exec("UPDATE outbox SET next_at = ?", Date.now()));
    expect(await runDurableObjectAlarm(primary)).toBe(true);
    expect(await outbox()).toEqual([]);
    expect(await alarmOf("subscriber", p.address)).toBeNull();
  });
});
