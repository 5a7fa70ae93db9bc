// A self-contained, readable API reference rendered from the same OpenAPI document as
// /openapi.json. No scripts or assets from elsewhere: it works offline and under a strict CSP.

import { escapeHtml as esc } from "../http/html";

type Json = Record<string, any>;
const md = (s: unknown) => esc(s).replace(/`([^`]+)`/g, "<code>$1</code>");

function resolve(doc: Json, schema: Json | undefined): Json | undefined {
  if (schema?.$ref) return doc.components?.schemas?.[schema.$ref.split("/").pop()];
  return schema;
}

/** A compact, TypeScript-like rendering of a JSON schema. */
function shape(doc: Json, schema: Json | undefined, depth = 0): string {
  if (!schema) return "";
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop();
    return depth > 3 ? name : shape(doc, resolve(doc, schema), depth + 1);
  }
  const pad = "  ".repeat(depth + 1);
  if (schema.enum) return schema.enum.map((v: unknown) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf || schema.oneOf) return (schema.anyOf ?? schema.oneOf).map((s: Json) => shape(doc, s, depth)).join(" | ");
  if (schema.type === "array") return `${shape(doc, schema.items, depth)}[]`;
  if (schema.type === "object" || schema.properties) {
    const required = new Set(schema.required ?? []);
    const props = Object.entries(schema.properties ?? {}).map(
      ([k, v]) => `${pad}${k}${required.has(k) ? "" : "?"}: ${shape(doc, v as Json, depth + 1)}`,
    );
    return props.length ? `{\n${props.join("\n")}\n${"  ".repeat(depth)}}` : "object";
  }
  const fmt = schema.format ? ` (${schema.format})` : schema.pattern ? ` /${schema.pattern}/` : "";
  return `${schema.type ?? "any"}${fmt}`;
}

export function renderReference(doc: Json): string {
  const groups = new Map<string, string[]>();
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const [method, op] of Object.entries<Json>(item)) {
      const tag = op.tags?.[0] ?? "Other";
      const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
      const params = (op.parameters ?? [])
        .map((p: Json) => `<li><code>${esc(p.name)}</code> (${esc(p.in)}) ${md(p.description ?? p.schema?.description ?? "")}</li>`)
        .join("");
      const body = op.requestBody?.content;
      const bodyType = body ? Object.keys(body)[0]! : undefined;
      const responses = Object.entries<Json>(op.responses ?? {})
        .map(([code, r]) => {
          const schema = r.content?.["application/json"]?.schema;
          return `<li><strong>${esc(code)}</strong> ${md(r.description)}${schema && code < "300" ? `<pre>${esc(shape(doc, schema))}</pre>` : ""}</li>`;
        })
        .join("");
      const scopes = (op.security ?? []).flatMap((s: Json) => Object.entries(s).map(([k, v]) => `${k}${(v as string[]).length ? `: ${(v as string[]).join(" ")}` : ""}`));
      const html = `<section class="op" id="${id}">
  <h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${esc(path)}</code></h3>
  <p class="summary">${md(op.summary)}</p>
  ${op.description ? `<p>${md(op.description)}</p>` : ""}
  ${scopes.length ? `<p class="auth">Authorization: ${scopes.map(esc).join(", ")}</p>` : ""}
  ${params ? `<h4>Parameters</h4><ul>${params}</ul>` : ""}
  ${bodyType ? `<h4>Request body <small>${esc(bodyType)}</small></h4><pre>${esc(shape(doc, body[bodyType].schema))}</pre>` : ""}
  <h4>Responses</h4><ul>${responses}</ul>
</section>`;
      groups.set(tag, [...(groups.get(tag) ?? []), html]);
    }
  }
  const nav = [...groups.keys()].map((t) => `<li><a href="#tag-${esc(t.replace(/\W+/g, "-"))}">${esc(t)}</a></li>`).join("");
  const sections = [...groups.entries()]
    .map(([t, ops]) => `<h2 id="tag-${esc(t.replace(/\W+/g, "-"))}">${esc(t)}</h2>${ops.join("\n")}`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info?.title)} — API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2330}
nav{position:sticky;top:0;height:100vh;overflow:auto;min-width:14rem;padding:1rem;background:#f3f5f8;border-right:1px solid #dde2ea}
main{padding:1rem 2rem;max-width:60rem}
.op{border:1px solid #dde2ea;border-radius:6px;padding:.25rem 1rem;margin:1rem 0}
.method{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-size:.8rem;padding:.1rem .3rem}
.get{background:#2f7d32}.post{background:#1f5fbf}.put{background:#b46a00}.delete{background:#b3261e}.patch{background:#6a3fb5}
pre{background:#f7f8fa;padding:.5rem;overflow:auto;border-radius:4px}
.auth{color:#555}
</style></head>
<body><nav><strong>${esc(doc.info?.title)}</strong> <small>${esc(doc.info?.version)}</small><ul>${nav}</ul><p><a href="/openapi.json">openapi.json</a></p></nav>
<main><h1>${esc(doc.info?.title)}</h1><p>${md(doc.info?.description)}</p>
${sections}
</main></body></html>`;
}
