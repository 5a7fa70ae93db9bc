// The activation-code index as buckets (issue 13): a code lives as its SHA-256 in one of 64 bucket
// objects; issue, spend and revoke are one commit each, a guess writes nothing, expired rows go
// without an alarm per code, and codes of the previous scheme (an object named by the code) still work.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CODE_BUCKETS, codeKey, issueCode, redeemCode } from "../../src/twinning/activation-code-index";
import { SWEEP_MS, type CodeBucket } from "../../src/twinning/activation-code-bucket";
import { activate, device, newAddress, registerClient, requestCode } from "../helpers";

const client = await registerClient();
const MNO = { mcc: "001", mnc: "01" };
const randomCode = () => String(crypto.getRandomValues(new Uint32Array(1))[0]! % 1_000_000).padStart(6, "0");
/** A bucket of its own, so that no other test's codes are in it (the class does not care about the name). */
const isolatedBucket = () => env.ACTIVATION_CODES.getByName(`test-bucket:${crypto.randomUUID()}`);
const hashOf = async (code: string) => (await codeKey(code)).hash;

type Bucket = ReturnType<typeof isolatedBucket>;
const rowsOf = (stub: Bucket) =>
  runInDurableObject(stub, (_o, state) =>
    state.storage.sql.exec("SELECT 1 FROM sqlite_master WHERE name = 'bucket_code'").toArray().length
      ? state.storage.sql.exec<{ hash: string; secondary: string; mcc: string; mnc: string; expires_at: number }>("SELECT * FROM bucket_code ORDER BY expires_at").toArray()
      : [],
  );
const tablesOf = (stub: Bucket) =>
  runInDurableObject(stub, (_o, state) =>
    state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf%' ESCAPE '\\'").toArray().map((r) => r.name),
  );
const alarmOf = (stub: Bucket) => runInDurableObject(stub, (_o, state) => state.storage.getAlarm());
const expireAll = (stub: Bucket) =>
  runInDurableObject(stub, (_o, state) => void state.storage.sql.exec("UPDATE bucket_code SET expires_at = ?", Date.now() - 1));

describe("activation-code buckets (issue 13)", () => {
  it("HLF-TE-005: the bucket keeps the SHA-256 of the code, never the code, with the secondary, its MNO and the expiry", async () => {
    const s = await device(client);
    const res = await requestCode(s);
    const code: string = res.json.activationCode.code;
    const key = await codeKey(code);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(code)));
    expect(key.hash).toBe([...digest].map((b) => b.toString(16).padStart(2, "0")).join(""));
    const rows = (await rowsOf(env.ACTIVATION_CODES.getByName(key.bucket))).filter((r) => r.hash === key.hash);
    expect(rows).toEqual([{ hash: key.hash, secondary: s.address, mcc: "001", mnc: "01", expires_at: Date.parse(res.json.activationCode.expiresAt) }]);
    const everything = await runInDurableObject(env.ACTIVATION_CODES.getByName(key.bucket), (_o, state) => JSON.stringify(state.storage.sql.exec("SELECT * FROM bucket_code").toArray()));
    expect(everything).not.toContain(`"${code}"`);
  });

  it("codes spread evenly over the 64 buckets", async () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 6_400; i++) {
      const { bucket } = await codeKey(String(i).padStart(6, "0"));
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1);
    }
    expect(CODE_BUCKETS).toBe(64);
    expect(counts.size).toBe(64);
    for (const n of counts.values()) expect(n).toBeGreaterThan(50); // 100 each on average
  });

  it("HLF-TE-005: 20 primaries spending one code at once: exactly one gets the secondary", async () => {
    let code = randomCode();
    const secondary = newAddress();
    while (!(await issueCode(env, code, { secondary, mno: MNO, expiresAt: Date.now() + 60_000 }))) code = randomCode();
    const primaries = Array.from({ length: 20 }, () => newAddress());
    const results = await Promise.all(primaries.map((p) => redeemCode(env, code, p)));
    expect(results.filter((r) => r.outcome === "redeemed")).toEqual([{ outcome: "redeemed", secondary, mno: MNO }]);
    expect(results.filter((r) => r.outcome === "invalid")).toHaveLength(19);
    const key = await codeKey(code);
    expect((await rowsOf(env.ACTIVATION_CODES.getByName(key.bucket))).filter((r) => r.hash === key.hash)).toEqual([]);
  });

  it("HLF-TE-005: a secondary presenting its own code is refused without spending it; a live code is not issued twice; an expired one is replaced", async () => {
    const bucket = isolatedBucket();
    const hash = await hashOf("123456");
    const [s, p, other] = [newAddress(), newAddress(), newAddress()];
    expect(await bucket.issueInBucket(hash, { secondary: s, mno: MNO, expiresAt: Date.now() + 60_000 })).toBe(true);
    expect(await bucket.issueInBucket(hash, { secondary: other, mno: MNO, expiresAt: Date.now() + 60_000 })).toBe(false);
    expect(await bucket.redeemInBucket(hash, s)).toEqual({ outcome: "self" });
    expect(await bucket.redeemInBucket(hash, p)).toEqual({ outcome: "redeemed", secondary: s, mno: MNO });
    expect(await bucket.redeemInBucket(hash, p)).toEqual({ outcome: "invalid" });
    expect(await bucket.issueInBucket(hash, { secondary: s, mno: MNO, expiresAt: Date.now() + 60_000 })).toBe(true);
    await expireAll(bucket);
    expect(await bucket.redeemInBucket(hash, p)).toEqual({ outcome: "invalid" });
    expect(await bucket.issueInBucket(hash, { secondary: other, mno: MNO, expiresAt: Date.now() + 60_000 })).toBe(true);
    expect(await bucket.revokeInBucket(hash, s)).toBe(false);
    expect(await bucket.revokeInBucket(hash, other)).toBe(true);
    expect(await rowsOf(bucket)).toEqual([]);
  });

  it("a guess writes nothing: a bucket that was never written stays without storage, and a written one keeps its rows and its alarm", async () => {
    const fresh = isolatedBucket();
    expect(await fresh.redeemInBucket(await hashOf("000000"), newAddress())).toEqual({ outcome: "invalid" });
    expect(await fresh.revokeInBucket(await hashOf("000000"), newAddress())).toBe(false);
    expect(await tablesOf(fresh)).toEqual([]);
    expect(await alarmOf(fresh)).toBeNull();

    const written = isolatedBucket();
    await written.issueInBucket(await hashOf("111111"), { secondary: newAddress(), mno: MNO, expiresAt: Date.now() + 60_000 });
    const [rows, alarm] = [await rowsOf(written), await alarmOf(written)];
    for (let i = 0; i < 5; i++) expect(await written.redeemInBucket(await hashOf(String(200_000 + i)), newAddress())).toEqual({ outcome: "invalid" });
    expect(await rowsOf(written)).toEqual(rows);
    expect(await alarmOf(written)).toBe(alarm);
  });

  it("expired rows are purged by the next write, at most once a minute per instance, in that write's commit", async () => {
    const bucket = isolatedBucket();
    const [a, b, c] = [await hashOf("100001"), await hashOf("100002"), await hashOf("100003")];
    await bucket.issueInBucket(a, { secondary: newAddress(), mno: MNO, expiresAt: Date.now() + 60_000 });
    await expireAll(bucket);
    // Within the minute of the first write's purge: the expired row stays (it is refused anyway).
    await bucket.issueInBucket(b, { secondary: newAddress(), mno: MNO, expiresAt: Date.now() + 300_000 });
    expect((await rowsOf(bucket)).map((r) => r.hash).sort()).toEqual([a, b].sort());
    // A minute later the next write takes it.
    await runInDurableObject(bucket, (o) => void (o as unknown as { bucket: CodeBucket }).bucket.issue(c, { secondary: newAddress(), mno: MNO, expiresAt: Date.now() + 300_000 }, Date.now() + 61_000));
    expect((await rowsOf(bucket)).map((r) => r.hash).sort()).toEqual([b, c].sort());
  });

  it("one clean-up alarm per bucket: it sweeps expired rows, runs again at most every 10 minutes while rows remain, and not at all once the bucket is empty", async () => {
    const bucket = isolatedBucket();
    const before = Date.now();
    await bucket.issueInBucket(await hashOf("300001"), { secondary: newAddress(), mno: MNO, expiresAt: Date.now() + 60_000 });
    const first = await alarmOf(bucket);
    expect(first).toBeGreaterThanOrEqual(before + SWEEP_MS);
    // More codes in the same instance move nothing: no alarm write per code.
    await bucket.issueInBucket(await hashOf("300002"), { secondary: newAddress(), mno: MNO, expiresAt: Date.now() + 60_000 });
    expect(await alarmOf(bucket)).toBe(first);
    await expireAll(bucket);
    const live = await hashOf("300003");
    await bucket.issueInBucket(live, { secondary: newAddress(), mno: MNO, expiresAt: Date.now() + 60_000 });
    expect(await runDurableObjectAlarm(bucket)).toBe(true);
    expect((await rowsOf(bucket)).map((r) => r.hash)).toEqual([live]);
    expect(await alarmOf(bucket)).toBeGreaterThanOrEqual(Date.now() + SWEEP_MS - 1_000);
    await expireAll(bucket);
    expect(await runDurableObjectAlarm(bucket)).toBe(true);
    expect(await rowsOf(bucket)).toEqual([]);
    expect(await alarmOf(bucket)).toBeNull();
  });
});

describe("activation codes of the previous scheme (one object named by the code), after the deploy", () => {
  /** Moves a code the API just issued from its bucket to an object named by it, as the previous version kept it. */
  const asLegacy = async (code: string, secondary: string, expiresAt: number) => {
    const key = await codeKey(code);
    await runInDurableObject(env.ACTIVATION_CODES.getByName(key.bucket), (_o, state) => void state.storage.sql.exec("DELETE FROM bucket_code WHERE hash = ?", key.hash));
    expect(await env.ACTIVATION_CODES.getByName(code).issue({ secondary, mno: MNO, expiresAt })).toBe(true);
  };

  it("HLF-TE-005: a code still held by an object named by it is redeemed once, by the fallback, and that object erases itself", async () => {
    const [p, q, s] = [await device(client), await device(client), await device(client)];
    const res = await requestCode(s);
    const code: string = res.json.activationCode.code;
    await asLegacy(code, s.address, Date.parse(res.json.activationCode.expiresAt));
    expect(await tablesOf(env.ACTIVATION_CODES.getByName(code))).toEqual(["code"]);
    expect((await activate(p, code)).status).toBe(201);
    expect(await tablesOf(env.ACTIVATION_CODES.getByName(code))).toEqual([]);
    expect((await activate(q, code)).status).toBe(400);
  });

  it("a newer code revokes the previous one where it is: in an object of the previous scheme too", async () => {
    const [p, s] = [await device(client), await device(client)];
    const res = await requestCode(s);
    const first: string = res.json.activationCode.code;
    await asLegacy(first, s.address, Date.parse(res.json.activationCode.expiresAt));
    const second: string = (await requestCode(s)).json.activationCode.code;
    expect(await tablesOf(env.ACTIVATION_CODES.getByName(first))).toEqual([]);
    expect((await activate(p, first)).status).toBe(400);
    expect((await activate(p, second)).status).toBe(201);
  });

  it("an object of the previous scheme still erases itself at its alarm once its code expired", async () => {
    const code = `legacy-${crypto.randomUUID()}`;
    const stub = env.ACTIVATION_CODES.getByName(code);
    expect(await stub.issue({ secondary: newAddress(), mno: MNO, expiresAt: Date.now() - 1 })).toBe(true);
    expect(await alarmOf(stub)).not.toBeNull();
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await tablesOf(stub)).toEqual([]);
    expect(await alarmOf(stub)).toBeNull();
  });

  it("a Worker of the previous version (gradual deployment) redeems and revokes a code of the buckets through the object named by it", async () => {
    let code = randomCode();
    const secondary = newAddress();
    while (!(await issueCode(env, code, { secondary, mno: MNO, expiresAt: Date.now() + 60_000 }))) code = randomCode();
    const old = env.ACTIVATION_CODES.getByName(code);
    expect(await old.redeem(secondary)).toEqual({ outcome: "self" });
    expect(await old.redeem(newAddress())).toEqual({ outcome: "redeemed", secondary, mno: MNO });
    expect(await old.redeem(newAddress())).toEqual({ outcome: "invalid" });
    expect(await tablesOf(old)).toEqual([]);

    let other = randomCode();
    while (!(await issueCode(env, other, { secondary, mno: MNO, expiresAt: Date.now() + 60_000 }))) other = randomCode();
    await env.ACTIVATION_CODES.getByName(other).revoke(secondary);
    expect(await redeemCode(env, other, newAddress())).toEqual({ outcome: "invalid" });
  });
});
