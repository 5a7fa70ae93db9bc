import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { config, ConfigError } from "../src/config";

describe("Configuration (src/config.ts): every variable parsed and validated in one place", () => {
  it("reads wrangler.toml's and .dev.vars' values, parsed to their types", () => {
    const c = config(env);
    expect(c.ACTIVATION_CODE_TTL_SECONDS).toBe(300);
    expect(c.ACCESS_TOKEN_TTL_SECONDS).toBe(3600);
    expect(c.HOME_MNOS).toEqual([{ mcc: "001", mnc: "01" }]);
    expect(c.SUBSCRIBER_IDENTIFICATION).toBe("assertion");
    expect(c.CALLBACK_ALLOW_LOOPBACK).toBe(true);
    expect(c.ADMIN_TOKEN).toBe("dev-admin-token");
    expect(c.PRIMARY_SERVICES).toEqual({});
  });

  it("an unset or empty variable takes its default", () => {
    const c = config({ ACTIVATION_CODE_TTL_SECONDS: "", HOME_MNOS: " " });
    expect(c.ACTIVATION_CODE_TTL_SECONDS).toBe(300);
    expect(c.NOTIFY_RETRY_WINDOW_SECONDS).toBe(86_400);
    expect(c.HOME_MNOS).toEqual([{ mcc: "001", mnc: "01" }]);
    expect(c.CALLBACK_ALLOW_LOOPBACK).toBe(false);
    expect(c.ISSUER).toBeUndefined();
    expect(c.ADMIN_TOKEN).toBeUndefined();
    expect(c.TRUSTED_SUBSCRIBER_HEADER).toBe("x-operator-subscriber");
  });

  it("parses lists, flags, URLs and JSON", () => {
    const c = config({
      HOME_MNOS: "001-01, 310-260",
      PEER_ALLOW_LOOPBACK: "true",
      ISSUER: "https://api.operator.example",
      TRUSTED_SUBSCRIBER_HEADER: "X-MSISDN",
      PRIMARY_SERVICES: '{"messaging":"https://api.operator.example/messaging/v1"}',
    });
    expect(c.HOME_MNOS).toEqual([{ mcc: "001", mnc: "01" }, { mcc: "310", mnc: "260" }]);
    expect(c.PEER_ALLOW_LOOPBACK).toBe(true);
    expect(c.ISSUER).toBe("https://api.operator.example");
    expect(c.TRUSTED_SUBSCRIBER_HEADER).toBe("x-msisdn");
    expect(c.PRIMARY_SERVICES).toEqual({ messaging: "https://api.operator.example/messaging/v1" });
  });

  it("a bad value is refused with an error naming every bad variable, not replaced by a default", () => {
    const bad = {
      ACTIVATION_CODE_TTL_SECONDS: "five minutes",
      HOME_MNOS: "001-01,0011",
      CALLBACK_ALLOW_LOOPBACK: "yes",
      ISSUER: "not a url",
      SUBSCRIBER_IDENTIFICATION: "password",
      PRIMARY_SERVICES: "{messaging:",
      ADMIN_TOKEN: "s3cret-value",
    };
    let error: unknown;
    try {
      config(bad);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ["ACTIVATION_CODE_TTL_SECONDS", "HOME_MNOS", "CALLBACK_ALLOW_LOOPBACK", "ISSUER", "SUBSCRIBER_IDENTIFICATION", "PRIMARY_SERVICES"]) {
      expect(message).toContain(name);
    }
    expect(message).toContain('"0011" is not MCC-MNC');
    // values, secrets above all, stay out of the message
    expect(message).not.toContain("s3cret-value");
    expect(() => config({ ACCESS_TOKEN_TTL_SECONDS: "0" })).toThrow(/ACCESS_TOKEN_TTL_SECONDS/);
  });

  it("parses once per env object", () => {
    const e = { ACTIVATION_CODE_TTL_SECONDS: "60" };
    const first = config(e);
    e.ACTIVATION_CODE_TTL_SECONDS = "120";
    expect(config(e)).toBe(first);
    expect(config({ ACTIVATION_CODE_TTL_SECONDS: "120" }).ACTIVATION_CODE_TTL_SECONDS).toBe(120);
  });
});
