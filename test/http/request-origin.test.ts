import { describe, expect, it } from "vitest";
import { requestOrigin } from "../../src/http/app";

describe("requestOrigin", () => {
  it("is the URL's origin, as new URL(...).origin gives it, for every shape of request URL", () => {
    for (const url of [
      "http://gateway.test/twinning/v1/tel%3A%2B1555/twins",
      "https://gw.example:8443/a/b?c=d//e",
      "http://127.0.0.1:8787/",
      "https://gw.example/?q=http://x/y",
      "http://[::1]:8787/docs",
    ]) {
      expect(requestOrigin({ req: { url } })).toBe(new URL(url).origin);
    }
  });
});
