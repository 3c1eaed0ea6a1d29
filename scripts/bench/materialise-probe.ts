/**
 * The write half of a clone, in one process: a vault of N generated notes is made once, its
 * `.edgesync/` state copied into an empty folder, and the folder binding's reconcile writes every
 * file there — what `edgesync clone` does after the sync. Prints the time per run.
 *   node --import tsx scripts/bench/materialise-probe.ts [--files 10000] [--runs 3]
 */
import { cp, rm, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { openLocalVault } from "../../agent/local-vault/local-vault.js";
import { DISK_INDEX_FILES } from "../../agent/fs/disk-index.js";
import { benchDir, writeVaultFiles, verifyVaultFiles } from "./fixtures.js";

const arg = (flag: string, fallback: string) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const files = Number(arg("--files", "10000"));
const runs = Number(arg("--runs", "3"));
const box = await benchDir("materialise-probe");
const source = join(box, "source");
await writeVaultFiles(source, files);
execFileSync(process.execPath, ["dist/cmd/edgesync.js", "init", "--cwd", source, "--name", "probe"], { env: { ...process.env, EDGESYNC_HOME: join(box, "home"), EDGESYNC_LOG_LEVEL: "warn" }, stdio: "inherit" });
for (let i = 0; i < runs; i++) {
  const target = join(box, `target-${i}`);
  await mkdir(target);
  await cp(join(source, ".edgesync"), join(target, ".edgesync"), { recursive: true });
  for (const name of DISK_INDEX_FILES) await rm(join(target, ".edgesync", name), { force: true });
  const vault = await openLocalVault({ root: target, peerId: "UPROBE", holder: "materialise-probe", watch: false });
  const started = performance.now();
  await vault.binding.reconcile();
  const ms = performance.now() - started;
  await vault.close();
  const problem = await verifyVaultFiles(target, files);
  console.log(`run ${i}: ${files} files written in ${ms.toFixed(0)} ms${problem ? ` — ${problem}` : ""}`);
  await rm(target, { recursive: true, force: true });
}
await rm(box, { recursive: true, force: true });
