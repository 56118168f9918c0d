// Builds Agent Chat UI (the Vite template of create-agent-chat-app, as npm ci installed it into
// node_modules) into a static site: `node build.mjs <outdir>`.
//
// The template's own `build` is `tsc -b && vite build` under turbo; only `vite build` is run,
// with the template's vite.config.ts (React, Tailwind 4, the "@" alias). Its source is copied
// to a folder beside node_modules (one per build, removed after), so that its imports resolve
// to the packages pinned here. The site is not told where the server is: the test opens it
// with `?apiUrl=&assistantId=`, which the template reads before VITE_API_URL and
// VITE_ASSISTANT_ID, so one build serves any port.
import { cp, mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "vite";

const here = path.dirname(fileURLToPath(import.meta.url));
const template = path.join(here, "node_modules", "create-agent-chat-app", "templates", "vite");
const work = path.join(here, `.build-${process.pid}`);
const outDir = path.resolve(process.argv[2] ?? path.join(here, "dist"));

await rm(work, { recursive: true, force: true });
await mkdir(work);
try {
  for (const name of ["index.html", "vite.config.ts", "src", "public"]) {
    await cp(path.join(template, name), path.join(work, name), { recursive: true });
  }
  await build({
    root: work,
    configFile: path.join(work, "vite.config.ts"),
    // Warnings (the bundle's size, index.html's link to a /src/styles.css the template lacks)
    // are the template's own; errors still fail the build.
    logLevel: "error",
    build: { outDir, emptyOutDir: true, reportCompressedSize: false },
  });
} finally {
  await rm(work, { recursive: true, force: true });
}
