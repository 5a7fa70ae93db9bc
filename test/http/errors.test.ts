import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { EXCEPTION_TEXT, fillTemplate } from "../../src/http/errors";
import { call, device, enc, ORIGIN, registerClient } from "../helpers";

const client = await registerClient();
const p = await device(client);
const twins = `/twinning/v1/${enc(p.address)}/twins`;

describe("the OMA error text is its template filled (issue 18)", () => {
  it("each %n takes the n-th variable; variables the template has no place for follow after a colon; none left out", () => {
    expect(fillTemplate(EXCEPTION_TEXT.SVC0002, ["sessionId", "not a session id"])).toBe("Invalid input value for message part sessionId: not a session id");
    expect(fillTemplate(EXCEPTION_TEXT.SVC0003, ["uiMode", "background, informative"])).toBe("Invalid input value for message part uiMode, valid values are background, informative");
    expect(fillTemplate(EXCEPTION_TEXT.POL0001, ["too many probes; retry after 60 s"])).toBe("A policy error occurred. Error code is too many probes; retry after 60 s");
    expect(fillTemplate(EXCEPTION_TEXT.SVC1014, [])).toBe("Undefined twinning role");
    for (const id of Object.keys(EXCEPTION_TEXT) as (keyof typeof EXCEPTION_TEXT)[]) expect(fillTemplate(EXCEPTION_TEXT[id], ["a", "b"])).not.toMatch(/%\d/);
  });
});

describe("Bad input gets a clear error in the OMA envelope and changes nothing", () => {
  it("malformed JSON is 400 SVC0002 naming the body", async () => {
    const res = await call("POST", twins, { token: p.token, body: '{"activationCode": "12' });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({
      requestError: { serviceException: { messageId: "SVC0002", text: "Invalid input value for message part body: malformed JSON", variables: ["body", "malformed JSON"] } },
    });
  });

  it("a wrong type is 400 SVC0002 naming the field and what was expected", async () => {
    const res = await call("POST", twins, { token: p.token, body: { activationCode: 123456 } });
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables[0]).toBe("activationCode");
    const status = await call("PUT", `${twins}/x/status`, { token: p.token, body: { status: "on" } });
    expect(status.status).toBe(400);
    expect(status.json.requestError.serviceException.variables[0]).toBe("status");
  });

  it("a missing field and an unknown field are each named", async () => {
    expect((await call("POST", twins, { token: p.token, body: {} })).json.requestError.serviceException.variables[0]).toBe("activationCode");
    const extra = await call("POST", twins, { token: p.token, body: { activationCode: "123456", colour: "red" } });
    expect(extra.status).toBe(400);
    expect(extra.json.requestError.serviceException.variables.join(" ")).toMatch(/colour/);
  });

  it("a JSON body that is not an object is refused", async () => {
    for (const body of ["[]", "null", '"x"', "42"]) {
      const res = await call("POST", twins, { token: p.token, body });
      expect(res.status, body).toBe(400);
    }
  });

  it("an oversize body is 413 before it is read", async () => {
    const res = await call("POST", twins, { token: p.token, body: JSON.stringify({ activationCode: "123456", name: "x".repeat(70_000) }) });
    expect(res.status).toBe(413);
    expect(res.json.requestError.serviceException.variables[0]).toBe("body");
  });

  it("a body that is not JSON is 415", async () => {
    const res = await call("POST", twins, { token: p.token, body: "activationCode=123456", headers: { "Content-Type": "application/x-www-form-urlencoded" } });
    expect(res.status).toBe(415);
    expect(res.json.requestError.serviceException.variables[0]).toBe("Content-Type");
  });

  it("an unknown path is 404 in the envelope", async () => {
    const res = await call("GET", "/twinning/v2/whatever", { token: p.token });
    expect(res.status).toBe(404);
    expect(res.json.requestError.serviceException.messageId).toBe("SVC0002");
  });

  it("a userId that is neither tel: nor acr:Authorization is 400 naming userId", async () => {
    const res = await call("GET", `/twinning/v1/${enc("sip:bob@example.com")}/twins`, { token: p.token });
    expect(res.status).toBe(400);
    expect(res.json.requestError.serviceException.variables[0]).toBe("userId");
  });

  it("every response carries x-correlator: echoed when given, generated otherwise", async () => {
    const echoed = await call("GET", twins, { token: p.token, headers: { "x-correlator": "abc-123" } });
    expect(echoed.headers.get("x-correlator")).toBe("abc-123");
    const generated = await call("GET", twins, { token: p.token });
    expect(generated.headers.get("x-correlator")).toMatch(/^[0-9a-f-]{36}$/);
    const onError = await call("POST", twins, { token: p.token, body: "{", headers: { "x-correlator": "err-1" } });
    expect(onError.headers.get("x-correlator")).toBe("err-1");
    const unsafe = await SELF.fetch(`${ORIGIN}${twins}`, { headers: { Authorization: `Bearer ${p.token}`, "x-correlator": "a b\tc" } });
    expect(unsafe.headers.get("x-correlator")).not.toBe("a b\tc");
  });

  it("refused requests change nothing", async () => {
    const before = await call("GET", twins, { token: p.token });
    await call("POST", twins, { token: p.token, body: "{" });
    await call("POST", twins, { token: p.token, body: { activationCode: "12345" } });
    expect((await call("GET", twins, { token: p.token })).json).toEqual(before.json);
  });
});
