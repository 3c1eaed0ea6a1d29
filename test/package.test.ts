/**
 * What `npm pack` would publish: every file the package's exports and bin name is in it, and no
 * test, test helper or scratch file is. Reads the built dist/ (npm test builds first).
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { assertBuilt } from "./helpers/cli.js";

interface PackageJson {
  bin: Record<string, string>;
  exports: Record<string, unknown>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** Packed files outside dist/: what npm always adds, and the postinstall script that fetches nats-server. */
const PACKED_OUTSIDE_DIST = new Set(["package.json", "README.md", "LICENSE", "scripts/install-nats-server.mjs"]);
/** Files the build makes that no .ts source compiles to: the browser bundles (see package.json "build"). */
const BUNDLED = /^dist\/(bridge\/client\/edgesync-client\.js|notify\/web\/)/;
const PACK_TIMEOUT_MS = 60_000;

let packed: Set<string>;
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as PackageJson;

/** Every file path an exports value names, through conditions (`{ import, types, … }`) at any depth. */
function exportTargets(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value && typeof value === "object") return Object.values(value).flatMap(exportTargets);
  return [];
}
const normalise = (path: string) => path.replace(/^\.\//, "");

before(() => {
  assertBuilt();
  // --ignore-scripts: "prepare" would rebuild dist/ under the test; the tests' build is the one to check.
  const r = spawnSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    encoding: "utf8",
    timeout: PACK_TIMEOUT_MS,
  });
  assert.equal(r.status, 0, `npm pack failed:\n${r.stderr}`);
  const [result] = JSON.parse(r.stdout) as { files: { path: string }[] }[];
  packed = new Set(result.files.map((f) => f.path));
});

describe("npm pack", () => {
  it("holds every file the exports and the bin name", () => {
    const named = [...Object.values(pkg.exports).flatMap(exportTargets), ...Object.values(pkg.bin)].map(normalise);
    assert.ok(named.length > 0);
    for (const path of named) assert.ok(packed.has(path), `${path} is named in package.json but not packed`);
  });

  it("holds no test, test helper or test folder", () => {
    const tests = [...packed].filter((path) => /\.test\.|(^|\/)test\/|test-nats-server/.test(path));
    assert.deepEqual(tests, []);
  });

  it("holds nothing outside dist/ but the package's own files and the nats-server installer", () => {
    const stray = [...packed].filter((path) => !path.startsWith("dist/") && !PACKED_OUTSIDE_DIST.has(path));
    assert.deepEqual(stray, [], "scratch, benchmarks and dev scripts stay out of the package");
  });

  it("holds in dist/ only what a current source compiles to, so nothing stale from a moved file ships", () => {
    const orphans = [...packed].filter((path) => {
      if (!path.startsWith("dist/") || BUNDLED.test(path)) return false;
      const source = path.replace(/^dist\//, "").replace(/\.(js|d\.ts)(\.map)?$/, ".ts");
      return !existsSync(source);
    });
    assert.deepEqual(orphans, []);
  });

  it("declares what edgesync/automerge-repo imports as an optional peer dependency: only its users install automerge-repo", () => {
    assert.equal(pkg.exports["./automerge-repo"], "./dist/bridge/automerge-repo/index.js");
    const adapter = readFileSync("dist/bridge/automerge-repo/adapter.js", "utf8");
    assert.match(adapter, /from "@automerge\/automerge-repo\/slim"/);
    assert.ok(pkg.peerDependencies?.["@automerge/automerge-repo"], "a peer dependency");
    assert.equal(pkg.peerDependenciesMeta?.["@automerge/automerge-repo"]?.optional, true);
  });
});
