#!/usr/bin/env node
// Puts /docs's scripts and styles into build/assets/docs/assets/, which wrangler serves as static assets
// ([assets] in wrangler.toml): Swagger UI from the installed swagger-ui-dist, and our own start-up and
// phone styles from src/docs/assets/. Run by `npm run build` (before npm start, npm test and deploy).
import { copyFileSync, mkdirSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "build", "assets", "docs", "assets");
const swagger = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
mkdirSync(out, { recursive: true });
for (const f of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"]) copyFileSync(join(swagger, f), join(out, f === "LICENSE" ? "swagger-ui-LICENSE.txt" : f));
const own = join(root, "src", "docs", "assets");
for (const f of readdirSync(own)) copyFileSync(join(own, f), join(out, f));
