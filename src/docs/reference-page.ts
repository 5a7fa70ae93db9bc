// The interactive API reference at /docs: Swagger UI (npm swagger-ui-dist), served from this gateway's own
// static assets (build/assets/docs/, made by scripts/build-docs-assets.mjs), never from a CDN. It reads
// /openapi.json, so the page and the description cannot drift. "Authorize" takes a bearer token (an access
// token from /oauth/token, or the admin token), "Try it out" calls this gateway, and each call shows its curl.
import { escapeHtml as esc } from "../http/html";

type Json = Record<string, any>;

/** Where the build puts the page's scripts and styles (served by Workers static assets). */
export const DOCS_ASSETS = "/docs/assets";

export function referencePage(doc: Json): string {
  const title = `${doc.info?.title ?? "API"} — API reference`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<link rel="stylesheet" href="${DOCS_ASSETS}/swagger-ui.css">
<link rel="stylesheet" href="${DOCS_ASSETS}/docs.css">
</head>
<body>
<noscript><p>This reference needs JavaScript. The description itself is at <a href="/openapi.json">/openapi.json</a>.</p></noscript>
<div id="swagger-ui" data-url="/openapi.json"></div>
<script src="${DOCS_ASSETS}/swagger-ui-bundle.js"></script>
<script src="${DOCS_ASSETS}/docs.js"></script>
</body></html>`;
}

/** Everything the page loads is its own: a strict CSP keeps it so (Swagger UI needs inline styles). */
referencePage.headers = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  "Cache-Control": "no-cache",
};
