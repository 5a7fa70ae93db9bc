// The answer to a request no route handles: 405 with Allow when the path is a resource of the API
// and only the method is wrong (RFC 9110 §15.5.6: "The origin server MUST generate an Allow header
// field in a 405 response"), 204 with Allow for OPTIONS on such a path (§9.3.7), and the 404 otherwise.
//
// Only app.notFound calls this, so requests that match a route pay nothing for it. The methods of
// each path come from a second router built on the first unmatched request of an isolate: every
// route of the app (middleware, registered for ALL methods, is not a resource and is left out),
// added for every method, with its own method as the handler; a match lists the methods of the path.
// No CORS is served, so an OPTIONS answer carries Allow and nothing else.
import type { Context } from "hono";
import type { RouterRoute } from "hono/types";
import { ApiError, ECHO_MAX, echo, errorResponse } from "./errors";
import { PrefixRouter } from "./router";

/** The order Allow lists methods in; HEAD wherever GET is (Hono answers HEAD with the GET route). */
const ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

export function unmatchedRequest(routes: () => readonly RouterRoute[]): (c: Context) => Response {
  let methodsOf: PrefixRouter<string> | undefined;
  const allowed = (path: string): string[] => {
    if (!methodsOf) {
      methodsOf = new PrefixRouter<string>();
      for (const route of routes()) if (route.method !== "ALL") methodsOf.add("ALL", route.path, route.method);
    }
    const [handlers] = methodsOf.match("GET", path) as [[string, unknown][], unknown];
    const methods = new Set(handlers.map(([method]) => method));
    if (methods.size === 0) return [];
    if (methods.has("GET")) methods.add("HEAD");
    methods.add("OPTIONS");
    return ORDER.filter((m) => methods.has(m));
  };

  return (c) => {
    const method = c.req.method;
    // Echoed capped (errors.ts): a path is longer than an id, and showing it is the point of the answer.
    const shownMethod = echo(method);
    const shownPath = echo(new URL(c.req.url).pathname, 2 * ECHO_MAX);
    const allow = allowed(c.req.path);
    // A handler of this very method that answered "not found" (c.notFound()) stays a 404.
    if (allow.length > 0 && !allow.includes(method)) {
      return errorResponse(c, new ApiError(405, "SVC0002", ["method", `${shownMethod} is not allowed on ${shownPath}; allowed: ${allow.join(", ")}`], { Allow: allow.join(", ") }));
    }
    if (allow.length > 0 && method === "OPTIONS") return c.body(null, 204, { Allow: allow.join(", ") });
    return errorResponse(c, new ApiError(404, "SVC0002", ["path", `${shownMethod} ${shownPath} is not a resource of this API`]));
  };
}
