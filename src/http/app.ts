// The shared pieces every router of the gateway is built from.
import { OpenAPIHono, type z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { authorizeBeforeRefusing } from "./auth";
import { ApiError, invalidInput } from "./errors";
import { explainIssue } from "./zod-issues";

type ZodType = z.ZodType;
type ZodIssue = z.core.$ZodIssue;

/**
 * Schema failures become 400 SVC0002 naming the first wrong field, in the OMA envelope (rejected, so
 * app.onError renders it). Authorization comes first: a caller who may not use the resource, or whose
 * token was revoked, learns that (401/403), not what is wrong with its body (authorizeBeforeRefusing).
 * A valid request returns nothing and waits for nothing.
 */
const refuseInvalid = (result: { success: boolean; error?: { issues: ZodIssue[] } }, c: Context<AppEnv>): Promise<never> | undefined => {
  if (result.success) return undefined;
  const first = result.error?.issues[0];
  const issue = first ? explainIssue(first) : undefined;
  const part = issue && issue.path.length > 0 ? issue.path.map(String).join(".") : "body";
  return authorizeBeforeRefusing(c).then(() => {
    throw invalidInput(part, issue?.message ?? "invalid");
  });
};

/**
 * A router whose schema failures become 400 SVC0002 naming the first wrong field, in the
 * OMA envelope (thrown, so app.onError renders it like every other error).
 *
 * Path parameters that are plain strings (`{userId}`, `{twinId}`: no check, no transform) cannot
 * fail their schema, so such a route takes them as they are, without a zod parse and its awaits per
 * request; the OpenAPI document is the same (the route is registered with its schema).
 */
export function router(): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: refuseInvalid });
  const openapi = app.openapi as unknown as (route: OpenApiRoute, handler: unknown, hook?: unknown) => OpenAPIHono<AppEnv>;
  (app as unknown as { openapi: typeof openapi }).openapi = (route, handler, hook) => {
    const { middleware, hide, ...doc } = route;
    const params = doc.request?.params;
    const keys = hook === undefined && !doc.request?.query ? plainStringKeys(params) : undefined;
    if (!params || !keys) return openapi(route, handler, hook);
    if (!hide) app.openAPIRegistry.registerPath(doc as Parameters<typeof app.openAPIRegistry.registerPath>[0]);
    const { params: _, ...request } = doc.request!;
    const routeMiddleware = middleware === undefined ? [] : Array.isArray(middleware) ? middleware : [middleware];
    return openapi({ ...doc, request, hide: true, middleware: [...routeMiddleware, takeParams(params, keys)] }, handler);
  };
  return app;
}

type OpenApiRoute = { middleware?: MiddlewareHandler | MiddlewareHandler[]; hide?: boolean; request?: { params?: ZodType; query?: unknown } } & Record<string, unknown>;

/** The keys of a z.object() of plain z.string()s (what every path parameter is), else undefined. */
function plainStringKeys(schema: ZodType | undefined): string[] | undefined {
  const def = (schema as { def?: { type?: string; catchall?: unknown; shape?: Record<string, { def?: { type?: string; checks?: unknown[] } }> } } | undefined)?.def;
  if (def?.type !== "object" || def.catchall !== undefined || !def.shape) return undefined;
  const keys = Object.keys(def.shape);
  return keys.every((k) => def.shape![k]!.def?.type === "string" && !def.shape![k]!.def?.checks?.length) ? keys : undefined;
}

/** What the zod param validator would hand the route, for a schema of plain strings; the schema decides if one is missing. */
function takeParams(schema: ZodType, keys: string[]): MiddlewareHandler<AppEnv> {
  return (c, next) => {
    const values: Record<string, string> = {};
    for (const key of keys) {
      const value = c.req.param(key);
      if (value === undefined) {
        const refusal = refuseInvalid(schema.safeParse(c.req.param()), c);
        if (refusal) return refusal;
        break;
      }
      values[key] = value;
    }
    c.req.addValidatedData("param", values);
    return next();
  };
}

/** Bodies of this API are small JSON documents; anything bigger is refused before it is read. */
export const MAX_BODY_BYTES = 64 * 1024;

const CORRELATOR = /^[\x21-\x7e]{1,128}$/;

// A generated correlator only has to be unique: it ties a response to its log lines and audit entry,
// and it grants nothing (no route looks a request up by it). So instead of a random UUID per request,
// a random per-isolate prefix (74 random bits, drawn on the first request: the Workers runtime has no
// randomness at start-up) and a counter, in the shape of a UUID (8-4-4-4-12 hex).
let correlatorPrefix: string | undefined;
let correlatorCount = 0;
function freshCorrelator(): string {
  correlatorPrefix ??= crypto.randomUUID().slice(0, 24);
  return correlatorPrefix + (correlatorCount++).toString(16).padStart(12, "0");
}

/** Every response carries `x-correlator`: the client's, when it sent a usable one, or a fresh one. */
export const correlator: MiddlewareHandler<AppEnv> = async (c, next) => {
  const given = c.req.header("x-correlator");
  const id = given && CORRELATOR.test(given) ? given : freshCorrelator();
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
 * into U+FFFD and store the damaged text. Run for every path (requireBodyChecks), so each API gets it.
 */
const requireUtf8Json: MiddlewareHandler<AppEnv> = async (c, next) => {
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
const requireJsonBody: MiddlewareHandler<AppEnv> = async (c, next) => {
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
export const requireWellFormedUrl: MiddlewareHandler<AppEnv> = (c, next) => {
  // Most URLs escape nothing but ASCII (`tel%3A%2B...`), which always decodes: nothing to check, no URL to parse.
  if (!NOT_ASCII_ESCAPE.test(c.req.url)) return next();
  return checkPercentEncoding(c, next);
};

/** A `%` that does not start an escape of one ASCII byte (`%00`..`%7F`): only these can fail to decode. */
const NOT_ASCII_ESCAPE = /%(?![0-7][0-9A-Fa-f])/;

const checkPercentEncoding: MiddlewareHandler<AppEnv> = async (c, next) => {
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
 * The body checks of every API in one middleware, in this order: the size limit (`limitFor` the
 * path), strict UTF-8 for JSON (requireUtf8Json), and JSON only (requireJsonBody) under the
 * `jsonOnly` prefixes (each as Hono's `/prefix/*` matches it). A request without a body, every GET,
 * has nothing to check and passes in one test.
 */
export function requireBodyChecks(limitFor: (path: string) => MiddlewareHandler<AppEnv>, jsonOnly: readonly string[]): MiddlewareHandler<AppEnv> {
  const underJsonOnly = (path: string) => jsonOnly.some((p) => path === p || path.startsWith(`${p}/`));
  return (c, next) => {
    if (c.req.raw.body === null) return next();
    const path = c.req.path;
    const then = underJsonOnly(path) ? () => requireJsonBody(c, next) as Promise<void> : next;
    return limitFor(path)(c, () => requireUtf8Json(c, then) as Promise<void>);
  };
}

/**
 * The origin of the request URL (scheme, host, port), read off the string the runtime already
 * normalised, without parsing a URL: `resourceURL`s are built from it on every answer.
 */
export function requestOrigin(c: { req: { url: string } }): string {
  const url = c.req.url;
  const path = pathStart(url);
  return path < 0 ? url : url.slice(0, path);
}

/** Where the path starts in an absolute URL string (the first "/" after "scheme://"), or -1. */
const pathStart = (url: string): number => url.indexOf("/", url.indexOf("//") + 2);

/** The path of the request URL (what `new URL(c.req.url).pathname` is), read off the same string without parsing a URL. */
export function requestPath(c: { req: { url: string } }): string {
  const url = c.req.url;
  const start = pathStart(url);
  if (start < 0) return "/";
  let end = url.length;
  const query = url.indexOf("?", start);
  if (query >= 0) end = query;
  const fragment = url.indexOf("#", start);
  if (fragment >= 0 && fragment < end) end = fragment;
  return url.slice(start, end);
}
