// Callback URLs are checked before they are stored or used: the gateway must never become a way
// into the operator's own network (SSRF). https only; no credentials in the URL; no loopback,
// private, link-local (cloud metadata), CGNAT, multicast or otherwise non-public literal addresses,
// and no internal names. Local development may allow http on loopback (CALLBACK_ALLOW_LOOPBACK).
// Workers cannot resolve names themselves; Cloudflare's fetch does not reach private networks from
// a Worker, which covers names that resolve to private addresses (DNS rebinding).

export interface CallbackPolicy {
  allowLoopback: boolean;
}

/** Why `raw` may not be a callback URL, or undefined when it may. */
export function callbackUrlProblem(raw: string, policy: CallbackPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "not an absolute URL";
  }
  if (url.username || url.password) return "credentials are not allowed in the URL";
  const host = url.hostname.toLowerCase();
  const loopback = isLoopback(host);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback && policy.allowLoopback)) {
    return policy.allowLoopback ? "https required (http only on loopback)" : "https required";
  }
  if (loopback) return policy.allowLoopback ? undefined : "loopback addresses are not allowed";
  if (host === "" || /(^|\.)(localhost|local|internal|localdomain|home\.arpa)$/.test(host) || !host.includes(".") && !host.startsWith("[")) {
    return "internal host names are not allowed";
  }
  const v4 = parseIPv4(host);
  if (v4 && !publicIPv4(v4)) return "private, link-local or reserved addresses are not allowed";
  if (host.startsWith("[")) {
    const problem = ipv6Problem(host.slice(1, -1));
    if (problem) return problem;
  }
  return undefined;
}

function isLoopback(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost") || host === "[::1]") return true;
  const v4 = parseIPv4(host);
  return !!v4 && v4[0] === 127;
}

/** The WHATWG URL parser already turns 0x7f.1, 2130706433 and 017700000001 into dotted decimal. */
function parseIPv4(host: string): number[] | undefined {
  const m = host.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

function publicIPv4([a, b]: number[]): boolean {
  if (a === undefined || b === undefined) return false;
  if (a === 0 || a === 10 || a === 127) return false; // this network, private, loopback
  if (a === 100 && b >= 64 && b <= 127) return false; // CGNAT (RFC 6598)
  if (a === 169 && b === 254) return false; // link-local, cloud metadata
  if (a === 172 && b >= 16 && b <= 31) return false; // private
  if (a === 192 && b === 168) return false; // private
  if (a === 192 && b === 0) return false; // IETF protocol assignments, TEST-NET-1
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a >= 224) return false; // multicast, reserved, broadcast
  return true;
}

function ipv6Problem(addr: string): string | undefined {
  const a = addr.toLowerCase();
  if (a === "::" || a === "::1") return "loopback or unspecified addresses are not allowed";
  // IPv4-mapped / translated forms (::ffff:a.b.c.d, which the URL parser writes as hex) hide v4 addresses.
  const mapped = a.match(/^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/);
  if (mapped) {
    const hi = parseInt(mapped[1]!, 16);
    const lo = parseInt(mapped[2]!, 16);
    if (!publicIPv4([hi >> 8, hi & 255, lo >> 8, lo & 255])) return "private, link-local or reserved addresses are not allowed";
    return undefined;
  }
  if (/^f[cd]/.test(a)) return "unique local addresses are not allowed";
  if (/^fe[89ab]/.test(a)) return "link-local addresses are not allowed";
  if (/^ff/.test(a)) return "multicast addresses are not allowed";
  if (a.startsWith("64:ff9b:") || a.startsWith("::ffff:")) return "translated IPv4 addresses are not allowed";
  return undefined;
}
