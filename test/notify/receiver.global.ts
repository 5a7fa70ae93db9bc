/// <reference path="./provided.d.ts" />
// A callback receiver for the notification tests: a plain Node HTTP server on loopback, started
// once by Vitest's global setup, reachable from the Worker under test like any customer's server.
//   POST /box/NAME      records the request; answers 500 while NAME still has planned failures
//   PUT  /plan/NAME?fail=N&hold=H   the next N answers are 500; the next H requests are held open
//   POST /release/NAME  answers the held requests (so a test can act while a delivery is in flight)
//   GET  /box/NAME      what NAME received: [{ headers, body, status }] (status 0 while held)
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
  const holds = new Map<string, number>();
  const held = new Map<string, (() => void)[]>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://receiver");
    const [, kind, name = ""] = url.pathname.split("/");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (kind === "plan" && req.method === "PUT") {
        failures.set(name, Number(url.searchParams.get("fail") ?? 0));
        holds.set(name, Number(url.searchParams.get("hold") ?? 0));
        return res.writeHead(204).end();
      }
      if (kind === "release" && req.method === "POST") {
        for (const answer of held.get(name)?.splice(0) ?? []) answer();
        return res.writeHead(204).end();
      }
      if (kind === "box" && req.method === "GET") {
        return res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(boxes.get(name) ?? []));
      }
      if (kind === "box" && req.method === "POST") {
        const left = failures.get(name) ?? 0;
        const status = left > 0 ? 500 : 200;
        if (left > 0) failures.set(name, left - 1);
        const entry: Received = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), status };
        boxes.set(name, [...(boxes.get(name) ?? []), entry]);
        const hold = holds.get(name) ?? 0;
        if (hold > 0) {
          holds.set(name, hold - 1);
          entry.status = 0;
          held.set(name, [...(held.get(name) ?? []), () => ((entry.status = status), res.writeHead(status).end())]);
          return;
        }
        return res.writeHead(status).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  project.provide("receiverUrl", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
