/**
 * Vault document benchmark (issue 2): import, save, load of generated 1,000- and 10,000-file
 * vaults of 4 KB markdown files, and the local cost of a 100-byte edit. Each size runs in its own
 * child process so peak RSS is that size's alone. Prints a table; writes bench/vault.json.
 *
 *   npm run bench:vault            (both sizes)
 *   node --import tsx scripts/bench/vault.ts --child 1000   (one size, JSON on stdout)
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as A from "@automerge/automerge";
import { createVaultDoc, applyFileOps, type FileOp } from "../../agent/vault/model/vault-doc.js";
import { loadDoc } from "../../agent/vault/model/load.js";
import { utf8Encode } from "../../agent/vault/model/bytes.js";

const SIZES = [1_000, 10_000];
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

function main() {
  const self = fileURLToPath(import.meta.url);
  const results = SIZES.map((files) => {
    const run = spawnSync(process.execPath, ["--import", "tsx", self, "--child", String(files)], { encoding: "utf8", maxBuffer: 1 << 20 });
    if (run.status !== 0) throw new Error(`bench child for ${files} files failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as Record<string, number>;
  });
  console.table(results);
  const targets = { load10kUnderMs: 1000, edit100BytesAt10kUnderMs: 5 };
  const big = results.find((r) => r.files === 10_000);
  const verdict = { load10kOk: (big?.loadMs ?? Infinity) < targets.load10kUnderMs, edit10kOk: (big?.edit100BytesP50Ms ?? Infinity) < targets.edit100BytesAt10kUnderMs };
  console.log("targets:", targets, "met:", verdict);
  mkdirSync("bench", { recursive: true });
  writeFileSync("bench/vault.json", JSON.stringify({ when: new Date().toISOString(), node: process.version, results, targets, verdict }, null, 2));
  console.log("wrote bench/vault.json");
}

const childIndex = process.argv.indexOf("--child");
if (childIndex >= 0) child(Number(process.argv[childIndex + 1]));
else main();
