#!/usr/bin/env node
// A loopback webhook receiver for the gateway's notifications, with the signature check a real receiver
// makes: x-notification-signature = t=<unix>,v1=<hex HMAC-SHA256(signingSecret, t + "." + body)>, and t
// within 5 minutes. Prints one line per delivery ("verified" or why not) and answers 204 (401 if forged).
//   node scripts/webhook-receiver.mjs PORT SIGNING_SECRET [COUNT [SECONDS]]
// With COUNT it exits 0 after COUNT verified deliveries, or 1 if they have not all come within SECONDS (default 30).
// Local development only: the gateway delivers to http on loopback when CALLBACK_ALLOW_LOOPBACK=true (.dev.vars).
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const [port, secret, count, seconds] = process.argv.slice(2);
if (!port || !secret) {
  console.error("usage: webhook-receiver.mjs PORT SIGNING_SECRET [COUNT]");
  process.exit(2);
}
let left = count ? Number(count) : Infinity;

export function verify(header, body, key, now = Date.now() / 1000) {
  const parts = Object.fromEntries(String(header ?? "").split(",").map((kv) => kv.split("=", 2)));
  if (!parts.t || !parts.v1) return "no signature";
  if (Math.abs(now - Number(parts.t)) > 300) return "stale timestamp";
  const mac = createHmac("sha256", key).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1, "hex");
  return given.length === mac.length && timingSafeEqual(given, mac) ? "verified" : "bad signature";
}

const server = createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8").on("data", (c) => (body += c)).on("end", () => {
    const verdict = verify(req.headers["x-notification-signature"], body, secret);
    console.log(`${verdict} ${req.headers["x-notification-id"] ?? "-"} ${body}`);
    res.writeHead(verdict === "verified" ? 204 : 401).end();
    if (verdict === "verified" && --left <= 0) server.close();
  });
});
if (count) {
  setTimeout(() => {
    console.error(`only ${Number(count) - left} of ${count} deliveries within ${seconds ?? 30} s`);
    process.exit(1);
  }, Number(seconds ?? 30) * 1000).unref();
}
server.listen(Number(port), "127.0.0.1", () => console.error(`listening on http://127.0.0.1:${port}/`));
