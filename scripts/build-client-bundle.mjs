#!/usr/bin/env node
// Bundles edgesync/client for browsers: dist/bridge/client/edgesync-client.js (ESM, one file,
// Automerge's WebAssembly inlined as base64 so any static server or file:// page can load it).
import { readFile } from "node:fs/promises";
import { build } from "esbuild";

/**
 * Automerge's base64 entry point initialises its WebAssembly with `initSync(bytes)`, a form
 * wasm-bindgen deprecated: every page and script loading the bundle printed "using deprecated
 * parameters for `initSync()`". Load that one module with the object form instead; fail the build
 * when Automerge's file no longer has the shape this replaces, rather than ship the warning again.
 */
const WASM_INIT_CALL = "initSync(wasmBlob);";
const automergeWasmInit = {
  name: "automerge-wasm-init",
  setup(pluginBuild) {
    pluginBuild.onLoad(
      { filter: /[\\/]@automerge[\\/]automerge[\\/]dist[\\/]mjs[\\/]wasm_bindgen_output[\\/]web[\\/]index\.js$/ },
      async (args) => {
        const source = await readFile(args.path, "utf8");
        if (!source.includes(WASM_INIT_CALL))
          throw new Error(
            `${args.path} no longer calls ${WASM_INIT_CALL}: check how this Automerge version initialises its wasm`,
          );
        return {
          contents: source.replace(WASM_INIT_CALL, "initSync({ module: wasmBlob });"),
          loader: "js",
          resolveDir: args.path.replace(/[\\/][^\\/]*$/, ""),
        };
      },
    );
  },
};

const result = await build({
  entryPoints: ["bridge/client/index.ts"],
  outfile: "dist/bridge/client/edgesync-client.js",
  bundle: true,
  format: "esm",
  // "neutral": no automatic "browser" condition, which would pick Automerge's bundler build (a separate .wasm file).
  platform: "neutral",
  target: "es2022",
  // The "import" condition picks @automerge/automerge's base64 build (no .wasm file to serve).
  conditions: ["import"],
  mainFields: ["module", "main"],
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: "warning",
  plugins: [automergeWasmInit],
});
const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
if (!Object.keys(result.metafile.inputs).some((path) => path.endsWith("wasm_bindgen_output/web/index.js"))) {
  console.error(
    "build-client-bundle: Automerge's wasm initialiser was not bundled from the expected file; the deprecated-initSync fix did not apply",
  );
  process.exit(1);
}
const builtins = Object.keys(result.metafile.inputs).filter((path) => path.startsWith("node:"));
if (builtins.length > 0) {
  console.error(`build-client-bundle: the browser bundle pulls in Node built-ins: ${builtins.join(", ")}`);
  process.exit(1);
}
console.log(`build-client-bundle: dist/bridge/client/edgesync-client.js ${(bytes / 1024).toFixed(0)} KiB`);
