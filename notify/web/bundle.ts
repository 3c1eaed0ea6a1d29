/**
 * The web inbox's script: the prebuilt bundle next to this module (`npm run build` writes
 * dist/notify/web/inbox.bundle.js with build.ts), else — in a source checkout, where esbuild is
 * installed — bundled on first use in memory. Undefined when neither is possible.
 */
import { readFile, access } from "node:fs/promises";
import { fileURLToPath } from "node:url";

export const BUNDLE_FILE = "inbox.bundle.js";

/** The page's entry point in the source tree, wherever this module runs from (source or dist/). */
export async function inboxSourceEntry(): Promise<string | undefined> {
  for (const candidate of ["./inbox.ts", "../../../notify/web/inbox.ts"]) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  return undefined;
}

/** Bundles the page script with esbuild (a dev dependency: present at build and test time). */
export async function bundleInbox(entry: string, minify = true): Promise<string> {
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify,
    sourcemap: false,
    legalComments: "none",
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

let cached: Promise<string | undefined> | undefined;

export function loadInboxBundle(): Promise<string | undefined> {
  cached ??= (async () => {
    const prebuilt = await readFile(fileURLToPath(new URL(`./${BUNDLE_FILE}`, import.meta.url)), "utf8").catch(
      () => undefined,
    );
    if (prebuilt !== undefined) return prebuilt;
    const entry = await inboxSourceEntry();
    if (entry === undefined) return undefined;
    return bundleInbox(entry).catch(() => undefined);
  })();
  return cached;
}
