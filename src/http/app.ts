// The shared pieces every router of the gateway is built from.
import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { ApiError, invalidInput } from "./errors";
import { explainIssue } from "./zod-issues";

/**
 * A router whose schema failures become 400 SVC0002 naming the first wrong field, in the
 * OMA envelope (thrown, so app.onError renders it like every other error).
 */
export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const first = result.error.issues[0];
        const issue = first ? explainIssue(first) : undefined;
        const part = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : "body";
        throw invalidInput(part, issue?.message ?? "invalid");
      }
    },
  });
}

/** Bodies of this API are small JSON documents; anything bigger is refused before it is read. */
export const MAX_BODY_BYTES = 64 * 1024;

const CORRELATOR = /^[\x21-\x7e]{1,128}$/;

/** Every response carries `x-correlator`: the client's, when it sent a usable one, or a fresh UUID. */
export const correlator: MiddlewareHandler<AppEnv> = async (c, next) => {
  const given = c.req.header("x-correlator");
  const id = given && CORRELATOR.test(given) ? given : crypto.randomUUID();
  c.set("correlator", id);
  await next();
  // A WebSocket upgrade's 101 comes from the channel object with immutable headers.
  if (c.res.status !== 101) c.res.headers.set("x-correlator", id);
};

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/**
 * RFC 8259 §8.1: JSON exchanged between systems is UTF-8. A JSON body that is not is refused,
 * naming the body, before any handler parses it: decoding it leniently would turn the bad bytes
 * into U+FFFD and store the damaged text. Mounted for every path, so each API gets it.
 */
export const requireUtf8Json: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (c.req.raw.body !== null && JSON_TYPE.test(c.req.header("content-type") ?? "")) {
    try {
      strictUtf8.decode(await c.req.arrayBuffer()); // cached: the handler's c.req.json() reads the same bytes
    } catch {
      throw invalidInput("body", "not valid UTF-8 (RFC 8259 §8.1)");
    }
  }
  await next();
};

/** JSON bodies must say so; anything else is refused before it is parsed. */
export const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
  const method = c.req.method;
  if ((method === "POST" || method === "PUT" || method === "PATCH") && c.req.header("content-length") !== "0") {
    const type = c.req.header("content-type") ?? "";
    const hasBody = c.req.raw.body !== null;
    if (hasBody && !JSON_TYPE.test(type)) {
      throw new ApiError(415, "SVC0002", ["Content-Type", "application/json expected"]);
    }
  }
  await next();
};

/**
 * Malformed percent-encoding anywhere in the URL (`%E0%A4%A`, a lone `%`) is the client's error:
 * 400 SVC0002 naming the part, before any route decodes a parameter and trips over it.
 */
export const requireWellFormedUrl: MiddlewareHandler<AppEnv> = async (c, next) => {
  // Most URLs have nothing percent-encoded: nothing to check, no URL to parse.
  if (!c.req.url.includes("%")) return next();
  const url = new URL(c.req.url);
  for (const [part, text] of [["path", url.pathname], ["query", url.search.replace(/\+/g, " ")]] as const) {
    try {
      decodeURIComponent(text);
    } catch {
      throw invalidInput(part, "malformed percent-encoding");
    }
  }
  await next();
};

/**
 * The origin of the request URL (scheme, host, port), read off the string the runtime already
 * normalised, without parsing a URL: `resourceURL`s are built from it on every answer.
 */
export function requestOrigin(c: { req: { url: string } }): string {
  const url = c.req.url;
  const path = url.indexOf("/", url.indexOf("//") + 2);
  return path < 0 ? url : url.slice(0, path);
}
