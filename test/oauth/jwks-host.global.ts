/// <reference path="./provided.d.ts" />
// A JWKS host for the federation-hook tests: a plain Node HTTP server on loopback, standing in for a
// peer operator's /oauth/jwks, started once by Vitest's global setup.
//   PUT /jwks/NAME   sets the key set NAME serves (the body, a JWK Set)
//   GET /jwks/NAME   the key set, as a peer publishes it
//   GET /fetches/NAME   how many times /jwks/NAME was fetched
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

export default async function setup(project: TestProject) {
  const sets = new Map<string, string>();
  const fetches = new Map<string, number>();
  const server = createServer((req, res) => {
    const [, kind, name = ""] = new URL(req.url ?? "/", "http://jwks").pathname.split("/");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (kind === "jwks" && req.method === "PUT") {
        sets.set(name, Buffer.concat(chunks).toString("utf8"));
        return res.writeHead(204).end();
      }
      if (kind === "jwks" && req.method === "GET" && sets.has(name)) {
        fetches.set(name, (fetches.get(name) ?? 0) + 1);
        return res.writeHead(200, { "Content-Type": "application/jwk-set+json" }).end(sets.get(name));
      }
      if (kind === "fetches" && req.method === "GET") return res.writeHead(200, { "Content-Type": "application/json" }).end(String(fetches.get(name) ?? 0));
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("jwksHostUrl", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
