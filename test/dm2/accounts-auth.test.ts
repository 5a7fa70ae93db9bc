// DM accounts (operator API) and HTTP authentication of the DM 2.0 resources: Basic over TLS,
// Digest (RFC 7616, SHA-256) whose nonces cannot be replayed, and the browser's 401 dialog.
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, enc } from "../helpers";
import { basicAuth, createAccount, digestChallenge, digestHeader, dm2, newAccountId, sha256, TLS_ORIGIN } from "./helpers";

const PATH = "/dm/v2/devices";

describe("DM accounts through the admin API", () => {
  it("PUT creates (201) then updates (200); GET shows it without any secret; DELETE removes it", async () => {
    const accountId = newAccountId();
    const put = (body: unknown) => SELF.fetch(`${TLS_ORIGIN}/admin/v1/dm-accounts/${accountId}`, { method: "PUT", headers: { ...ADMIN, "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const first = await put({ password: "correct horse battery", subscriber: "tel:+15551230009" });
    expect(first.status).toBe(201);
    const created = (await first.json()) as any;
    expect(created.dmAccount).toMatchObject({ accountId, subscriber: "tel:+15551230009", resourceURL: `${TLS_ORIGIN}/admin/v1/dm-accounts/${accountId}` });
    expect(JSON.stringify(created)).not.toContain("correct horse");
    expect((await put({ password: "another long password" })).status).toBe(200);
    const got = await SELF.fetch(`${TLS_ORIGIN}/admin/v1/dm-accounts/${accountId}`, { headers: ADMIN });
    expect(((await got.json()) as any).dmAccount.subscriber).toBeUndefined();
    expect((await SELF.fetch(`${TLS_ORIGIN}/admin/v1/dm-accounts/${accountId}`, { method: "DELETE", headers: ADMIN })).status).toBe(204);
    expect((await SELF.fetch(`${TLS_ORIGIN}/admin/v1/dm-accounts/${accountId}`, { headers: ADMIN })).status).toBe(404);
  });

  it("keeps only a PBKDF2-SHA-256 hash and the SHA-256 HA1, never the password", async () => {
    const a = await createAccount();
    const stored = await runInDurableObject(env.DM_ACCOUNTS.getByName(a.accountId), (_o, state) => state.storage.sql.exec("SELECT * FROM account").toArray()[0] as Record<string, string>);
    expect(JSON.stringify(stored)).not.toContain(a.password);
    expect(stored.basic).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(stored.digest_ha1).toBe(await sha256(`${a.accountId}:oma-edge DM:${a.password}`));
  });

  it("refuses a short password, an unknown field, a bad subscriber and a missing admin token, naming the part", async () => {
    const id = newAccountId();
    const put = (body: unknown, headers: Record<string, string> = ADMIN) => dm2(null, "PUT", `/admin/v1/dm-accounts/${id}`, { body, type: "application/json", headers });
    expect((await put({ password: "short" })).json.requestError.serviceException.variables[0]).toBe("password");
    expect((await put({ password: "long enough password", role: "x" })).status).toBe(400);
    expect((await put({ password: "long enough password", subscriber: "bob" })).json.requestError.serviceException.variables[0]).toBe("subscriber");
    expect((await put({ password: "long enough password" }, {})).status).toBe(401);
    expect((await dm2(null, "PUT", "/admin/v1/dm-accounts/has%20space", { body: { password: "long enough password" }, type: "application/json", headers: ADMIN })).status).toBe(400);
  });
});

describe("HTTP authentication of /dm/v2 (RFC 7616, RFC 7617)", () => {
  it("a request without credentials gets 401 with a SHA-256 Digest challenge and a Basic one (the browser's login dialog)", async () => {
    const res = await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Accept: "text/html" } });
    expect(res.status).toBe(401);
    const challenges = res.headers.get("www-authenticate")!;
    expect(challenges).toMatch(/^Digest realm="oma-edge DM", qop="auth", algorithm=SHA-256, nonce="[A-Za-z0-9_-]{32}", opaque="[^"]+", charset=UTF-8, Basic realm="oma-edge DM", charset="UTF-8"$/);
    expect(((await res.json()) as any).requestError.policyException.messageId).toBe("POL0001");
  });

  it("Basic with the account's credentials over TLS is accepted; wrong password or unknown account is 401", async () => {
    const a = await createAccount();
    expect((await dm2(a, "GET", PATH)).status).toBe(200);
    expect((await dm2({ ...a, password: "wrong password here" }, "GET", PATH)).status).toBe(401);
    expect((await dm2({ accountId: newAccountId(), password: a.password }, "GET", PATH)).status).toBe(401);
  });

  it("Basic over plain HTTP (not loopback) is refused and not offered: the password would travel in clear", async () => {
    const a = await createAccount();
    const res = await dm2(a, "GET", PATH, { origin: "http://gateway.test" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).not.toContain("Basic");
  });

  it("Digest SHA-256 is accepted; the same nonce count again (a replay) is refused; a higher count on the same nonce is accepted", async () => {
    const a = await createAccount();
    const ch = digestChallenge(await SELF.fetch(`${TLS_ORIGIN}${PATH}`));
    const auth1 = await digestHeader(a, ch, "GET", PATH, 1);
    const ok = await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: auth1 } });
    expect(ok.status).toBe(200);
    const replay = await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: auth1 } });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as any).requestError.policyException.variables[0]).toContain("replay");
    const next = await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: await digestHeader(a, ch, "GET", PATH, 2) } });
    expect(next.status).toBe(200);
  });

  it("Digest refuses a response for another request-target, another method, a wrong password, MD5, and a nonce not issued by the server's scheme", async () => {
    const a = await createAccount();
    const ch = digestChallenge(await SELF.fetch(`${TLS_ORIGIN}${PATH}`));
    const other = await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: await digestHeader(a, ch, "GET", "/dm/v2/sessions/pending") } });
    expect(other.status).toBe(401);
    expect((await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: await digestHeader(a, ch, "DELETE", PATH) } })).status).toBe(401);
    expect((await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: await digestHeader({ ...a, password: "nope nope nope" }, ch, "GET", PATH) } })).status).toBe(401);
    const md5 = (await digestHeader(a, ch, "GET", PATH)).replace("algorithm=SHA-256", "algorithm=MD5");
    expect((await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: md5 } })).status).toBe(401);
    const forged = await digestHeader(a, { ...ch, nonce: "made-up" }, "GET", PATH);
    expect((await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: forged } })).status).toBe(401);
  });

  it("an expired nonce is answered stale=true, so the client retries with a fresh one without asking the user again", async () => {
    const a = await createAccount();
    const old = new Uint8Array(24);
    new DataView(old.buffer).setBigUint64(0, BigInt(Date.now() - 6 * 60_000));
    const nonce = btoa(String.fromCharCode(...old)).replace(/\+/g, "-").replace(/\//g, "_");
    const res = await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: await digestHeader(a, { realm: "oma-edge DM", nonce, opaque: "dm2" }, "GET", PATH) } });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain("stale=true");
  });

  it("10 failed logins lock the account for 15 minutes (429 with Retry-After), even for the right password", async () => {
    const a = await createAccount();
    const wrong = { ...a, password: "definitely not it" };
    const results = await Promise.all(Array.from({ length: 10 }, () => dm2(wrong, "GET", PATH)));
    expect(results.every((r) => r.status === 401 || r.status === 429)).toBe(true);
    const locked = await dm2(a, "GET", PATH);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(800);
  });

  it("a new password ends the old one at once", async () => {
    const a = await createAccount();
    expect((await dm2(a, "GET", PATH)).status).toBe(200);
    await SELF.fetch(`${TLS_ORIGIN}/admin/v1/dm-accounts/${enc(a.accountId)}`, { method: "PUT", headers: { ...ADMIN, "Content-Type": "application/json" }, body: JSON.stringify({ password: "the brand new password" }) });
    expect((await dm2(a, "GET", PATH)).status).toBe(401);
    expect((await SELF.fetch(`${TLS_ORIGIN}${PATH}`, { headers: { Authorization: basicAuth({ ...a, password: "the brand new password" }) } })).status).toBe(200);
  });
});
