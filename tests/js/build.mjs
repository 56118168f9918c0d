// Bundles the browser test pages (pages/v1.jsx, v2.jsx, genui.jsx) with esbuild into <outdir>,
// each beside an HTML file that loads it: <outdir>/v1.html, <outdir>/v2.html, <outdir>/genui.html.
//
//   node build.mjs <outdir>
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = process.argv[2];
if (!outdir) {
  console.error("usage: node build.mjs <outdir>");
  process.exit(64);
}
mkdirSync(outdir, { recursive: true });
const pages = ["v1", "v2", "genui"];
await build({
  entryPoints: pages.map((page) => join(here, "pages", `${page}.jsx`)),
  outdir,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "chrome120",
  jsx: "automatic",
  // React's production build, as a deployed page runs it.
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
for (const page of pages) {
  writeFileSync(join(outdir, `${page}.html`), `<!doctype html>\n<meta charset="utf-8">\n<link rel="icon" href="data:,">\n<title>${page}</title>\n<div id="root"></div>\n<script type="module" src="./${page}.js"></script>\n`);
}
