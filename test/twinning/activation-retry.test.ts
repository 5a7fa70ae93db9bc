// A primary whose activation committed but whose answer was lost (a dropped connection, a timeout)
// retries with the same code. HLF-TE-005 makes the code one-time, so the retry cannot twin again;
// it gets the twin its first request made (201, the same twin), and it is not counted as a failed
// guess towards the 5-failure lockout. Only the primary that used the code, and only while the code
// would still have been valid, sees this: anyone else presenting a used code is refused as before.
import { describe, expect, it } from "vitest";
import { activate, call, device, enc, registerClient, requestCode } from "../helpers";

describe("Retrying an activation (HLF-PD-001, HLF-TE-005)", () => {
  it("a retry with the same code gets the same twin (201), as often as it is retried, and no failed guess is counted", async () => {
    const client = await registerClient();
    const [primary, secondary] = [await device(client), await device(client)];
    const code = (await requestCode(secondary)).json.activationCode.code;
    const first = await activate(primary, code, "watch");
    expect(first.status).toBe(201);
    for (let i = 0; i < 7; i++) {
      const again = await activate(primary, code, "watch");
      expect(again.status, again.text).toBe(201);
      expect(again.json.twin).toEqual(first.json.twin);
    }
    // Seven retries, beyond the lockout of five failures: none was a failure, so a wrong code is 400, not 429.
    const wrong = await activate(primary, "ZZZZZZZZ", "other");
    expect(wrong.status).toBe(400);
    const list = await call("GET", `/twinning/v1/${enc(primary.address)}/twins`, { token: primary.token });
    expect(list.json.twinList.twin).toHaveLength(1);
  });

  it("concurrent requests with one code make one twin: each answer is that twin or a refusal, and a later retry gets it", async () => {
    const client = await registerClient();
    const [primary, secondary] = [await device(client), await device(client)];
    const code = (await requestCode(secondary)).json.activationCode.code;
    const answers = await Promise.all(Array.from({ length: 4 }, () => activate(primary, code, "car")));
    const made = answers.filter((a) => a.status === 201);
    expect(made.length).toBeGreaterThanOrEqual(1);
    expect(answers.every((a) => a.status === 201 || a.status === 400)).toBe(true);
    const twin = made[0]!.json.twin;
    for (const a of made) expect(a.json.twin).toEqual(twin);
    const retry = await activate(primary, code, "car");
    expect(retry.status).toBe(201);
    expect(retry.json.twin).toEqual(twin);
  });

  it("another primary presenting the used code is refused as for any used code", async () => {
    const client = await registerClient();
    const [primary, other, secondary] = [await device(client), await device(client), await device(client)];
    const code = (await requestCode(secondary)).json.activationCode.code;
    expect((await activate(primary, code)).status).toBe(201);
    const refused = await activate(other, code);
    expect(refused.status).toBe(400);
    expect(refused.json.requestError.serviceException.variables).toEqual(["activationCode", "unknown, used or expired activation code"]);
  });

  it("once the twin is deactivated, a retry of its code is an ordinary used code: refused, and no twin comes back", async () => {
    const client = await registerClient();
    const [primary, secondary] = [await device(client), await device(client)];
    const code = (await requestCode(secondary)).json.activationCode.code;
    const made = await activate(primary, code);
    expect(made.status).toBe(201);
    const gone = await call("DELETE", `/twinning/v1/${enc(primary.address)}/twins/${enc(secondary.address)}`, { token: primary.token });
    expect(gone.status).toBe(204);
    expect((await activate(primary, code)).status).toBe(400);
  });
});
