// Data residency (src/residency.ts): each served MNO's subscribers and devices go to the namespace
// option its RESIDENCY setting names. workerd implements location hints but not jurisdictions, so the
// placement decision is tested as such, a location hint on real objects, and a jurisdiction by the
// refusal workerd gives when asked for one (which proves the request went to the jurisdiction's namespace).
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { config, ConfigError } from "../../src/config";
import { deviceStub, mnoOf, placementConflict, placementFor, placementOf, stubIn, subscriberStub } from "../../src/residency";
import { newAddress } from "../helpers";

/** The Worker's own bindings with other variables: config() parses each env object once. */
const withVars = (vars: Record<string, string>) => ({ ...env, ...vars }) as typeof env;
const TWO_MNOS = withVars({
  HOME_MNOS: "001-01,001-02",
  RESIDENCY: JSON.stringify({
    "001-01": { jurisdiction: "eu", prefixes: ["tel:+49"] },
    "001-02": { locationHint: "weur", prefixes: ["tel:+4917", "IMEI:3598"] },
  }),
});

describe("RESIDENCY: parsed and checked in src/config.ts", () => {
  it("accepts a jurisdiction or a location hint per served MNO, with optional prefixes", () => {
    expect(config(TWO_MNOS).RESIDENCY).toEqual({
      "001-01": { jurisdiction: "eu", prefixes: ["tel:+49"] },
      "001-02": { locationHint: "weur", prefixes: ["tel:+4917", "IMEI:3598"] },
    });
    expect(config(withVars({ RESIDENCY: "" })).RESIDENCY).toEqual({});
  });

  it("refuses, naming RESIDENCY and what is wrong: bad JSON, an unknown jurisdiction or hint, both at once, an MNO the gateway does not serve, a bad key", () => {
    for (const [value, why] of [
      ["{", /RESIDENCY: not valid JSON/],
      ['{"001-01":{"jurisdiction":"us"}}', /RESIDENCY\.001-01\.jurisdiction/],
      ['{"001-01":{"locationHint":"mars"}}', /RESIDENCY\.001-01\.locationHint/],
      ['{"001-01":{"jurisdiction":"eu","locationHint":"weur"}}', /RESIDENCY\.001-01: a jurisdiction or a location hint, not both/],
      ['{"999-99":{"jurisdiction":"eu"}}', /RESIDENCY\.999-99: 999-99 is not one of HOME_MNOS \(001-01\)/],
      ['{"eu":{"jurisdiction":"eu"}}', /RESIDENCY\.eu: eu is not one of HOME_MNOS/],
      ['{"001-01":{"jurisdiction":"eu","region":"x"}}', /RESIDENCY\.001-01/],
    ] as const) {
      expect(() => config(withVars({ RESIDENCY: value })), value).toThrow(ConfigError);
      expect(() => config(withVars({ RESIDENCY: value })), value).toThrow(why);
    }
  });
});

describe("the placement decision", () => {
  it("each name goes to its MNO by the longest matching prefix, else to the first served MNO, with that MNO's setting", () => {
    expect(placementFor(TWO_MNOS, "tel:+491701234567")).toEqual({ mno: "001-02", locationHint: "weur", prefixes: ["tel:+4917", "IMEI:3598"] });
    expect(placementFor(TWO_MNOS, "tel:+493012345678")).toMatchObject({ mno: "001-01", jurisdiction: "eu" });
    expect(placementFor(TWO_MNOS, "tel:+15550100")).toMatchObject({ mno: "001-01", jurisdiction: "eu" });
    expect(placementFor(TWO_MNOS, "IMEI:359881030314356")).toMatchObject({ mno: "001-02", locationHint: "weur" });
    expect(placementOf(TWO_MNOS, "001-02")).toMatchObject({ locationHint: "weur" });
    // Without RESIDENCY (the default): the first served MNO, no option, as before.
    expect(placementFor(env, "tel:+491701234567")).toEqual({ mno: "001-01" });
    expect(mnoOf(withVars({ HOME_MNOS: "262-07,262-01" }), "IMEI:1")).toBe("262-07");
  });

  it("a subscriber provisioned for an MNO whose placement its address does not get is refused (a ported number outside its prefixes)", () => {
    expect(placementConflict(TWO_MNOS, "tel:+491701234567", "001-02")).toBeUndefined();
    expect(placementConflict(TWO_MNOS, "tel:+493012345678", "001-01")).toBeUndefined();
    expect(placementConflict(TWO_MNOS, "tel:+493012345678", "001-02")).toMatch(/placed as a subscriber of 001-01 .* not 001-02/);
    // Two MNOs without settings place alike: nothing to refuse.
    expect(placementConflict(withVars({ HOME_MNOS: "001-01,001-02" }), "tel:+15550100", "001-02")).toBeUndefined();
  });
});

describe("the namespace each placement reaches", () => {
  it("a location hint reaches the same object as the plain name (the hint only says where to create it), in workerd", async () => {
    const hinted = withVars({ RESIDENCY: JSON.stringify({ "001-01": { locationHint: "weur" } }) });
    const address = newAddress();
    const key = crypto.getRandomValues(new Uint8Array(32));
    const { created } = await subscriberStub(hinted, address).provision(address, { mcc: "001", mnc: "01" }, key);
    expect(created).toBe(true);
    expect((await env.SUBSCRIBERS.getByName(address).profile())?.address).toBe(address);
    expect((await subscriberStub(hinted, address).profile())?.address).toBe(address);
    const devId = `IMEI:${Date.now()}`;
    expect(await deviceStub(hinted, devId).device()).toBeUndefined();
  });

  it("a jurisdiction goes to that jurisdiction's namespace: workerd, which does not implement jurisdictions, refuses exactly there", async () => {
    const eu = withVars({ RESIDENCY: JSON.stringify({ "001-01": { jurisdiction: "eu" } }) });
    const address = newAddress();
    const refusal = await (async () => {
      try {
        await subscriberStub(eu, address).profile();
        return undefined;
      } catch (err) {
        return String(err);
      }
    })();
    expect(refusal).toMatch(/[Jj]urisdiction/);
    // The plain namespace has no such object: nothing was created outside the jurisdiction.
    expect(await env.SUBSCRIBERS.getByName(address).profile()).toBeUndefined();
    // stubIn asks the namespace for the jurisdiction, as deployed Workers do.
    expect(() => stubIn(env.DEVICES, { jurisdiction: "fedramp" }, "IMEI:1")).toThrow(/[Jj]urisdiction/);
  });
});
