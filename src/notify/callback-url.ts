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
  // "localhost." and "printer.local." name the same hosts as without the final dot (an absolute
  // DNS name): match the name the resolver will look up.
  const host = url.hostname.toLowerCase().replace(/\.+$/, "");
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

function publicIPv4([a, b, c]: number[]): boolean {
  if (a === undefined || b === undefined || c === undefined) return false;
  if (a === 0 || a === 10 || a === 127) return false; // this network, private, loopback
  if (a === 100 && b >= 64 && b <= 127) return false; // CGNAT (RFC 6598)
  if (a === 169 && b === 254) return false; // link-local, cloud metadata
  if (a === 172 && b >= 16 && b <= 31) return false; // private
  if (a === 192 && b === 168) return false; // private
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return false; // IETF protocol assignments, TEST-NET-1 (RFC 5737)
  if (a === 192 && b === 88 && c === 99) return false; // 6to4 relay anycast (RFC 7526)
  if (a === 198 && (b === 18 || b === 19)) return false; // benchmarking
  if (a === 198 && b === 51 && c === 100) return false; // TEST-NET-2
  if (a === 203 && b === 0 && c === 113) return false; // TEST-NET-3
  if (a >= 224) return false; // multicast, reserved, broadcast
  return true;
}

/** The eight 16-bit groups of an IPv6 address as the URL parser writes it (compressed, hex, no dotted tail). */
function ipv6Groups(addr: string): number[] | undefined {
  const [head, tail, ...rest] = addr.split("::");
  if (rest.length) return undefined;
  const parse = (part: string | undefined) => (part ? part.split(":").map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

function ipv6Problem(addr: string): string | undefined {
  const g = ipv6Groups(addr.toLowerCase());
  if (!g) return "not an IPv6 address";
  const v4 = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255];
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number];
  const zeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroTo(7) && g7 <= 1) return "loopback or unspecified addresses are not allowed";
  // ::a.b.c.d (IPv4-compatible, deprecated) and ::ffff:a.b.c.d (IPv4-mapped) hide v4 addresses.
  if (zeroTo(6)) return "IPv4-compatible addresses are not allowed";
  if (zeroTo(5) && g5 === 0xffff) {
    return publicIPv4(v4(g6, g7)) ? undefined : "private, link-local or reserved addresses are not allowed";
  }
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return "translated IPv4 addresses are not allowed"; // ::ffff:0:a.b.c.d (RFC 2765)
  if (g0 === 0x64 && g1 === 0xff9b) return "translated IPv4 addresses are not allowed"; // NAT64 (RFC 6052, 8215)
  if (g0 === 0x2002) return "6to4 addresses are not allowed"; // 2002::/16 embeds an IPv4 address
  if (g0 === 0x2001 && g1 === 0) return "Teredo addresses are not allowed"; // 2001::/32 embeds an IPv4 address
  if (g0 === 0x2001 && g1 === 0xdb8) return "documentation addresses are not allowed";
  if (g0 === 0x100 && g1 === 0 && g2 === 0 && g3 === 0) return "discard-only addresses are not allowed"; // 100::/64
  if ((g0 & 0xfe00) === 0xfc00) return "unique local addresses are not allowed"; // fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return "link-local addresses are not allowed"; // fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return "site-local addresses are not allowed"; // fec0::/10 (deprecated, still routed internally)
  if ((g0 & 0xff00) === 0xff00) return "multicast addresses are not allowed";
  return undefined;
}
