// The published API description: the document the routes' zod schemas generate, completed in one place
// with what every operation has in common, so route files describe only what is theirs.
//
// What is filled here, and the rule for each (a route that sets one itself keeps its own):
// - operationId: the HTTP method, then the path's literal segments in camelCase, each path parameter as
//   `By<Name>`; the API version (`v1`) and `{userId}` (on every OMA path) are left out. Unique by construction,
//   checked when built.
// - security: `[]` on an operation that names none, so a public operation says it is public.
// - error answers: 400 when the operation takes parameters or a body, 401 (and 403 when scopes are named)
//   when it is secured, 404 when its path has parameters, 413/415 when it takes a JSON body, 429 when the
//   admin token secures it (an address locked out for wrong admin tokens), 500 for every operation; each with the `requestError` envelope and an example made by the same code that answers.
// - examples: a media type with a schema and no example gets one built from the schema (its own examples,
//   enums and formats first).
// - `pattern`: a regular expression's flags never leak into a published pattern (JSON Schema patterns are
//   ECMA-262 with Unicode semantics; the `u` flag is implied).
// - servers: the origin the document was fetched from, so "try it" calls the gateway that served it.
import { ApiError, type MessageId } from "../http/errors";

type Json = Record<string, any>;
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"] as const;

/** `"^[\p{L}]+$/u"` → `"^[\p{L}]+$"`: a RegExp's `source` escapes `/`, so an unescaped `/` then flags can only be flags. */
export function stripRegexFlags(pattern: string): string {
  const m = /^(.*?)(?<!\\)\/([dgimsuvy]+)$/s.exec(pattern);
  return m ? m[1]! : pattern;
}

const pascal = (s: string) =>
  s
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join("");

/** `get /twinning/v1/{userId}/twins/{twinId}/status` → `getTwinningTwinsByTwinIdStatus`. */
export function operationIdFor(method: string, path: string): string {
  const parts = path
    .split("/")
    .filter((seg) => seg && !/^v\d+$/.test(seg) && seg !== "{userId}")
    .map((seg) => (seg.startsWith("{") ? `By${pascal(seg.slice(1, -1))}` : pascal(seg)));
  return method.toLowerCase() + parts.join("");
}

const ERROR_EXAMPLES: Record<number, { description: string; error: ApiError }> = {
  400: { description: "Invalid input: `variables` names the part that was wrong and what was expected", error: new ApiError(400, "SVC0002", ["name", "letters, digits, space, '.', '_', ''' and '-', starting with a letter or digit"]) },
  401: { description: "Missing or invalid credentials (with `WWW-Authenticate`)", error: new ApiError(401, "POL0001", ["invalid_token: the access token has expired"]) },
  403: { description: "The token lacks the scope, names another subscriber, or a policy refuses the request", error: new ApiError(403, "POL0001", ["insufficient_scope: twinning:primary required"]) },
  404: { description: "Unknown resource: `variables` names the part of the URL that did not resolve", error: new ApiError(404, "SVC0002", ["twinId", "my-watch not found"]) },
  413: { description: "Request body too large", error: new ApiError(413, "SVC0002", ["body", "request body larger than 65536 bytes"]) },
  415: { description: "The body is not `application/json`", error: new ApiError(415, "SVC0002", ["Content-Type", "application/json expected"]) },
  429: { description: "This address made too many wrong admin-token attempts (AUTH_FAILURE_LIMIT) and is locked out, even with the right token: retry after `Retry-After` seconds", error: new ApiError(429, "POL0001", ["too many wrong admin tokens from this address; retry after 900 s"]) },
  500: { description: "An unexpected error; nothing was changed. Quote the `x-correlator` response header", error: new ApiError(500, "SVC0001" as MessageId, ["internal error"]) },
};

function errorResponse(doc: Json, code: number): Json {
  const e = ERROR_EXAMPLES[code]!;
  const schema = doc.components?.schemas?.RequestError ? { $ref: "#/components/schemas/RequestError" } : { type: "object" };
  return { description: e.description, content: { "application/json": { schema, example: e.error.body() } } };
}

// Values of this API's own identifiers, tried against a pattern when a schema has no example of its own.
const STRING_SAMPLES = ["tel:+15551230001", "acr:Authorization", "001", "01", "001-01", "123456", "IMEI:493005100592800", "my-watch", "Tq3Jm0xY8fZkLw2VbN5sRa", "twinning:primary"];

/** An example value built from a JSON schema, for a media type that has none. */
export function exampleFor(doc: Json, schema: Json | undefined, depth = 0): unknown {
  if (!schema || depth > 8) return undefined;
  if (schema.$ref) return exampleFor(doc, doc.components?.schemas?.[String(schema.$ref).split("/").pop()!], depth + 1);
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  for (const k of ["oneOf", "anyOf"] as const) if (Array.isArray(schema[k])) return exampleFor(doc, schema[k].find((s: Json) => s.type !== "null") ?? schema[k][0], depth + 1);
  if (Array.isArray(schema.allOf)) return Object.assign({}, ...schema.allOf.map((s: Json) => exampleFor(doc, s, depth + 1)));
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  if (type === "object" || schema.properties) {
    const out: Json = {};
    for (const [k, v] of Object.entries<Json>(schema.properties ?? {})) {
      const value = exampleFor(doc, v, depth + 1);
      if (value !== undefined) out[k] = value;
    }
    return out;
  }
  if (type === "array") {
    // Recursive types (a DM job's command tree) end in empty lists, not in half-built items.
    if (depth > 4 && !schema.minItems) return [];
    const item = exampleFor(doc, schema.items, depth + 1);
    return item === undefined ? [] : [item];
  }
  if (type === "integer" || type === "number") return schema.minimum ?? 1;
  if (type === "boolean") return true;
  if (type === "string") {
    const byFormat: Record<string, string> = { "date-time": "2026-11-27T13:40:34.796Z", uri: "https://app.example.com/hooks/twinning", uuid: "0b9c8a36-5d0e-4c1f-9a55-6f1d2c3b4a59", email: "ops@example.com", binary: "" };
    if (schema.format && byFormat[schema.format] !== undefined) return byFormat[schema.format];
    if (typeof schema.pattern === "string") {
      let re: RegExp | undefined;
      try {
        re = new RegExp(schema.pattern, "u");
      } catch {
        return undefined;
      }
      return STRING_SAMPLES.find((v) => re!.test(v));
    }
    return "example".padEnd(schema.minLength ?? 0, "-value").slice(0, schema.maxLength ?? Infinity);
  }
  return undefined;
}

function walk(node: unknown, visit: (obj: Json) => void): void {
  if (Array.isArray(node)) for (const n of node) walk(n, visit);
  else if (node && typeof node === "object") {
    visit(node as Json);
    for (const v of Object.values(node)) walk(v, visit);
  }
}

/** Copies one operation to another path or method (routes that serve the same operation twice). */
function alias(doc: Json, from: [string, string], to: [string, string], patch: (op: Json) => void): void {
  const op = doc.paths?.[from[0]]?.[from[1]];
  if (!op || doc.paths?.[to[0]]?.[to[1]]) return;
  const copy = structuredClone(op);
  delete copy.operationId;
  patch(copy);
  doc.paths[to[0]] = { ...(doc.paths[to[0]] ?? {}), [to[1]]: copy };
}

/** The document as published at /openapi.json and rendered at /docs. `origin` is the gateway's own. */
export function publishedDocument(generated: Json, origin: string): Json {
  const doc = structuredClone(generated);
  doc.servers = [{ url: origin, description: "this gateway" }];
  doc.components ??= {};

  // The operations served twice under another name (described once by their routes).
  alias(doc, ["/dm", "post"], ["/dm/s/{devId}", "post"], (op) => {
    op.summary = "SyncML DM 1.2 device endpoint for the rest of a session (the RespURI)";
    op.description = "The URL the server's SyncHdr names as RespURI after the first message of a session; the device sends every further message of that session here. Same messages, encodings and authentication as `POST /dm`; the devId must be the one in the message's Source LocURI.";
    op.parameters = [{ name: "devId", in: "path", required: true, description: "The device id the client sends as its Source LocURI (URL-encoded)", schema: { type: "string", example: "IMEI:493005100592800" } }];
  });
  alias(doc, ["/notificationchannel/v1/{userId}/channels/{channelId}/poll", "post"], ["/notificationchannel/v1/{userId}/channels/{channelId}/poll", "get"], (op) => {
    op.summary = "Long polling on a channel's channelURL (GET form)";
  });

  walk(doc, (obj) => {
    if (typeof obj.pattern === "string") obj.pattern = stripRegexFlags(obj.pattern);
  });

  // OAuth client authentication: HTTP Basic, or the credentials in the form (client_secret_post,
  // private_key_jwt, public clients), which OpenAPI can only state as "or nothing in the headers".
  doc.components.securitySchemes ??= {};
  doc.components.securitySchemes.clientSecretBasic ??= {
    type: "http",
    scheme: "basic",
    description: "OAuth client authentication (RFC 6749 §2.3.1): client_id and client_secret. client_secret_post, private_key_jwt and public clients put their credentials in the form instead.",
  };
  for (const path of ["/oauth/token", "/oauth/introspect", "/oauth/revoke", "/oauth/device_authorization"]) {
    const op = doc.paths?.[path]?.post;
    if (op) op.security ??= [{ clientSecretBasic: [] }, {}];
  }

  const seen = new Map<string, string>();
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      op.operationId ??= operationIdFor(method, path);
      const where = `${method.toUpperCase()} ${path}`;
      if (seen.has(op.operationId)) throw new Error(`operationId ${op.operationId} of ${where} is also ${seen.get(op.operationId)}'s`);
      seen.set(op.operationId, where);

      op.security ??= [];
      const secured = op.security.some((req: Json) => Object.keys(req).length > 0);
      const scoped = op.security.some((req: Json) => Object.values(req).some((scopes) => (scopes as string[]).length > 0));
      const byAdminToken = op.security.some((req: Json) => "adminToken" in req);
      const params = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const hasPathParams = /\{[^}]+\}/.test(path);
      const jsonBody = !!op.requestBody?.content?.["application/json"];
      const oauthStyle = path.startsWith("/oauth/") || path.startsWith("/.well-known/");
      const codes = [
        ...(params.length || op.requestBody ? [400] : []),
        ...(secured ? [401] : []),
        ...(scoped ? [403] : []),
        ...(hasPathParams ? [404] : []),
        ...(jsonBody ? [413, 415] : []),
        ...(byAdminToken ? [429] : []),
        500,
      ];
      op.responses ??= {};
      for (const code of codes) {
        // The OAuth endpoints answer their own RFC 6749 errors, which their routes describe.
        if (oauthStyle && code !== 500) continue;
        op.responses[String(code)] ??= errorResponse(doc, code);
      }

      for (const media of [
        ...Object.values<Json>(op.requestBody?.content ?? {}),
        ...Object.values<Json>(op.responses).flatMap((r: Json) => Object.values<Json>(r.content ?? {})),
      ]) {
        if (media.example !== undefined || media.examples || !media.schema) continue;
        const example = exampleFor(doc, media.schema);
        if (example !== undefined && example !== "") media.example = example;
      }
    }
  }
  return doc;
}
