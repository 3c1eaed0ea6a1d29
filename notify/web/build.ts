/**
 * Build step for the web inbox: `node dist/notify/web/build.js` (after tsc) writes
 * dist/notify/web/inbox.bundle.js, which the service serves without needing esbuild at run time.
 */
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { BUNDLE_FILE, bundleInbox, inboxSourceEntry } from "./bundle.js";

if (import.meta.url.endsWith(".ts"))
  throw new Error("run the compiled build step (node dist/notify/web/build.js), so the bundle lands in dist/");
const entry = await inboxSourceEntry();
if (entry === undefined) throw new Error("notify/web/inbox.ts not found: run the build from a source checkout");
const out = fileURLToPath(new URL(`./${BUNDLE_FILE}`, import.meta.url));
const code = await bundleInbox(entry);
await writeFile(out, code);
process.stdout.write(`web inbox: ${out} (${code.length} bytes)\n`);
