// HTTP client of the simulated device: HTTP Basic (RFC 7617) or Digest (RFC 7616, SHA-256, qop=auth)
// with the DM account's credentials. Digest answers the server's challenge, then keeps using its nonce
// with a growing nonce count (nc), and takes a fresh nonce when the server says stale=true.

export type Fetcher = (input: string, init?: RequestInit) => Promise<Response>;

export type AuthScheme = "basic" | "digest" | "none";

export interface Credentials {
  user: string;
  password: string;
}

export interface DigestChallenge {
  realm: string;
  nonce: string;
  qop?: string;
  algorithm?: string;
  opaque?: string;
  stale?: boolean;
}

export interface AuthRequest {
  method: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

const encoder = new TextEncoder();

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The RFC 7616 HA1 with SHA-256: what a device derives from its credentials (also the package 0 key). */
export function digestHa1(user: string, realm: string, password: string): Promise<string> {
  return sha256Hex(`${user}:${realm}:${password}`);
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The Digest challenge of a WWW-Authenticate header (several challenges may share one header). */
export function parseDigestChallenge(header: string | null): DigestChallenge | undefined {
  if (!header) return undefined;
  const at = header.search(/(^|,\s*)Digest\s/i);
  if (at < 0) return undefined;
  const rest = header.slice(header.indexOf("Digest", at) + "Digest".length);
  const params: Record<string, string> = {};
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest))) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : m[3]!;
    // The next challenge (", Basic realm=…") starts with a bare token, not a parameter.
    if (/^\s*[A-Za-z]+\s+[A-Za-z]/.test(rest.slice(re.lastIndex))) break;
  }
  if (!params.realm || !params.nonce) return undefined;
  return {
    realm: params.realm,
    nonce: params.nonce,
    qop: params.qop,
    algorithm: params.algorithm,
    opaque: params.opaque,
    stale: params.stale?.toLowerCase() === "true",
  };
}

export class AuthClient {
  private challenge: DigestChallenge | undefined;
  private nonceCount = 0;
  /** Every response status this client saw, in order (401 challenges included). */
  readonly statuses: number[] = [];

  constructor(
    private readonly fetcher: Fetcher,
    readonly credentials: Credentials,
    public scheme: AuthScheme = "digest",
  ) {}

  /** A request with credentials; a 401 with a (new or stale) Digest challenge is answered once more. */
  async request(url: string, init: AuthRequest): Promise<Response> {
    let response = await this.send(url, init, await this.authorization(url, init.method));
    if (response.status !== 401 || this.scheme !== "digest") return response;
    const challenge = parseDigestChallenge(response.headers.get("WWW-Authenticate"));
    if (!challenge) return response;
    const hadNonce = this.challenge?.nonce;
    this.challenge = challenge;
    this.nonceCount = 0;
    // A refused response with the nonce we already used and no stale flag: the credentials are wrong.
    if (hadNonce === challenge.nonce && !challenge.stale) return response;
    await response.arrayBuffer();
    response = await this.send(url, init, await this.authorization(url, init.method));
    return response;
  }

  /** The request without any Authorization header (what a first browser request looks like). */
  async anonymous(url: string, init: AuthRequest): Promise<Response> {
    return this.send(url, init, undefined);
  }

  private async send(url: string, init: AuthRequest, authorization: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (authorization) headers.Authorization = authorization;
    const body = init.body === undefined ? undefined : typeof init.body === "string" ? init.body : init.body.slice().buffer;
    const response = await this.fetcher(url, { method: init.method, headers, body, redirect: "manual" });
    this.statuses.push(response.status);
    return response;
  }

  private async authorization(url: string, method: string): Promise<string | undefined> {
    const { user, password } = this.credentials;
    if (this.scheme === "none") return undefined;
    if (this.scheme === "basic") return `Basic ${btoa(String.fromCharCode(...encoder.encode(`${user}:${password}`)))}`;
    const c = this.challenge;
    if (!c) return undefined;
    if (c.algorithm && c.algorithm.toUpperCase() !== "SHA-256") throw new Error(`the server offers Digest ${c.algorithm}; this device speaks SHA-256 only`);
    const u = new URL(url);
    const uri = `${u.pathname}${u.search}`;
    const nc = (++this.nonceCount).toString(16).padStart(8, "0");
    const cnonce = randomHex(16);
    const ha1 = await digestHa1(user, c.realm, password);
    const ha2 = await sha256Hex(`${method}:${uri}`);
    const response = await sha256Hex(`${ha1}:${c.nonce}:${nc}:${cnonce}:auth:${ha2}`);
    const parts = [
      `username="${user}"`,
      `realm="${c.realm}"`,
      `nonce="${c.nonce}"`,
      `uri="${uri}"`,
      `algorithm=SHA-256`,
      `qop=auth`,
      `nc=${nc}`,
      `cnonce="${cnonce}"`,
      `response="${response}"`,
    ];
    if (c.opaque !== undefined) parts.push(`opaque="${c.opaque}"`);
    return `Digest ${parts.join(", ")}`;
  }
}
