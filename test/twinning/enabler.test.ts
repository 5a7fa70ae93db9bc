import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { activate, ADMIN, call, device, enc, registerClient, requestCode, twin } from "../helpers";
import { codeKey } from "../../src/twinning/activation-code-index";

const client = await registerClient();

const policy = (res: { json: any }) => res.json?.requestError?.policyException?.messageId;

describe("Twinning enabler", () => {
  it("HLF-TE-005: a code is one-time: a second activation with it is refused", async () => {
    const [p, q, s] = [await device(client), await device(client), await device(client)];
    const code = (await requestCode(s)).json.activationCode.code;
    expect((await activate(p, code)).status).toBe(201);
    const replay = await activate(q, code);
    expect(replay.status).toBe(400);
    expect(replay.json.requestError.serviceException).toMatchObject({ messageId: "SVC0002", variables: ["activationCode", "unknown, used or expired activation code"] });
  });

  it("HLF-TE-005: an expired code is refused with the same answer as an unknown one", async () => {
    const [p, s] = [await device(client), await device(client)];
    const code = (await requestCode(s)).json.activationCode.code;
    // Let the policy period pass in both objects that know the code.
    await runInDurableObject(env.SUBSCRIBERS.getByName(s.address), (_o, state) => state.storage.sql.exec("UPDATE current_code SET expires_at = ?", Date.now() - 1));
    const key = await codeKey(code);
    await runInDurableObject(env.ACTIVATION_CODES.getByName(key.bucket), (_o, state) => state.storage.sql.exec("UPDATE bucket_code SET expires_at = ? WHERE hash = ?", Date.now() - 1, key.hash));
    const expired = await activate(p, code);
    const unknown = await activate(p, code === "000000" ? "000001" : "000000");
    expect(expired.status).toBe(400);
    expect(expired.json).toEqual(unknown.json);
  });

  it("HLF-TE-005: the expiry follows the server policy (ACTIVATION_CODE_TTL_SECONDS, default 300 s)", async () => {
    const s = await device(client);
    const before = Date.now();
    const res = await requestCode(s);
    const ttl = Date.parse(res.json.activationCode.expiresAt) - before;
    expect(ttl).toBeGreaterThan(299_000);
    expect(ttl).toBeLessThanOrEqual(301_000);
    expect(env.ACTIVATION_CODE_TTL_SECONDS).toBe("300");
  });

  it("HLF-TE-005: a new code for the same secondary revokes the previous one", async () => {
    const [p, s] = [await device(client), await device(client)];
    const first = (await requestCode(s)).json.activationCode.code;
    const second = (await requestCode(s)).json.activationCode.code;
    expect((await activate(p, first)).status).toBe(400);
    expect((await activate(p, second)).status).toBe(201);
  });

  it("HLF-TE-005: after 5 failed codes in 15 minutes the primary gets 429, even with a valid code, until the window passes", async () => {
    const [p, s] = [await device(client), await device(client)];
    for (let i = 0; i < 5; i++) expect((await activate(p, "999999")).status).toBe(400);
    const valid = (await requestCode(s)).json.activationCode.code;
    const limited = await activate(p, valid);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(800);
    expect(Number(limited.headers.get("retry-after"))).toBeLessThanOrEqual(900);
    expect(policy(limited)).toBe("POL0001");
    // 15 minutes later the window has passed; the valid code was not spent by the refusal.
    await runInDurableObject(env.SUBSCRIBERS.getByName(p.address), (_o, state) => state.storage.sql.exec("UPDATE failed_code SET at = at - ?", 15 * 60_000));
    expect((await activate(p, valid)).status).toBe(201);
  });

  it("HLF-TE-005: the attempt counter is per primary", async () => {
    const [p, q, s] = [await device(client), await device(client), await device(client)];
    for (let i = 0; i < 5; i++) await activate(p, "999999");
    expect((await activate(p, "999999")).status).toBe(429);
    expect((await activate(q, (await requestCode(s)).json.activationCode.code)).status).toBe(201);
  });

  it("HLF-TE-008: a secondary cannot become a primary (POL1037), and the other device's code is not spent", async () => {
    const [p, s, x, q] = [await device(client), await device(client), await device(client), await device(client)];
    await twin(p, s);
    const code = (await requestCode(x)).json.activationCode.code;
    const res = await activate(s, code);
    expect(res.status).toBe(403);
    expect(policy(res)).toBe("POL1037");
    expect((await activate(q, code)).status).toBe(201);
  });

  it("HLF-TE-008: a primary cannot become a secondary, even with a code it obtained before it became a primary", async () => {
    const [p, s, q] = [await device(client), await device(client), await device(client)];
    const oldCode = (await requestCode(p)).json.activationCode.code;
    await twin(p, s);
    const res = await activate(q, oldCode);
    // Issue 12: the code was revoked when p became a primary, so it is answered as any dead code
    // (it used to be 403 POL1037, which told a guesser that the code was live).
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables[0]).toBe("activationCode");
    expect((await call("GET", `/twinning/v1/${enc(q.address)}/twins`, { token: q.token })).json.twinList.twin).toEqual([]);
  });

  it("HLF-TE-008: a device cannot be twinned with itself, and its code stays usable", async () => {
    const [s, p] = [await device(client), await device(client)];
    const code = (await requestCode(s)).json.activationCode.code;
    const res = await activate(s, code);
    expect(res.status).toBe(403);
    expect(policy(res)).toBe("POL1037");
    expect((await activate(p, code)).status).toBe(201);
  });

  it("HLF-TE-009: the secondary's object refuses a second relationship even when asked directly", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s);
    const stub = env.SUBSCRIBERS.getByName(s.address);
    const answer = await stub.acceptPrimary({ activationId: crypto.randomUUID(), primary: "tel:+19999999999", primaryMno: { mcc: "001", mnc: "01" }, code: "123456", name: "x", activatedAt: Date.now() });
    expect(answer).toMatchObject({ ok: false, error: { status: 403, messageId: "POL1037" } });
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.primary).toBe(p.address);
  });

  it("HLF-TE-001: the association is kept by the enabler and reported to the operator", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s);
    const ps = await call("GET", `/admin/v1/subscribers/${enc(p.address)}`, { headers: ADMIN });
    const ss = await call("GET", `/admin/v1/subscribers/${enc(s.address)}`, { headers: ADMIN });
    expect(ps.json.subscriber.role).toBe("primary");
    expect(ss.json.subscriber.role).toBe("secondary");
  });

  it("HLF-TE-002: the status kept by both objects survives the objects being evicted", async () => {
    const [p, s] = [await device(client), await device(client)];
    await twin(p, s, "w");
    await call("PUT", `/twinning/v1/${enc(p.address)}/twins/w/status`, { token: p.token, body: { status: "Off" } });
    // ctx.abort() drops the in-memory instance; the next call reconstructs it from storage (an eviction).
    const evictDurableObject = (stub: DurableObjectStub) => runInDurableObject(stub, (_, state) => state.abort("evicted by test"));
    await evictDurableObject(env.SUBSCRIBERS.getByName(p.address)).catch(() => undefined);
    await evictDurableObject(env.SUBSCRIBERS.getByName(s.address)).catch(() => undefined);
    expect((await call("GET", `/twinning/v1/${enc(p.address)}/twins/w`, { token: p.token })).json.twin.status).toBe("Off");
    expect((await call("GET", `/twinning/v1/${enc(s.address)}/relationship`, { token: s.token })).json.relationship.status).toBe("Off");
  });
});
