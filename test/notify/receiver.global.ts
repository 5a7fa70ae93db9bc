/// <reference path="./provided.d.ts" />
// A callback receiver for the notification tests: a plain Node HTTP server on loopback, started
// once by Vitest's global setup, reachable from the Worker under test like any customer's server.
//   POST /box/NAME      records the request; answers 500 while NAME still has planned failures
//   PUT  /plan/NAME?fail=N
//   GET  /box/NAME      what NAME received: [{ headers, body, status }]
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  status: number;
}

export default async function setup(project: TestProject) {
  const boxes = new Map<string, Received[]>();
  const failures = new Map<string, number>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    const [, kind, name = ""] = url.pathname.split("/");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (kind === "plan" && req.method === "PUT") {
        failures.set(name, Number(url.searchParams.get("fail") ?? 0));
        return res.writeHead(204).end();
      }
      if (kind === "box" && req.method === "GET") {
        return res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(boxes.get(name) ?? []));
      }
      if (kind === "box" && req.method === "POST") {
        const left = failures.get(name) ?? 0;
        const status = left > 0 ? 500 : 200;
        if (left > 0) failures.set(name, left - 1);
        boxes.set(name, [...(boxes.get(name) ?? []), { headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), status }]);
        return res.writeHead(status).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("receiverUrl", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
