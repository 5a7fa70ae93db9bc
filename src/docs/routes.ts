// /openapi.json and /docs: the published API description and its interactive reference.
import { z, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../env";
import { publishedDocument } from "./openapi";
import { referencePage } from "./reference-page";

type DocConfig = Parameters<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>[0];

/** The form the consent page posts (src/oauth/authorize.ts reads it); described here with the other OAuth pages. */
const ConsentDecision = z.object({
  consent: z.string().openapi({ description: "The signed, one-time consent ticket from the page's hidden field" }),
  decision: z.enum(["approve", "deny"]),
});

export function mountDocs(app: OpenAPIHono<AppEnv>, config: DocConfig): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/oauth/authorize",
    summary: "The subscriber's decision on the consent page",
    description:
      "Posted by the consent page that `GET /oauth/authorize` shows. Approving redirects (303 See Other) to the registered redirect_uri with `code`, `state` and `iss`; " +
      "denying with `error=access_denied`. A ticket is used once; an expired, altered or reused one gets an HTML error page (400) and no redirect.",
    tags: ["OAuth"],
    security: [],
    request: { body: { required: true, content: { "application/x-www-form-urlencoded": { schema: ConsentDecision } } } },
    responses: {
      303: { description: "Back to the application's redirect_uri with `code` (or `error`), `state` and `iss`", headers: { Location: { schema: { type: "string", format: "uri" } } } },
      400: { description: "An HTML page saying what was wrong (no redirect to an unverified place)", content: { "text/html": { schema: z.string() } } },
    },
  });

  // The document is the same for every request of an isolate, but for its origin (servers, try-it).
  const cache = new Map<string, Record<string, unknown>>();
  const documentFor = (origin: string) => {
    let doc = cache.get(origin);
    if (!doc) {
      doc = publishedDocument(app.getOpenAPI31Document(config) as unknown as Record<string, unknown>, origin);
      if (cache.size < 8) cache.set(origin, doc);
    }
    return doc;
  };
  app.get("/openapi.json", (c) => c.json(documentFor(new URL(c.req.url).origin)));
  app.get("/docs", (c) => c.html(referencePage(documentFor(new URL(c.req.url).origin)), 200, referencePage.headers));
}
