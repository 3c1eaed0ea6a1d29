#!/usr/bin/env node
// Bundles edgesync/client for browsers: dist/bridge/client/edgesync-client.js (ESM, one file,
// Automerge's WebAssembly inlined as base64 so any static server or file:// page can load it).
import { build } from "esbuild";

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
});
const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
const builtins = Object.keys(result.metafile.inputs).filter((path) => path.startsWith("node:"));
if (builtins.length > 0) {
  console.error(`build-client-bundle: the browser bundle pulls in Node built-ins: ${builtins.join(", ")}`);
  process.exit(1);
}
console.log(`build-client-bundle: dist/bridge/client/edgesync-client.js ${(bytes / 1024).toFixed(0)} KiB`);
