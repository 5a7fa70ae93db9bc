// The operator console at /console: one page whose script (assets/console.js, served as static assets
// from build/assets/console/assets/) drives the admin API with the admin token the operator types in.
// The token stays in the tab's sessionStorage (gone when the tab closes), is sent only to this origin,
// and the page loads nothing from elsewhere (CSP).
import { router } from "../http/app";
import { escapeHtml as esc } from "../http/html";
import { config } from "../config";
import { SCOPES } from "../oauth/tokens";

export const CONSOLE_ASSETS = "/console/assets";

const HEADERS = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
  "Cache-Control": "no-cache",
  "Referrer-Policy": "no-referrer",
};

export function consolePage(operator: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(operator)} — oma-edge console</title>
<link rel="stylesheet" href="${CONSOLE_ASSETS}/console.css">
</head>
<body data-scopes="${esc(JSON.stringify(Object.keys(SCOPES)))}">
<header><h1>${esc(operator)} <span>console</span></h1><button id="logout" hidden>Sign out</button></header>
<noscript><p>The console needs JavaScript; the admin API itself is described at <a href="/docs">/docs</a>.</p></noscript>
<main id="app"></main>
<script src="${CONSOLE_ASSETS}/console.js"></script>
</body></html>`;
}

export const consoleRoutes = router();
consoleRoutes.get("/console", (c) => c.html(consolePage(config(c.env).OPERATOR_NAME), 200, HEADERS));
