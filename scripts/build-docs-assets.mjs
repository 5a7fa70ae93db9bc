#!/usr/bin/env node
// Puts /docs's scripts and styles into build/assets/docs/assets/ (and the console's into build/assets/console/assets/), which wrangler serves as static assets
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
// The operator console's script and styles (src/console/assets/ → /console/assets/).
const consoleOut = join(root, "build", "assets", "console", "assets");
mkdirSync(consoleOut, { recursive: true });
const consoleOwn = join(root, "src", "console", "assets");
for (const f of readdirSync(consoleOwn)) copyFileSync(join(consoleOwn, f), join(consoleOut, f));
