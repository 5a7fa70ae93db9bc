// Content negotiation of the DM 2.0 resources. The seed's change request names one media type
// (application/vnd.omadm-cmd+json); the approved protocol (OMA-TS-DM_Protocol-V2_0) names three,
// one per package kind. Requests may use any of the four; the answer uses the one the client
// asked for in Accept, else the counterpart of what it sent.
import { ApiError } from "../../http/errors";

export const SEED_TYPE = "application/vnd.omadm-cmd+json";
export const INITIATION_TYPE = "application/vnd.oma.dm.initiation+json";
export const REQUEST_TYPE = "application/vnd.oma.dm.request+json";
export const RESPONSE_TYPE = "application/vnd.oma.dm.response+json";
export const DM2_TYPES = [SEED_TYPE, INITIATION_TYPE, REQUEST_TYPE, RESPONSE_TYPE] as const;
export type Dm2Type = (typeof DM2_TYPES)[number];

const isDm2Type = (t: string): t is Dm2Type => (DM2_TYPES as readonly string[]).includes(t);

const mediaType = (header: string | undefined) => (header ?? "").split(";")[0]!.trim().toLowerCase();

/**
 * The DM 2.0 type of a request body; a body of any other type is 415. `undefined` when the request
 * has no body (a package 1 may be empty).
 */
export function requestType(contentType: string | undefined, hasBody: boolean): Dm2Type | undefined {
  const t = mediaType(contentType);
  if (!hasBody && !t) return undefined;
  if (isDm2Type(t)) return t;
  // Plain JSON is what curl and generic HTTP libraries send; the body is the same document.
  if (t === "application/json") return undefined;
  throw new ApiError(415, "SVC0002", ["Content-Type", `one of ${DM2_TYPES.join(", ")} (or application/json)`]);
}

interface AcceptRange {
  type: string;
  q: number;
}

function parseAccept(header: string): AcceptRange[] {
  return header
    .split(",")
    .map((part) => {
      const [type, ...params] = part.split(";").map((s) => s.trim().toLowerCase());
      const q = params.map((p) => /^q=([01](?:\.\d{0,3})?)$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { type: type ?? "", q: q === undefined ? 1 : Number(q) };
    })
    .filter((r) => r.type && r.q > 0)
    .sort((a, b) => b.q - a.q);
}

export type Answer = { kind: "json"; type: Dm2Type } | { kind: "html" };

/**
 * What the answer to a device-facing request is: JSON commands in the type the client named
 * (x.2.3: a browser component names application/vnd.omadm-cmd+json), or an HTML page for a
 * browser that names none of the four but takes text/html (x.2.4). Anything else is 406.
 */
export function negotiate(accept: string | undefined, sent: Dm2Type | undefined): Answer {
  const fallback: Dm2Type = sent === SEED_TYPE ? SEED_TYPE : REQUEST_TYPE;
  if (!accept || !accept.trim()) return { kind: "json", type: fallback };
  for (const r of parseAccept(accept)) {
    if (isDm2Type(r.type)) return { kind: "json", type: r.type };
    if (r.type === "text/html" || r.type === "application/xhtml+xml") return { kind: "html" };
    if (r.type === "application/json") return { kind: "json", type: fallback };
    if (r.type === "*/*" || r.type === "application/*") return { kind: "json", type: fallback };
  }
  throw new ApiError(406, "SVC0002", ["Accept", `one of ${DM2_TYPES.join(", ")}, or text/html for a browser`]);
}

/** Whether a browser (rather than a DM client) is asking: it takes HTML and names no DM 2.0 type. */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const r of parseAccept(accept)) {
    if (isDm2Type(r.type) || r.type === "application/json") return false;
    if (r.type === "text/html" || r.type === "application/xhtml+xml") return true;
  }
  return false;
}
