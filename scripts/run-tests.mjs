#!/usr/bin/env node
// Runs every *.test.ts under the source folders with node's own test runner (through tsx).
// Node 20's --test takes no globs, so the files are collected here.
// Usage: node scripts/run-tests.mjs [--unit] [--only SUBSTRING]
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

const ROOTS = ["agent", "cmd", "bridge", "notify", "mcp", "dst", "test", "scripts"];
const SKIP_DIRS = new Set(["node_modules", "dist", "artifacts"]);

function collect(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (SKIP_DIRS.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const unitOnly = args.includes("--unit");
const onlyIdx = args.indexOf("--only");
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;
let files = ROOTS.flatMap((root) => collect(root, [])).sort();
if (unitOnly) files = files.filter((f) => !f.startsWith("test/"));
if (only) files = files.filter((f) => f.includes(only));
if (files.length === 0) {
  console.error("run-tests: no test files matched");
  process.exit(1);
}
// Two cores: two test files at a time keeps real nats-server processes from starving each other.
// The timeout is per file (each runs in its own process): generous, since a loaded machine is slow.
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=900000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
