// Issue 18, "Error answers": a failure says what was wrong and what was expected, never a library code.
import { describe, expect, it } from "vitest";
import { SignJWT } from "jose";
import { ADMIN, call, enc, ORIGIN, provision, registerClient, requestToken } from "../helpers";

const dmAccount = { serverId: "oma-edge", authType: "syncml:auth-md5", clientUsername: "u", clientPassword: "device-secret", serverPassword: "server-secret" };

describe("Error answers name the part and what was expected", () => {
  it("a DM job with an unknown command kind lists the kinds, at any depth; a known kind names its missing field", async () => {
    const devId = `IMEI:55${Date.now()}`;
    expect((await call("PUT", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN, body: dmAccount })).status).toBe(201);
    const job = (commands: unknown[]) => call("POST", `/dm/v1/devices/${enc(devId)}/jobs`, { headers: ADMIN, body: { commands } });
    const unknown = await job([{ kind: "Frobnicate", target: "./DevInfo/Mod" }]);
    expect(unknown.status).toBe(400);
    const [part, why] = unknown.json.requestError.serviceException.variables;
    expect(part).toBe("commands.0.kind");
    for (const kind of ["Get", "Add", "Replace", "Delete", "Copy", "Exec", "Alert", "Atomic", "Sequence"]) expect(why).toContain(kind);
    const nested = await job([{ kind: "Atomic", commands: [{ kind: "Nope", target: "./x" }] }]);
    expect(nested.json.requestError.serviceException.variables[0]).toBe("commands.0.commands.0.kind");
    const missing = await job([{ kind: "Copy", target: "./x" }]);
    expect(missing.json.requestError.serviceException.variables[0]).toBe("commands.0.source");
    expect((await call("GET", `/admin/v1/devices/${enc(devId)}`, { headers: ADMIN })).status).toBe(200);
  });

  it("a rejected assertion says which claim failed and what was expected, not jose's error code", async () => {
    const client = await registerClient(["twinning:primary"]);
    const sub = await provision();
    const wrongAudience = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(sub.address)
      .setAudience("https://elsewhere.example/token").setIssuedAt().setExpirationTime("2m").setJti(crypto.randomUUID()).sign(sub.key);
    const res = await requestToken(client, { grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion: wrongAudience });
    expect(res.status).toBe(400);
    expect(res.json.error_description).not.toMatch(/ERR_[A-Z_]+/);
    expect(res.json.error_description).toContain('"aud"');
    expect(res.json.error_description).toContain(`${ORIGIN}/oauth/token`);
  });
});
