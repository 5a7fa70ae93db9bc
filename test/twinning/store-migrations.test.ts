// Issue 13: each store's schema steps, applied to an object whose store is one step behind, with
// data in it: the data stays, and the new step's tables and columns work.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SubscriberObject } from "../../src/twinning/subscriber-object";
import { PROFILE_SCHEMA } from "../../src/twinning/profile-store";
import { RELATIONSHIPS_SCHEMA } from "../../src/twinning/relationships";
import { ACTIVATION_CODES_SCHEMA } from "../../src/twinning/activation-codes";
import { OUTBOX_SCHEMA } from "../../src/twinning/outbox";
import { SUBJECT_LEDGER_SCHEMA } from "../../src/oauth/subject-ledger";
import { NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE } from "../../src/notify/queue";
import type { StoreSchema } from "../../src/http/sql";
import { newAddress } from "../helpers";

const NOTIFICATIONS: StoreSchema = { name: "notifications", steps: [NOTIFY_SCHEMA, NOTIFY_SCHEMA_DELIVERY_STATE] };
const STORES = [PROFILE_SCHEMA, SUBJECT_LEDGER_SCHEMA, RELATIONSHIPS_SCHEMA, ACTIVATION_CODES_SCHEMA, OUTBOX_SCHEMA, NOTIFICATIONS];

/**
 * Rebuilds the object's storage with `store` at `version` (the others at their latest) and `seed`
 * run on it, then opens it with the current code and runs `check`.
 */
function fromPreviousVersion<T>(store: StoreSchema, version: number, seed: (sql: SqlStorage, now: number) => void, check: (o: SubscriberObject, sql: SqlStorage, now: number) => Promise<T>): Promise<T> {
  const address = newAddress();
  return runInDurableObject(env.SUBSCRIBERS.getByName(address), async (_o, state) => {
    const sql = state.storage.sql;
    for (const { name } of sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\' AND name != 'sqlite_sequence'").toArray()) sql.exec(`DROP TABLE "${name}"`);
    sql.exec("CREATE TABLE _store_schema (name TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    for (const s of STORES) {
      const upTo = s.name === store.name ? version : s.steps.length;
      for (let v = 0; v < upTo; v++) sql.exec(s.steps[v]!);
      sql.exec("INSERT INTO _store_schema VALUES (?, ?)", s.name, upTo);
    }
    const now = Date.now();
    seed(sql, now);
    const o = new SubscriberObject(state as any, env as any);
    expect(sql.exec<{ version: number }>("SELECT version FROM _store_schema WHERE name = ?", store.name).one().version).toBe(store.steps.length);
    return check(o, sql, now);
  });
}

describe("Store schema migrations from the previous version, with data (issue 13)", () => {
  it("profile 1 → 2: the profile stays, its tokens count from 0, and deprovisioning can record the retired second", async () => {
    const r = await fromPreviousVersion(
      PROFILE_SCHEMA,
      1,
      (sql, now) => sql.exec("INSERT INTO profile (id, address, mcc, mnc, device_key, created_at) VALUES (1, 'tel:+15550002222', '001', '01', ?, ?)", new Uint8Array(32), now),
      async (o, sql, now) => ({
        profile: await o.profile(),
        tokensFrom: sql.exec<{ tokens_from: number }>("SELECT tokens_from FROM profile").one().tokens_from,
        live: await o.isTokenLive({ jti: "j", exp: Math.floor(now / 1000) + 60, iat: 1 }),
        removed: await o.deprovision(),
        retired: sql.exec("SELECT until_s FROM retired").toArray().length,
      }),
    );
    expect(r.profile).toMatchObject({ address: "tel:+15550002222", mno: { mcc: "001", mnc: "01" }, role: "none" });
    expect(r.tokensFrom).toBe(0);
    expect(r.live).toBe(true);
    expect(r.removed).toBe(true);
    expect(r.retired).toBe(1);
  });

  it("OAuth subject ledger 1 → 2: spent assertion jtis stay spent; revocations and device grants can be recorded", async () => {
    const r = await fromPreviousVersion(
      SUBJECT_LEDGER_SCHEMA,
      1,
      (sql, now) => {
        sql.exec("INSERT INTO profile (id, address, mcc, mnc, device_key, created_at, tokens_from) VALUES (1, 'tel:+15550003333', '001', '01', ?, ?, 0)", new Uint8Array(32), now);
        sql.exec("INSERT INTO used_jti VALUES ('spent', ?)", Math.floor(now / 1000) + 60);
      },
      async (o, sql, now) => {
        const ref = { jti: "t1", exp: Math.floor(now / 1000) + 60, iat: Math.floor(now / 1000) };
        const before = await o.isTokenLive(ref);
        await o.revokeAccessTokens([{ jti: ref.jti, exp: ref.exp }]);
        return { spent: sql.exec("SELECT jti FROM used_jti").toArray(), before, after: await o.isTokenLive(ref), grants: sql.exec("SELECT * FROM device_grant").toArray() };
      },
    );
    expect(r.spent).toEqual([{ jti: "spent" }]);
    expect(r.before).toBe(true);
    expect(r.after).toBe(false);
    expect(r.grants).toEqual([]);
  });

  it("relationships 1 → 2: a secondary's relationship and a primary's twins stay; the relationship gets via_code", async () => {
    const r = await fromPreviousVersion(
      RELATIONSHIPS_SCHEMA,
      1,
      (sql, now) => {
        sql.exec("INSERT INTO profile (id, address, mcc, mnc, device_key, created_at, tokens_from) VALUES (1, 'tel:+15550004444', '001', '01', ?, ?, 0)", new Uint8Array(32), now);
        sql.exec(
          `INSERT INTO relationship (id, activation_id, primary_address, mcc, mnc, name, status, version, state, deadline, activated_at, changed_at, changed_by)
           VALUES (1, 'act-9', 'tel:+15550005555', '001', '01', 'watch', 'Off', 4, 'active', NULL, ?, ?, 'primary')`,
          now, now,
        );
      },
      async (o, sql) => {
        const profile = await o.profile();
        await o.applyStatus("act-9", { status: "On", version: 5, at: Date.now(), by: "primary" });
        return { profile, row: sql.exec("SELECT status, version, via_code FROM relationship").one() };
      },
    );
    expect(r.profile?.role).toBe("secondary");
    expect(r.row).toEqual({ status: "On", version: 5, via_code: null });
  });

  it("relationships 2 → 3: a primary's twins stay, listed as before; each gets code_hash, null for twins made before it", async () => {
    const r = await fromPreviousVersion(
      RELATIONSHIPS_SCHEMA,
      2,
      (sql, now) => {
        sql.exec("INSERT INTO profile (id, address, mcc, mnc, device_key, created_at, tokens_from) VALUES (1, 'tel:+15550006666', '001', '01', ?, ?, 0)", new Uint8Array(32), now);
        sql.exec(
          `INSERT INTO twin (secondary, name, status, version, activation_id, mcc, mnc, activated_at, changed_at, changed_by)
           VALUES ('tel:+15550007777', 'car', 'On', 2, 'act-3', '001', '01', ?, ?, 'secondary')`,
          now, now,
        );
      },
      async (o, sql) => ({ view: await o.adminTwinning(), row: sql.exec("SELECT secondary, code_hash FROM twin").one() }),
    );
    expect(r.view.ok && r.view.value.twins.map((t) => [t.secondary, t.name, t.status])).toEqual([["tel:+15550007777", "car", "On"]]);
    expect(r.row).toEqual({ secondary: "tel:+15550007777", code_hash: null });
  });
});
