// The twinning core's seams with federation, inside one workerd: a peer (MNO 001-02) is registered
// but cannot be reached (its gateway does not exist), so every request that needs it right now
// fails with 503 SVC0001 naming it and writes nothing, while what the primary decided is kept in its
// outbox for the peer and retried. The exchange with a live peer is in e2e/.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, device, enc, ORIGIN, registerClient } from "../helpers";
import { crossTwin } from "./cross-twin";

const PEER = "https://mno-b.example";
await env.PEERS.getByName("peers").register({ mno: "001-02", issuer: PEER, tokenEndpoint: `${PEER}/oauth/token`, jwksUri: `${PEER}/oauth/jwks`, selfIssuer: ORIGIN });
const client = await registerClient();
const B = { mcc: "001", mnc: "02" };

const peerUnavailable = (res: { status: number; text: string; json: any }) => {
  expect(res.status, res.text).toBe(503);
  expect(res.json.requestError.serviceException.messageId).toBe("SVC0001");
  expect(res.json.requestError.serviceException.variables[0]).toMatch(/^peer MNO 001-02 unavailable: /);
};

describe("the twinning core with a peer operator that cannot be reached", () => {
  it("HLF-TE-006: a code request naming the peer's MNO is 503 SVC0001 naming it, and the secondary keeps no code; an MNO no peer serves is 400 SVC0003", async () => {
    const watch = await device(client);
    peerUnavailable(await call("POST", `/twinning/v1/${enc(watch.address)}/activationCodes`, { token: watch.token, body: { primaryMno: B } }));
    const count = await runInDurableObject(env.SUBSCRIBERS.getByName(watch.address), (_o, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM current_code").one().n,
    );
    expect(count).toBe(0);
    const unserved = await call("POST", `/twinning/v1/${enc(watch.address)}/activationCodes`, { token: watch.token, body: { primaryMno: { mcc: "001", mnc: "77" } } });
    expect(unserved.status).toBe(400);
    expect(unserved.json.requestError.serviceException.messageId).toBe("SVC0003");
  });

  it("HLF-IC-004: a code named as the peer's (activationCodeMno) is 503 naming it with nothing written; an MNO no peer serves is 400 naming activationCodeMno", async () => {
    const phone = await device(client);
    peerUnavailable(await call("POST", `/twinning/v1/${enc(phone.address)}/twins`, { token: phone.token, body: { activationCode: "123456", activationCodeMno: B } }));
    const unknown = await call("POST", `/twinning/v1/${enc(phone.address)}/twins`, { token: phone.token, body: { activationCode: "123456", activationCodeMno: { mcc: "001", mnc: "77" } } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.requestError.serviceException.variables[0]).toBe("activationCodeMno");
    expect((await call("GET", `/twinning/v1/${enc(phone.address)}/twins`, { token: phone.token })).json.twinList.twin).toEqual([]);
    // Nothing of the attempt is left: the phone has no role and may still become a secondary.
    expect((await call("POST", `/twinning/v1/${enc(phone.address)}/activationCodes`, { token: phone.token, body: {} })).status).toBe(201);
  });

  it("HLF-IC-005, TE-004: the primary's toggle and deactivation of a twin at the peer take effect here at once and wait in the outbox for the peer", async () => {
    const { primary: phone, secondary } = await crossTwin(client);
    // Devices name the twin by its address; they never see the peer prefix.
    const listed = await call("GET", `/twinning/v1/${enc(phone.address)}/twins/${enc(secondary)}`, { token: phone.token });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json.twin).toMatchObject({ secondary, secondaryMno: B, status: "On" });
    const off = await call("PUT", `/twinning/v1/${enc(phone.address)}/twins/watch/status`, { token: phone.token, body: { status: "Off" } });
    expect(off.status, off.text).toBe(200);
    expect(off.json.twin).toMatchObject({ secondary, status: "Off" });
    expect((await call("DELETE", `/twinning/v1/${enc(phone.address)}/twins/watch`, { token: phone.token })).status).toBe(204);
    const queued = await runInDurableObject(env.SUBSCRIBERS.getByName(phone.address), async (_o, state) => ({
      rows: state.storage.sql.exec<{ target: string; message: string }>("SELECT target, message FROM outbox ORDER BY id").toArray(),
      alarm: await state.storage.getAlarm(),
    }));
    expect(queued.rows.map((r) => [r.target, JSON.parse(r.message).method])).toEqual([
      [`peer:001-02:${secondary}`, "applyStatus"],
      [`peer:001-02:${secondary}`, "relationshipEnded"],
    ]);
    expect(queued.alarm).not.toBeNull();
  });
  it("issue 14: a message to a peer that keeps failing is retried from the alarm at most 30 s apart, however many attempts failed before", async () => {
    const { primary: phone } = await crossTwin(client);
    const stub = env.SUBSCRIBERS.getByName(phone.address);
    expect((await call("PUT", `/twinning/v1/${enc(phone.address)}/twins/watch/status`, { token: phone.token, body: { status: "Off" } })).status).toBe(200);
    // Twelve failures already: a local receiver would now wait minutes (1 s doubling, at most 5 min).
    await runInDurableObject(stub, (_o, state) => state.storage.sql.exec("UPDATE outbox SET attempts = 12, next_at = ?", Date.now()));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const after = Date.now();
    const { row, alarm } = await runInDurableObject(stub, async (_o, state) => ({
      row: state.storage.sql.exec<{ attempts: number; next_at: number }>("SELECT attempts, next_at FROM outbox").one(),
      alarm: await state.storage.getAlarm(),
    }));
    expect(row.attempts).toBe(13);
    expect(Number.isInteger(row.next_at)).toBe(true);
    expect(row.next_at).toBeLessThanOrEqual(after + 30_000);
    expect(row.next_at).toBeGreaterThan(after + 10_000);
    expect(alarm).toBe(row.next_at);
  });
});
