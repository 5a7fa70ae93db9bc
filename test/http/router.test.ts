import { describe, expect, it } from "vitest";
import { TrieRouter } from "hono/router/trie-router";
import type { Result } from "hono/router";
import app from "../../src/index";
import { PrefixRouter } from "../../src/http/router";
import { requestPath } from "../../src/http/app";

/** The handlers of a match and their params (keys sorted: routers differ only in their order), whatever the router's result shape. */
function matched(r: Result<number>): string {
  const [list, stash] = r as [[number, Record<string, string | number>][], string[] | undefined];
  const params = (p: Record<string, string | number>) =>
    Object.fromEntries(Object.entries(p).map(([k, v]) => [k, stash ? stash[v as number] : v]).sort(([a], [b]) => String(a).localeCompare(String(b))));
  return JSON.stringify(list.map(([h, p]) => [h, params(p)]));
}

describe("PrefixRouter", () => {
  it("matches every method and path as one router over all of the gateway's routes does", () => {
    const prefix = new PrefixRouter<number>();
    const trie = new TrieRouter<number>();
    app.routes.forEach((route, i) => {
      prefix.add(route.method, route.path, i);
      trie.add(route.method, route.path, i);
    });
    const paths = new Set(["/", "//", "/x", "/twinning", "/twinning/", "/twinningx", "//twinning/v1", "/Twinning/v1/a/twins", "/docs", "/docs/assets/x.js", "/twinning%2Fv1/a"]);
    for (const route of app.routes) {
      const filled = route.path.replace(/:[A-Za-z]+(\{[^}]*\})?\??/g, "tel:+15550001").replace(/\*/g, "any/thing");
      for (const p of [filled, `${filled}/`, `${filled}/extra`, filled.replace("tel:+15550001", "new")]) paths.add(p);
    }
    let probes = 0;
    for (const path of paths) {
      for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]) {
        expect(matched(prefix.match(method, path)), `${method} ${path}`).toBe(matched(trie.match(method, path)));
        probes++;
      }
    }
    expect(probes).toBeGreaterThan(1000);
  });
});

describe("requestPath", () => {
  it("is the URL's path, as new URL(...).pathname gives it, for every shape of request URL", () => {
    for (const url of [
      "http://gateway.test/twinning/v1/tel%3A%2B1555/twins",
      "https://gw.example:8443/a/b?c=d//e",
      "http://127.0.0.1:8787/",
      "https://gw.example/?q=http://x/y",
      "http://[::1]:8787/docs#frag?x",
      "http://gw.example/a%20b/c?d#e",
    ]) {
      expect(requestPath({ req: { url } })).toBe(new URL(url).pathname);
    }
  });
});
