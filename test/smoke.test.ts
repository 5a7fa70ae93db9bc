import { describe, expect, it } from "vitest";
import { call, device, registerClient, twin } from "./helpers";

describe("smoke", () => {
  it("twins two devices", async () => {
    const client = await registerClient();
    const p = await device(client);
    const s = await device(client);
    const t = await twin(p, s);
    expect(t.status).toBe("On");
    const rel = await call("GET", `/twinning/v1/acr:Authorization/relationship`, { token: s.token });
    expect(rel.status, rel.text).toBe(200);
    expect(rel.json.relationship.primary).toBe(p.address);
  });
});
