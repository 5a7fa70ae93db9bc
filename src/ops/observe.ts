// Every request: timed, counted (recordRequest) and logged as one JSON line with its correlator.
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { AppEnv } from "../env";
import { requestPath } from "../http/app";
import { logEvent, logs } from "./log";
import { recordRequest } from "./metrics";
import { redactPath } from "./redact";

export const observe: MiddlewareHandler<AppEnv> = async (c, next) => {
  const start = Date.now();
  try {
    await next();
  } finally {
    const ms = Date.now() - start;
    const status = c.res.status;
    const method = c.req.method;
    // The matched route pattern, not the path: ids must not become metric labels.
    let route = "unmatched";
    try {
      route = routePath(c, -1) || route;
    } catch {
      // no route matched
    }
    if (route === "*" || route === "/*") route = "unmatched";
    recordRequest(c.env, method, route, status, ms);
    const level = status >= 500 ? "error" : status >= 400 ? "warn" : "info";
    if (logs(c.env, level)) logEvent(level, "request", {
      correlator: c.get("correlator"),
      method,
      route,
      path: redactPath(requestPath(c)),
      status,
      ms,
    });
  }
};
