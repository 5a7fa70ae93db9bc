import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers";

describe("the checks every request passes (src/http/app.ts)", () => {
  it("a generated x-correlator is UUID-shaped and new on every response", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await SELF.fetch(`${ORIGIN}/twinning/v1/acr:Authorization/twins`);
      expect(res.status).toBe(401);
      const id = res.headers.get("x-correlator")!;
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(5);
  });

  it("malformed percent-encoding is 400 SVC0002 naming the part, and ASCII escapes pass the check", async () => {
    const path = await SELF.fetch(`${ORIGIN}/twinning/v1/tel%3A%2B1%E0%A4%A/twins`);
    expect(path.status).toBe(400);
    expect(((await path.json()) as { requestError: { serviceException: { variables: string[] } } }).requestError.serviceException.variables).toEqual(["path", "malformed percent-encoding"]);
    const query = await SELF.fetch(`${ORIGIN}/twinning/v1/acr:Authorization/twins?x=%ZZ`);
    expect(query.status).toBe(400);
    expect(((await query.json()) as { requestError: { serviceException: { variables: string[] } } }).requestError.serviceException.variables).toEqual(["query", "malformed percent-encoding"]);
    // Only ASCII escapes: nothing to refuse here; the route's own check answers (no token).
    expect((await SELF.fetch(`${ORIGIN}/twinning/v1/tel%3A%2B15550001/twins`)).status).toBe(401);
  });

  it("a body under a JSON-only API must be JSON (415), wherever the prefix matches as /prefix/* does; a GET passes", async () => {
    for (const path of ["/twinning/v1/acr:Authorization/twins", "/twinning", "/admin/v1/subscribers"]) {
      const res = await SELF.fetch(`${ORIGIN}${path}`, { method: "POST", body: "x=1", headers: { "Content-Type": "text/plain" } });
      expect(res.status, path).toBe(415);
    }
    expect((await SELF.fetch(`${ORIGIN}/twinning/v1/acr:Authorization/twins`)).status).toBe(401);
  });
});
