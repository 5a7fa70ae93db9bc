// Network guard for the e2e tests, preloaded into wrangler's Node processes with
// NODE_OPTIONS=--require (see dev-server.ts). Every TCP connection or DNS lookup that is not for
// the loopback interface is refused and reported on stderr with NETWORK_ATTEMPT_MARKER, so a test
// can assert that `wrangler dev` / `wrangler deploy --dry-run` never tried to reach the internet,
// whether or not the machine happens to be online. It covers wrangler, miniflare and esbuild's
// Node side; workerd is a native binary and is not covered (the Worker under test makes no
// outbound fetches).
"use strict";
const net = require("node:net");
const dns = require("node:dns");
const fs = require("node:fs");

const MARKER = "[e2e-network-attempt]";
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|0\.0\.0\.0|::|::ffff:127(\.\d{1,3}){3})$/i;

function isLoopback(host) {
  return host === undefined || host === null || host === "" || LOOPBACK.test(String(host).replace(/^\[|\]$/g, ""));
}

function report(what) {
  try {
    fs.writeSync(2, `${MARKER} pid=${process.pid} ${what}\n`);
  } catch {
    // stderr gone: nothing to report to.
  }
}

/** Where a Socket#connect call goes: { host, port } for TCP, { path } for IPC. */
function destination(args) {
  let first = args[0];
  if (Array.isArray(first)) first = first[0]; // net.connect() passes its normalized [options, cb]
  if (first && typeof first === "object") return { host: first.host, port: first.port, path: first.path };
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    return { host: typeof args[1] === "string" ? args[1] : undefined, port: first };
  }
  if (typeof first === "string") return { path: first };
  return {};
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const d = destination(args);
  if (d.path == null && !isLoopback(d.host)) {
    report(`connect ${d.host}:${d.port}`);
    const err = Object.assign(new Error(`e2e network guard: connection to ${d.host}:${d.port} refused`), { code: "ECONNREFUSED" });
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, options, callback) {
  if (!isLoopback(hostname)) {
    report(`dns.lookup ${hostname}`);
    const cb = typeof options === "function" ? options : callback;
    const err = Object.assign(new Error(`e2e network guard: lookup of ${hostname} refused`), { code: "ENOTFOUND", hostname });
    if (typeof cb === "function") process.nextTick(() => cb(err));
    return {};
  }
  return lookup.apply(this, arguments);
};

const lookupAsync = dns.promises.lookup;
dns.promises.lookup = function guardedPromiseLookup(hostname, ...rest) {
  if (!isLoopback(hostname)) {
    report(`dns.promises.lookup ${hostname}`);
    return Promise.reject(Object.assign(new Error(`e2e network guard: lookup of ${hostname} refused`), { code: "ENOTFOUND", hostname }));
  }
  return lookupAsync.call(this, hostname, ...rest);
};
