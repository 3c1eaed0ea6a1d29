/**
 * What a clean clone, a CI pipeline and a Docker build run first: `npm ci`. It refuses a lock file
 * that is out of step with package.json, and it warns (EBADENGINE) when a locked package wants a newer
 * Node than the one package.json's engines promise. Both are checked here offline, on a copy of the two
 * files in a temp folder with an empty cache: `--dry-run --offline` makes npm resolve the whole tree
 * from the lock without touching the network or this checkout's node_modules.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const NPM_TIMEOUT_MS = 120_000;

interface Lock {
  packages: Record<string, { version?: string; engines?: { node?: string } }>;
}

let dir: string;
let npm: { status: number | null; stdout: string; stderr: string };

before(() => {
  dir = mkdtempSync(join(tmpdir(), "edgesync-npm-ci-"));
  for (const file of ["package.json", "package-lock.json"]) copyFileSync(file, join(dir, file));
  const cache = join(dir, ".npm-cache");
  const args = ["ci", "--dry-run", "--offline", "--ignore-scripts", "--no-audit", "--no-fund", "--cache", cache];
  const r = spawnSync("npm", args, { cwd: dir, encoding: "utf8", timeout: NPM_TIMEOUT_MS });
  npm = { status: r.status, stdout: r.stdout, stderr: r.stderr };
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("npm ci on a clean copy of package.json and package-lock.json", () => {
  it("accepts the lock file as in step with package.json", () => {
    assert.equal(npm.status, 0, `npm ci --dry-run failed:\n${npm.stderr}`);
  });

  it("warns about no package's engines on the Node that package.json declares", () => {
    const warnings = npm.stderr.split("\n").filter((line) => line.includes("EBADENGINE"));
    assert.deepEqual(
      warnings,
      [],
      "a locked package wants a newer Node: pin an older one in overrides, or raise engines",
    );
  });

  it("keeps @nats-io/nuid on the 2.x line, whose engines accept Node 20", () => {
    const lock = JSON.parse(readFileSync("package-lock.json", "utf8")) as Lock;
    const nuids = Object.entries(lock.packages).filter(([path]) => path.endsWith("node_modules/@nats-io/nuid"));
    assert.ok(nuids.length > 0, "@nats-io/nuid is no longer in the lock: drop its entry from overrides");
    for (const [path, entry] of nuids) assert.match(entry.version ?? "", /^2\./, `${path} is ${entry.version}`);
  });
});
