// Error texts are meant to be read by people ("the text reads on its own", errors.ts) and end up in
// logs and consoles: a value from the request that they repeat is capped (64 characters, then "…")
// and its control, bidi and invisible characters are written as \uXXXX (Unicode TR36 §2: bidi
// controls make displayed text read other than it is).
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ApiError, echo, neutralise } from "../../src/http/errors";
import { device, ORIGIN, registerClient, requestToken } from "../helpers";

const client = await registerClient();

describe("Error texts cap and neutralise what they echo of the request", () => {
  it("echo: at most 64 characters and an ellipsis, never half a surrogate pair; neutralise escapes controls and bidi characters", () => {
    expect(echo("a".repeat(64))).toBe("a".repeat(64));
    expect(echo("a".repeat(10_000))).toBe(`${"a".repeat(64)}…`);
    expect(echo(`${"a".repeat(63)}😀tail`)).toBe(`${"a".repeat(63)}…`);
    expect(neutralise("\u202Ewatch\u0000\n\u200F\u2066x\u0085")).toBe("\\u202ewatch\\u0000\\u000a\\u200f\\u2066x\\u0085");
    expect(neutralise(neutralise("\u202E"))).toBe("\\u202e");
    expect(neutralise("tel:+15550001 Zoë 名前")).toBe("tel:+15550001 Zoë 名前");
  });

  it("the OMA envelope neutralises every variable, in text and in variables", () => {
    const body = new ApiError(400, "SVC0002", ["name", "x\u202Ey"]).body();
    expect(body.requestError.serviceException).toEqual({ messageId: "SVC0002", text: "Invalid input value for message part name: x\\u202ey", variables: ["name", "x\\u202ey"] });
  });

  it("a 10 000-character twinId comes back as 64 characters and an ellipsis, not twice 10 000", async () => {
    const primary = await device(client);
    const res = await SELF.fetch(`${ORIGIN}/twinning/v1/acr:Authorization/twins/${"a".repeat(10_000)}`, { headers: { Authorization: `Bearer ${primary.token}` } });
    expect(res.status).toBe(404);
    const text = await res.text();
    expect(text.length).toBeLessThan(1000);
    expect(JSON.parse(text).requestError.serviceException.variables).toEqual(["twinId", `${"a".repeat(64)}… not found`]);
  });

  it("a twinId with U+202E (RIGHT-TO-LEFT OVERRIDE) is echoed as \\u202e", async () => {
    const primary = await device(client);
    const res = await SELF.fetch(`${ORIGIN}/twinning/v1/acr:Authorization/twins/%E2%80%AEwatch`, { headers: { Authorization: `Bearer ${primary.token}` } });
    expect(res.status).toBe(404);
    const error = ((await res.json()) as any).requestError.serviceException;
    expect(error.text).toBe("Invalid input value for message part twinId: \\u202ewatch not found");
    expect(error.text).not.toContain("\u202E");
  });

  it("an unknown path of 10 000 characters is echoed in at most 128", async () => {
    const res = await SELF.fetch(`${ORIGIN}/nothing/${"b".repeat(10_000)}`);
    expect(res.status).toBe(404);
    const error = ((await res.json()) as any).requestError.serviceException;
    expect(error.variables[1]).toBe(`GET ${`/nothing/${"b".repeat(10_000)}`.slice(0, 128)}… is not a resource of this API`);
  });

  it("OAuth error_descriptions cap and neutralise too (a requested scope, a repeated parameter's name)", async () => {
    const scope = await requestToken(client, { grant_type: "client_credentials", scope: `\u202E${"s".repeat(5000)}` });
    expect(scope.status).toBe(400);
    expect(scope.json.error_description).toBe(`scope not available to this client for this grant: \\u202e${"s".repeat(63)}…`);
    const repeated = await SELF.fetch(`${ORIGIN}/oauth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: `${"k".repeat(500)}=1&${"k".repeat(500)}=2`,
    });
    expect(((await repeated.json()) as any).error_description).toBe(`parameter ${"k".repeat(64)}… repeated`);
  });
});
