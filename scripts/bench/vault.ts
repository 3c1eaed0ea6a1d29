/**
 * Vault growth benchmark: for generated vaults of 4 KB markdown files, (1) the document alone —
 * import, save, load and the local cost of a 100-byte edit, each size in its own child process so
 * peak RSS is that size's alone — and (2) the user's path with real processes (vault-growth.ts):
 * `edgesync init` of the existing folder, a leaf agent's idle RSS, `edgesync clone`, propagation.
 * Prints both tables; writes bench/vault.json and adds `vaultGrowth` to bench/results.json.
 *
 *   npm run bench:vault                                  (1,000 and 10,000 files)
 *   npm run bench:vault -- --sizes 1000,10000,50000      (the 50,000-file row takes minutes)
 *   npm run bench:vault -- --doc-only                    (part 1 only)
 *   npm run bench:vault -- --growth-only                 (part 2 only)
 *   node --import tsx scripts/bench/vault.ts --child 1000   (one size, JSON on stdout)
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";
import * as A from "@automerge/automerge";
import { createVaultDoc, applyFileOps, type FileOp } from "../../agent/vault/model/vault-doc.js";
import { loadDoc } from "../../agent/vault/model/load.js";
import { utf8Encode } from "../../agent/vault/model/bytes.js";
import { measureGrowth, type GrowthRow } from "./vault-growth.js";
import { removeDiscarded } from "./fixtures.js";

const DEFAULT_SIZES = [1_000, 10_000];
const SIZES_MAX = 100_000;
const EDITS = 200;

function markdown(i: number): string {
  const para = `Paragraph about topic ${i}: the quick brown fox jumps over the lazy dog while notes accumulate. `;
  let text = `# Note ${i}\n\n`;
  while (text.length < 4096) text += `${para}\n\n`;
  return text.slice(0, 4096);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function child(files: number) {
  const t = () => performance.now();
  let clock = 1_700_000_000_000;
  const ops: FileOp[] = Array.from({ length: files }, (_, i) => ({ type: "put", path: `notes/${i % 100}/note-${i}.md`, bytes: utf8Encode(markdown(i)), mtime: clock }));
  let start = t();
  let doc = createVaultDoc({ vaultId: "bench", name: "bench", createdAt: clock }, "aa".repeat(16));
  doc = applyFileOps(doc, ops, { time: ++clock, by: "bench" });
  const importMs = t() - start;
  start = t();
  const saved = A.save(doc);
  const saveMs = t() - start;
  start = t();
  let loaded = loadDoc([saved], "bb".repeat(16));
  const loadMs = t() - start;
  const editMs: number[] = [];
  for (let i = 0; i < EDITS; i++) {
    const path = `notes/${i % 100}/note-${i}.md`;
    const content = markdown(i).slice(0, 3996) + String(i).padStart(100, "x");
    start = t();
    loaded = applyFileOps(loaded, [{ type: "put", path, bytes: utf8Encode(content), mtime: clock }], { time: ++clock, by: "bench" });
    A.saveIncremental(loaded);
    editMs.push(t() - start);
  }
  editMs.sort((a, b) => a - b);
  const result = {
    files,
    importMs: Math.round(importMs),
    saveMs: Math.round(saveMs),
    savedBytes: saved.length,
    loadMs: Math.round(loadMs),
    edit100BytesP50Ms: Number(percentile(editMs, 50).toFixed(2)),
    edit100BytesP99Ms: Number(percentile(editMs, 99).toFixed(2)),
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
  process.stdout.write(JSON.stringify(result));
}

function parseSizes(argv: string[]): number[] {
  const i = argv.indexOf("--sizes");
  if (i < 0) return DEFAULT_SIZES;
  const sizes = (argv[i + 1] ?? "").split(",").map(Number);
  if (sizes.length === 0 || sizes.some((n) => !Number.isInteger(n) || n < 1 || n > SIZES_MAX)) throw new Error(`--sizes takes comma-separated file counts from 1 to ${SIZES_MAX}`);
  return sizes;
}

async function main() {
  const argv = process.argv.slice(2);
  const sizes = parseSizes(argv);
  const self = fileURLToPath(import.meta.url);
  const results = argv.includes("--growth-only") ? [] : sizes.map((files) => {
    const run = spawnSync(process.execPath, ["--import", "tsx", self, "--child", String(files)], { encoding: "utf8", maxBuffer: 1 << 20 });
    if (run.status !== 0) throw new Error(`bench child for ${files} files failed: ${run.stderr}`);
    const row = JSON.parse(run.stdout) as Record<string, number>;
    const withLoad: Record<string, number> = { ...row, load1: Math.round(loadavg()[0] * 10) / 10 };
    return withLoad;
  });
  console.table(results);
  const targets = { load10kUnderMs: 1000, edit100BytesAt10kUnderMs: 5 };
  const big = results.find((r) => r.files === 10_000);
  const verdict = { load10kOk: (big?.loadMs ?? Infinity) < targets.load10kUnderMs, edit10kOk: (big?.edit100BytesP50Ms ?? Infinity) < targets.edit100BytesAt10kUnderMs };
  console.log("targets:", targets, "met:", verdict);
  const growth: GrowthRow[] = [];
  if (!argv.includes("--doc-only")) {
    try {
      for (const files of sizes) growth.push(await measureGrowth(files));
    } finally {
      await removeDiscarded();
    }
    console.table(growth.map(flatten));
  }
  const machine = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memMiB: Math.round(totalmem() / 2 ** 20), loadavgAtEnd: loadavg() };
  const when = new Date().toISOString();
  mkdirSync("bench", { recursive: true });
  writeFileSync("bench/vault.json", JSON.stringify({ when, machine, results, targets, verdict, growth }, null, 2));
  console.log("wrote bench/vault.json");
  if (growth.length > 0) addToResults({ when, machine, rows: growth });
}

/** One line per size for the console table. */
function flatten(row: GrowthRow): Record<string, number | string | undefined> {
  return {
    files: row.files,
    "init wall ms": row.init?.wallMs,
    "init cpu ms": row.init?.cpuMs,
    "init peak MiB": row.init?.peakRssMiB,
    "agent idle MiB": row.agentIdle?.rssMiB,
    "agent peak MiB": row.agentIdle?.peakRssMiB,
    "clone wall ms": row.clone?.wallMs,
    "clone peak MiB": row.clone?.peakRssMiB,
    "edit p50 ms": row.propagation?.p50Ms,
    "edit p99 ms": row.propagation?.p99Ms,
    load1: row.propagation?.load1 ?? row.init?.load1,
    errors: row.errors.length > 0 ? row.errors.join(" | ").slice(0, 200) : undefined,
  };
}

/** bench/results.json belongs to `npm run bench`; the growth table is one key in it, the rest is kept. */
function addToResults(vaultGrowth: unknown): void {
  const path = "bench/results.json";
  const current = existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>) : {};
  writeFileSync(path, JSON.stringify({ ...current, vaultGrowth }, null, 2));
  console.log(`added vaultGrowth to ${path}`);
}

const childIndex = process.argv.indexOf("--child");
if (childIndex >= 0) child(Number(process.argv[childIndex + 1]));
else
  main().catch((error: unknown) => {
    console.error(`bench:vault: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
