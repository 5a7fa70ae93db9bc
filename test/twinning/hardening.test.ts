// Issue 12: attacks on the twinning enabler that the first version let through.
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { activate, ADMIN, call, device, enc, registerClient, requestCode, token, twin } from "../helpers";
import { codeKey } from "../../src/twinning/activation-code-index";

const client = await registerClient();

const randomCode = () => String(crypto.getRandomValues(new Uint32Array(1))[0]! % 1_000_000).padStart(6, "0");
/** The tables an object has persisted (none: the object left nothing behind). */
const tablesOf = (ns: typeof env.ACTIVATION_CODES, name: string) =>
  runInDurableObject(ns.getByName(name), (_o, state) =>
    state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\'").toArray().map((r) => r.name),
  );
/** Whether the code's bucket holds it (by its hash). */
const inBucket = async (code: string) => {
  const key = await codeKey(code);
  return runInDurableObject(env.ACTIVATION_CODES.getByName(key.bucket), (_o, state) =>
    state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name = 'bucket_code'").toArray().length > 0 &&
    state.storage.sql.exec("SELECT 1 FROM bucket_code WHERE hash = ?", key.hash).toArray().length > 0);
};

describe("Twinning enabler hardening (issue 12)", () => {
  it("HLF-TE-005: 30 concurrent guesses from one primary: at most 5 are tried against the code space, the rest are 429", async () => {
    const p = await device(client);
    const results = await Promise.all(Array.from({ length: 30 }, () => activate(p, randomCode())));
    const tried = results.filter((r) => r.status === 400);
    expect(tried.length).toBeLessThanOrEqual(5);
    expect(results.filter((r) => r.status === 429).length).toBe(30 - tried.length);
    for (const r of results.filter((r) => r.status === 429)) expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // and once they are decided, the window is locked as after 5 sequential failures
    const after = await activate(p, randomCode());
    expect(after.status).toBe(429);
    expect(Number(after.headers.get("retry-after"))).toBeGreaterThan(800);
  });

  it("a recycled number never inherits the previous holder's tokens", async () => {
    const old = await device(client);
    const path = `/admin/v1/subscribers/${enc(old.address)}`;
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: old.token })).status).toBe(200);
    expect((await call("DELETE", path, { headers: ADMIN })).status).toBe(204);
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: old.token })).status).toBe(401);
    const key = crypto.getRandomValues(new Uint8Array(32));
    const deviceKey = btoa(String.fromCharCode(...key)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    expect((await call("PUT", path, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey } })).status).toBe(201);
    const stale = await call("GET", "/twinning/v1/acr:Authorization/twins", { token: old.token });
    expect(stale.status).toBe(401);
    expect(stale.headers.get("www-authenticate")).toMatch(/invalid_token/);
    expect((await call("POST", "/oauth/introspect", {
      headers: { Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}`, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: old.token }).toString(),
    })).json.active).toBe(false);
    // The new holder's own tokens work at once.
    const fresh = await token({ address: old.address, key }, client);
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: fresh })).status).toBe(200);
  });

  it("HLF-TE-005: never-issued, used and revoked codes take the same path: an empty code object, nothing written", async () => {
    const [p, q, s, r] = [await device(client), await device(client), await device(client), await device(client)];
    const used = (await requestCode(s)).json.activationCode.code;
    await activate(p, used);
    const revoked = (await requestCode(r)).json.activationCode.code;
    const live = (await requestCode(r)).json.activationCode.code;
    let never = randomCode();
    while ([used, revoked, live].includes(never)) never = randomCode();
    const answers = [];
    for (const code of [never, used, revoked]) answers.push(await activate(q, code));
    for (const a of answers) expect(a.json).toEqual(answers[0]!.json);
    expect(answers[0]!.status).toBe(400);
    for (const code of [never, used, revoked]) expect(await tablesOf(env.ACTIVATION_CODES, code)).toEqual([]);
    // Issue 13: the live code is a row of its bucket (no longer an object named by the code); dead ones are not.
    expect(await tablesOf(env.ACTIVATION_CODES, live)).toEqual([]);
    expect(await inBucket(live)).toBe(true);
    for (const code of [never, used, revoked]) expect(await inBucket(code)).toBe(false);
  });

  it("HLF-TE-008: a secondary that became a primary has its live code revoked; guessing it is an ordinary failed guess", async () => {
    const [p, s, q] = [await device(client), await device(client), await device(client)];
    const own = (await requestCode(p)).json.activationCode.code;
    await twin(p, s);
    const res = await activate(q, own);
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables[0]).toBe("activationCode");
    const failures = await runInDurableObject(env.SUBSCRIBERS.getByName(q.address), (_o, state) => state.storage.sql.exec("SELECT * FROM failed_code").toArray());
    expect(failures).toHaveLength(1);
    expect(await tablesOf(env.ACTIVATION_CODES, own)).toEqual([]);
  });

  it("an activation code object written by the first schema (spent codes kept as rows) is read and reissued correctly", async () => {
    const code = randomCode();
    await runInDurableObject(env.ACTIVATION_CODES.getByName(code), (_o, state) => {
      state.storage.sql.exec("CREATE TABLE _schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL); INSERT INTO _schema VALUES (1, 1)");
      state.storage.sql.exec(`CREATE TABLE code (id INTEGER PRIMARY KEY CHECK (id = 1), secondary TEXT NOT NULL, mcc TEXT NOT NULL,
        mnc TEXT NOT NULL, expires_at INTEGER NOT NULL, state TEXT NOT NULL)`);
      state.storage.sql.exec("INSERT INTO code VALUES (1, 'tel:+15550000000', '001', '01', ?, 'used')", Date.now() + 60_000);
    });
    const stub = env.ACTIVATION_CODES.getByName(code);
    expect(await stub.redeem("tel:+15550000001")).toEqual({ outcome: "invalid" });
    expect(await stub.issue({ secondary: "tel:+15550000002", mno: { mcc: "001", mnc: "01" }, expiresAt: Date.now() + 60_000 })).toBe(true);
    expect(await stub.redeem("tel:+15550000001")).toMatchObject({ outcome: "redeemed", secondary: "tel:+15550000002" });
    expect(await tablesOf(env.ACTIVATION_CODES, code)).toEqual([]);
  });
});

describe("Twinning rate limits (issue 12, Workers Rate Limiting binding)", () => {
  // The local simulator counts in fixed windows aligned to the wall clock, so each test sends twice
  // the limit + 1: whichever way a window boundary falls, one window sees more than the limit.
  it("code requests per secondary: 10 per minute, then 429 POL0001 with Retry-After", async () => {
    const s = await device(client);
    const answers = [];
    for (let i = 0; i < 21; i++) answers.push(await requestCode(s));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.status !== 429).every((a) => a.status === 201)).toBe(true);
    expect(limited[0]!.json.requestError.policyException).toMatchObject({ messageId: "POL0001" });
    expect(limited[0]!.json.requestError.policyException.variables[0]).toMatch(/activation code requests/);
    expect(Number(limited[0]!.headers.get("retry-after"))).toBe(60);
    // another secondary is not affected
    expect((await requestCode(await device(client))).status).toBe(201);
  });

  it("activation attempts per code: 30 per minute whoever makes them, then 429 before any object is asked", async () => {
    const code = randomCode();
    const p = await device(client);
    const answers = [];
    for (let i = 0; i < 61; i++) answers.push(await activate(p, code));
    const byLimiter = answers.filter((a) => a.status === 429 && /activation attempts with this code/.test(a.json.requestError.policyException.variables[0]));
    expect(byLimiter.length).toBeGreaterThan(0);
    expect(byLimiter[0]!.headers.get("retry-after")).toBe("60");
    // the primary's own lockout still counted only what reached its object
    expect(answers.filter((a) => a.status === 400).length).toBe(5);
  });
});
