// The consent page as a subscriber would trust it: who asks (the operator, by name and logo), for
// which application (its name, logo, publisher and links, from its registration), what it may do
// (each scope in words, its id secondary), for which line, and a way out when that is not the
// subscriber's line. No script: the page works with JavaScript off, and its CSP allows none.
import { escapeHtml } from "../http/html";
import type { RegisteredClient } from "./client-object";
import { isScope, SCOPES } from "./tokens";

export interface Operator {
  name: string;
  logoUrl?: string;
}

/** What each scope lets the application do, in the subscriber's words rather than the developer's. */
const CONSENT_TEXT: Record<string, string> = {
  "twinning:primary": "Twin watches, cars and other devices with your line, list them, switch them on or off, and remove them.",
  "twinning:secondary": "Twin this device with your phone's line, see its twinning status, switch it on or off, and end it.",
};

export const scopeInWords = (scope: string) => CONSENT_TEXT[scope] ?? (isScope(scope) ? SCOPES[scope] : scope);

/** Where images may come from: only the two logos shown. */
function imageSources(urls: (string | undefined)[]): string {
  const sources = new Set<string>();
  for (const u of urls) {
    if (!u) continue;
    if (u.startsWith("data:")) sources.add("data:");
    else sources.add(new URL(u).origin);
  }
  return sources.size ? [...sources].join(" ") : "'none'";
}

export function pageHeaders(images: (string | undefined)[] = []): Record<string, string> {
  return {
    "Cache-Control": "no-store",
    "Content-Security-Policy": `default-src 'none'; style-src 'unsafe-inline'; img-src ${imageSources(images)}; frame-ancestors 'none'; base-uri 'none'`,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
  };
}

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:1.5rem auto;padding:0 1rem;color:#1d2330}
header.operator{display:flex;align-items:center;gap:.6rem;padding-bottom:.8rem;border-bottom:1px solid #dde}
header.operator img{max-height:2.2rem;max-width:8rem}
#operator-name{font-weight:600}
h1{font-size:1.3rem;margin:1rem 0 .5rem}
.app{display:flex;gap:.8rem;align-items:center;margin:.5rem 0}
.app img{width:3rem;height:3rem;object-fit:contain;border-radius:8px}
.publisher,.who,.note{color:#555}
.links a{margin-right:1rem}
.scopes{padding-left:1.2rem}.scopes li{margin:.5rem 0}
.scope-id{display:block;font:12px ui-monospace,monospace;color:#777}
.actions{display:flex;gap:1rem;margin-top:1.5rem}
button{flex:1;font-size:1rem;padding:.7rem;border-radius:6px;border:1px solid #888;background:#fff;cursor:pointer}
button.approve{background:#1f5fbf;color:#fff;border-color:#1f5fbf}
details{margin-top:1.2rem}summary{cursor:pointer;color:#1f5fbf}
details button{margin-top:.6rem;width:100%}
`;

function operatorHeader(operator: Operator): string {
  const logo = operator.logoUrl ? `<img id="operator-logo" src="${escapeHtml(operator.logoUrl)}" alt="">` : "";
  return `<header class="operator">${logo}<span id="operator-name">${escapeHtml(operator.name)}</span></header>`;
}

export function page(operator: Operator, title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style></head><body>${operatorHeader(operator)}${body}</body></html>`;
}

export function errorPage(operator: Operator, message: string): string {
  return page(operator, "Authorization failed", `<h1>This request cannot be authorised</h1><p id="error">${escapeHtml(message)}</p>`);
}

function link(id: string, href: string | undefined, text: string): string {
  return href ? `<a id="${id}" href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${escapeHtml(text)}</a>` : "";
}

export function consentPage(operator: Operator, client: RegisteredClient, ticket: string, subscriber: string, scopes: string[]): string {
  const about = client.about ?? {};
  const items = scopes.map((s) => `<li><span class="what">${escapeHtml(scopeInWords(s))}</span><code class="scope-id">${escapeHtml(s)}</code></li>`).join("");
  const links = [link("client-uri", about.client_uri, "Website"), link("policy-uri", about.policy_uri, "Privacy policy"), link("tos-uri", about.tos_uri, "Terms")].filter(Boolean).join("");
  const logo = about.logo_uri ? `<img id="client-logo" src="${escapeHtml(about.logo_uri)}" alt="">` : "";
  const publisher = about.publisher
    ? `<div class="publisher">by <span id="publisher">${escapeHtml(about.publisher)}</span></div>`
    : `<div class="publisher" id="publisher-unknown">Publisher not stated</div>`;
  return page(
    operator,
    `Allow ${client.name}?`,
    `<h1><span id="client-name">${escapeHtml(client.name)}</span> asks for access to your line</h1>
<div class="app">${logo}<div>${publisher}${links ? `<div class="links">${links}</div>` : ""}</div></div>
<p class="who">For your line <strong id="subscriber">${escapeHtml(subscriber)}</strong>, the application asks to:</p>
<ul class="scopes" id="scopes">${items}</ul>
<p class="note">${escapeHtml(operator.name)} shares only what is listed here with the application.</p>
<form method="post" action="/oauth/authorize">
  <input type="hidden" name="consent" value="${escapeHtml(ticket)}">
  <div class="actions">
    <button type="submit" name="decision" value="deny" id="deny">Deny</button>
    <button type="submit" name="decision" value="approve" id="approve" class="approve">Allow</button>
  </div>
  <details id="not-you"><summary>Not you?</summary>
    <p>This request came from a device on the line ${escapeHtml(subscriber)}. If that is not your line, or you did not start this, do not allow it: nothing is shared, and the application is told you declined.</p>
    <button type="submit" name="decision" value="not-me" id="not-me">This is not my line</button>
  </details>
</form>`,
  );
}
