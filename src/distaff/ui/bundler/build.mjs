// distaff's generative-UI bundler: each graph's components (the `ui` key of langgraph.json)
// bundled with esbuild into the layout LangGraph's UI bundler writes, which
// `LoadExternalComponent` (@langchain/langgraph-sdk/react-ui) loads:
//
//   <out>/schemas.json                     {"<graph>": {"assets": [...], "name": "<graph>"}}
//   <out>/public/<graph>/entrypoint.js     an IIFE in the global __LGUI_<graph>, with render()
//   <out>/public/<graph>/entrypoint.css    when the components import CSS
//
//   node build.mjs '<json: {projectDir, outDir, graphs: {id: "./file.tsx"}, shared, watch}>'
//
// distaff (src/distaff/ui/bundler.py) runs it from its cache directory, where `npm ci`
// installed esbuild from this directory's lockfile. The user's own imports resolve from their
// project's node_modules. A graph whose build fails is left out of schemas.json (so the server
// answers 404 for it) until a build succeeds; with `watch`, every change rebuilds.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, relative } from "node:path";
import * as esbuild from "esbuild";

const config = JSON.parse(process.argv[2] ?? "{}");
const { projectDir, outDir, graphs, shared = [], watch = false } = config;
const publicDir = join(outDir, "public");

// What the host page provides through the SDK's bootstrapUiContext (and, for `ui_config.shared`,
// its experimental_loadShare): left out of the bundle and asked of the host at load time.
const EXTERNALS = [
  "react",
  "react-dom",
  "react/jsx-runtime",
  "@langchain/langgraph-sdk",
  "@langchain/langgraph-sdk/react",
  "@langchain/langgraph-sdk/react-ui",
  ...shared,
];
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const EXTERNAL = new RegExp(`^(${EXTERNALS.map(escapeRegExp).join("|")})$`);

// Each external import becomes a CommonJS module whose exports are the host's module, looked up
// when the bundle runs (after the host page has bootstrapped), not when it is built.
const hostModules = {
  name: "lgui-host-modules",
  setup(build) {
    build.onResolve({ filter: EXTERNAL }, (args) => ({ path: args.path, namespace: "lgui-host" }));
    build.onLoad({ filter: /.*/, namespace: "lgui-host" }, (args) => ({
      contents:
        `const lookup = globalThis[Symbol.for("LGUI_REQUIRE")];\n` +
        `if (typeof lookup !== "function") throw new Error(` +
        `"this component bundle needs the page to import @langchain/langgraph-sdk/react-ui first");\n` +
        `module.exports = lookup(${JSON.stringify(args.path)});\n`,
      loader: "js",
    }));
  },
};

// The entry module: the user's default export (component name -> React component) and the
// render() that the fragment of POST /ui/{graph} calls once this script has loaded.
function entry(graphId, file) {
  return {
    name: "lgui-entry",
    setup(build) {
      build.onResolve({ filter: /^lgui-entry$/ }, () => ({ path: graphId, namespace: "lgui-entry" }));
      build.onLoad({ filter: /.*/, namespace: "lgui-entry" }, () => ({
        resolveDir: projectDir,
        loader: "js",
        contents: `import components from ${JSON.stringify(file)};
export function render(name, shadowRootId) {
  const host = document.getElementById(shadowRootId);
  const root = host && host.shadowRoot;
  if (!root) throw new Error("no shadow root #" + shadowRootId + " to render " + name + " into");
  const target = document.createElement("div");
  root.appendChild(target);
  window[Symbol.for("LGUI_EXT_STORE")].respond(shadowRootId, components[name], target);
}
`,
      }));
    },
  };
}

const schemas = {};
function writeSchemas() {
  mkdirSync(outDir, { recursive: true });
  // Whole or not at all: the server may read it at any moment.
  const tmp = join(outDir, `.schemas.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(schemas, null, 2) + "\n");
  renameSync(tmp, join(outDir, "schemas.json"));
}

// The files a build wrote, entrypoint.js first: what the POST fragment links.
function assetsOf(result, dir) {
  const names = Object.keys(result.metafile?.outputs ?? {}).map((p) => relative(dir, join(projectDir, p)));
  const order = (n) => (n.endsWith(".js") ? 0 : n.endsWith(".css") ? 1 : 2);
  return [...new Set(names.filter((n) => /\.(js|css)$/.test(n) && !n.includes("/")))].sort(
    (a, b) => order(a) - order(b) || a.localeCompare(b),
  );
}

function options(graphId, file, dir) {
  return {
    entryPoints: { entrypoint: "lgui-entry" },
    absWorkingDir: projectDir, // esbuild's path comments are relative to it: no absolute paths
    outdir: dir,
    bundle: true,
    platform: "browser",
    target: "es2020",
    format: "iife",
    globalName: `__LGUI_${graphId.replace(/[^a-zA-Z0-9]/g, "_")}`,
    jsx: "automatic",
    define: { "process.env.NODE_ENV": JSON.stringify(watch ? "development" : "production") },
    minify: !watch,
    metafile: true,
    write: true,
    logLevel: "silent", // errors are printed below, once, with the graph they belong to
    // Images inline; fonts (from CSS) beside the stylesheet, which links them relatively.
    loader: {
      ".png": "dataurl",
      ".jpg": "dataurl",
      ".jpeg": "dataurl",
      ".gif": "dataurl",
      ".svg": "dataurl",
      ".webp": "dataurl",
      ".woff": "file",
      ".woff2": "file",
      ".ttf": "file",
    },
    assetNames: "[name]-[hash]",
    plugins: [hostModules, entry(graphId, file)],
  };
}

async function report(graphId, messages, kind) {
  if (messages.length === 0) return;
  const text = await esbuild.formatMessages(messages, { kind, color: false });
  process.stderr.write(`ui: ${graphId}: ${kind === "error" ? "build failed" : "warnings"}\n${text.join("")}`);
}

async function buildOnce(graphId, file) {
  // Built beside the old bundle and swapped in, so a server never serves half of one.
  const dir = join(publicDir, graphId);
  const fresh = join(publicDir, `.${basename(dir)}.${process.pid}`);
  rmSync(fresh, { recursive: true, force: true });
  const started = Date.now();
  try {
    const result = await esbuild.build(options(graphId, file, fresh));
    await report(graphId, result.warnings, "warning");
    rmSync(dir, { recursive: true, force: true });
    renameSync(fresh, dir);
    schemas[graphId] = { assets: assetsOf(result, fresh), name: graphId };
    console.log(`ui: built ${graphId} (${schemas[graphId].assets.join(", ")}) in ${Date.now() - started} ms`);
    return true;
  } catch (error) {
    rmSync(fresh, { recursive: true, force: true });
    await report(graphId, error.errors ?? [{ text: String(error) }], "error");
    delete schemas[graphId];
    return false;
  }
}

async function watchGraph(graphId, file) {
  const dir = join(publicDir, graphId);
  let started = Date.now();
  const onEnd = {
    name: "lgui-schemas",
    setup(build) {
      build.onStart(() => {
        started = Date.now();
      });
      build.onEnd(async (result) => {
        if (result.errors.length > 0) {
          await report(graphId, result.errors, "error");
          delete schemas[graphId];
        } else {
          await report(graphId, result.warnings, "warning");
          schemas[graphId] = { assets: assetsOf(result, dir), name: graphId };
          console.log(`ui: built ${graphId} (${schemas[graphId].assets.join(", ")}) in ${Date.now() - started} ms`);
        }
        writeSchemas();
      });
    },
  };
  const opts = options(graphId, file, dir);
  const context = await esbuild.context({ ...opts, plugins: [...opts.plugins, onEnd] });
  await context.watch();
  return context;
}

if (!projectDir || !outDir || !graphs) {
  console.error("usage: node build.mjs '{\"projectDir\": ..., \"outDir\": ..., \"graphs\": {...}}'");
  process.exit(64);
}
mkdirSync(publicDir, { recursive: true });
if (!existsSync(join(outDir, ".gitignore"))) {
  writeFileSync(join(outDir, ".gitignore"), "# distaff's generative-UI bundles (distaff build-ui)\n*\n");
}
if (watch) {
  const contexts = [];
  for (const [graphId, file] of Object.entries(graphs)) contexts.push(await watchGraph(graphId, file));
  // distaff holds our stdin: when it goes (even killed outright), so do we.
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("close", () => process.exit(0));
  process.stdin.resume();
  process.on("SIGTERM", async () => {
    await Promise.all(contexts.map((c) => c.dispose()));
    process.exit(0);
  });
} else {
  let ok = true;
  for (const [graphId, file] of Object.entries(graphs)) ok = (await buildOnce(graphId, file)) && ok;
  writeSchemas();
  process.exit(ok ? 0 : 1);
}
