#!/usr/bin/env node
// Latency from a toggle request to its notification on an open WebSocket channel (issue 4):
// a primary toggles a twin N times; the secondary's Notification Channel is a WebSocket.
// Against a running gateway (default `npm start` on http://127.0.0.1:8787):
//   npm run bench:notify -- [BASE_URL] [TOGGLES]
import { randomBytes, randomUUID } from "node:crypto";
import { SignJWT } from "jose";

const base = process.argv[2] ?? "http://127.0.0.1:8787";
const toggles = Number(process.argv[3] ?? 200);
const admin = { Authorization: "Bearer dev-admin-token", "Content-Type": "application/json" };
const enc = encodeURIComponent;

async function api(method, path, { token, body, headers } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { ...(headers ?? {}), ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const suffix = String(Date.now()).slice(-7);
const client = await api("POST", "/admin/v1/clients", { headers: admin, body: { name: "latency probe", scopes: ["twinning:primary", "twinning:secondary"] } });
async function device(n) {
  const address = `tel:+1777${suffix}${n}`;
  const key = randomBytes(32);
  await api("PUT", `/admin/v1/subscribers/${enc(address)}`, { headers: admin, body: { mno: { mcc: "001", mnc: "01" }, deviceKey: key.toString("base64url") } });
  const assertion = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setIssuer(client.client_id).setSubject(address)
    .setAudience(`${base}/oauth/token`).setIssuedAt().setExpirationTime("2m").setJti(randomUUID()).sign(key);
  const res = await fetch(`${base}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
  });
  return { address, token: (await res.json()).access_token };
}

const [primary, secondary] = [await device(1), await device(2)];
const code = (await api("POST", `/twinning/v1/${enc(secondary.address)}/activationCodes`, { token: secondary.token, body: {} })).activationCode.code;
await api("POST", `/twinning/v1/${enc(primary.address)}/twins`, { token: primary.token, body: { activationCode: code, name: "probe" } });
const { notificationChannel: channel } = await api("POST", `/notificationchannel/v1/${enc(secondary.address)}/channels`, { token: secondary.token, body: { notificationChannel: { channelType: "WebSockets" } } });
await api("POST", `/twinning/v1/${enc(secondary.address)}/subscriptions`, { token: secondary.token, body: { subscription: { callbackReference: { notifyURL: channel.callbackURL } } } });

const ws = new WebSocket(channel.channelData.channelURL);
await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
let waiting;
ws.onmessage = (e) => waiting?.(JSON.parse(e.data).twinningNotification);

const latencies = [];
for (let i = 0; i < toggles; i++) {
  const status = i % 2 === 0 ? "Off" : "On";
  const arrived = new Promise((resolve) => (waiting = (n) => n.status === status && resolve()));
  const t0 = performance.now();
  await api("PUT", `/twinning/v1/${enc(primary.address)}/twins/probe/status`, { token: primary.token, body: { status } });
  await arrived;
  latencies.push(performance.now() - t0);
}
ws.close();
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
console.log(JSON.stringify({ toggles, medianMs: +q(0.5).toFixed(2), p99Ms: +q(0.99).toFixed(2), minMs: +latencies[0].toFixed(2), maxMs: +latencies.at(-1).toFixed(2) }));
