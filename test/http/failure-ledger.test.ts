// The failure ledger (src/http/failure-ledger.ts): who a guesser is, and how its count and lock run in time.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { failureAddress, FailureLedger } from "../../src/http/failure-ledger";

describe("Failure ledger", () => {
  it("an IPv4 address is itself, also when mapped into IPv6; an IPv6 address counts by its /64, however it is written", () => {
    expect(failureAddress("192.0.2.7")).toBe("192.0.2.7");
    expect(failureAddress("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(failureAddress("2001:db8:0:1:2:3:4:5")).toBe("2001:db8:0:1::/64");
    expect(failureAddress("2001:0DB8:0000:0001::9")).toBe("2001:db8:0:1::/64");
    expect(failureAddress("[2001:db8::1]")).toBe("2001:db8:0:0::/64");
    expect(failureAddress("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(failureAddress("::1")).toBe("0:0:0:0::/64");
  });

  it("counts failures in a window, locks at the limit for lockSeconds, then forgets the guesser", async () => {
    await runInDurableObject(env.AUDIT.getByName("ledger-unit-test"), async (_, state) => {
      const ledger = new FailureLedger(state.storage.sql, "admin_auth_failure");
      const policy = { limit: 3, lockSeconds: 60 };
      const t0 = 1_000_000_000_000;
      expect(ledger.failed("a", policy, t0)).toEqual({ locked: false });
      expect(ledger.failed("a", policy, t0 + 1_000)).toEqual({ locked: false });
      // Past the window: the count starts again.
      expect(ledger.failed("a", policy, t0 + 61_000)).toEqual({ locked: false });
      expect(ledger.failed("a", policy, t0 + 62_000)).toEqual({ locked: false });
      expect(ledger.failed("a", policy, t0 + 63_000)).toEqual({ lockedFor: 60, locked: true });
      expect(ledger.lockedFor("a", t0 + 100_000)).toBe(23);
      expect(ledger.lockedFor("b", t0 + 100_000)).toBeUndefined();
      expect(ledger.failed("a", policy, t0 + 100_000)).toEqual({ lockedFor: 23, locked: false });
      expect(ledger.locks(t0 + 100_000)).toEqual({ a: t0 + 123_000 });
      expect(ledger.lockedFor("a", t0 + 123_000)).toBeUndefined();
      // After the lock, a new window with a count of one.
      expect(ledger.failed("a", policy, t0 + 124_000)).toEqual({ locked: false });
      expect(state.storage.sql.exec("SELECT failures FROM admin_auth_failure WHERE guesser = 'a'").one().failures).toBe(1);
    });
  });
});
