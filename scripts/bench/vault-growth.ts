/**
 * The user's path through a vault of N generated notes, with real processes (as bench/edgesync.ts
 * runs them): `edgesync init` of the existing folder (wall, CPU, peak RSS), a leaf agent on it and
 * its idle RSS, the hub in step, `edgesync clone` (wall, peak RSS), and a 100-byte edit from the
 * leaf to a second leaf on the clone. CPU time and peak RSS are what a loaded machine disturbs
 * least; every row carries the load average when it was taken.
 */
import { readFile, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import { EdgesyncCluster } from "./edgesync.js";
import { benchDir, discardLater, measureArrivals, summarise, TIME_BIN, startProcess, waitUntil, writeVaultFiles } from "./fixtures.js";
import { say } from "./result.js";

export interface GrowthRow {
  files: number;
  init?: { wallMs: number; cpuMs: number; peakRssMiB: number; load1: number };
  /** The leaf agent on the folder, IDLE_SAMPLE_MS after it started. */
  agentIdle?: { rssMiB: number; peakRssMiB: number; load1: number };
  clone?: { wallMs: number; peakRssMiB: number; load1: number };
  /** A rewrite of one note's last line (~15 bytes differ) on the seeding leaf until its bytes are on the clone's leaf. */
  propagation?: { p50Ms: number; p99Ms: number; samples: number; load1: number };
  errors: string[];
}

/** When the idle RSS is read: the "20–40 s after sync start". */
const IDLE_SAMPLE_MS = 30_000;
const PROPAGATION_EDITS = 20;
/** A leaf agent on a big vault loads and rescans it before it reports; generous on a loaded machine. */
const AGENT_START_TIMEOUT_MS = 900_000;
const NAME = "vault-growth";

const load1 = () => Math.round(loadavg()[0] * 10) / 10;

/** `edgesync init` under GNU time: wall, user+sys CPU and peak RSS of the process. */
async function timedInit(cluster: EdgesyncCluster, dir: string, name: string): Promise<GrowthRow["init"]> {
  const report = join(await benchDir("init-time"), "time");
  const started = performance.now();
  const child = startProcess(TIME_BIN, ["-f", "%U %S %M", "-o", report, process.execPath, "dist/cmd/edgesync.js", "init", "--cwd", dir, "--name", name], { env: cluster.env("seed") });
  const code = await new Promise<number>((r) => child.once("exit", (c) => r(c ?? -1)));
  const wallMs = Math.round(performance.now() - started);
  if (code !== 0) throw new Error(`edgesync init exited ${code}: ${child.output().slice(-2000)}`);
  const [user, sys, rssKiB] = (await readFile(report, "utf8")).trim().split("\n").pop()!.split(" ").map(Number);
  discardLater(join(report, ".."));
  return { wallMs, cpuMs: Math.round((user + sys) * 1000), peakRssMiB: Math.round(rssKiB / 1024), load1: load1() };
}

async function statusKiB(pid: number, field: "VmRSS" | "VmHWM"): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
}

export async function measureGrowth(files: number): Promise<GrowthRow> {
  const row: GrowthRow = { files, errors: [] };
  const box = await benchDir(`growth-${files}`);
  const cluster = new EdgesyncCluster(box, { edits: 1, cloneSizes: [files], fanoutLeaves: 1, fanoutEdits: 1, arrivalTimeoutMs: 120_000, cpuProfDir: process.env.EDGESYNC_BENCH_CPU_PROF });
  try {
    await cluster.startHub(["seed"]);
    const seed = join(box, "seed");
    await writeVaultFiles(seed, files);
    say(NAME, `${files} files: edgesync init`);
    row.init = await timedInit(cluster, seed, `g${files}`);
    const keys = await Promise.all(["clone"].map((m) => cluster.publicKey(m)));
    await writeFile(join(seed, "authorized_keys"), `${await readFile(join(seed, "authorized_keys"), "utf8")}${keys.join("\n")}\n`);
    say(NAME, `${files} files: leaf agent, hub in step, idle RSS`);
    const started = Date.now();
    const leaf = await cluster.startLeaf("seed", seed, AGENT_START_TIMEOUT_MS);
    await waitUntil("the hub to hold the vault", async () => {
      const status = await cluster.cli("seed", ["status", "--cwd", seed, "--json"]);
      if (status.code !== 0) return false;
      const vaults = (JSON.parse(status.output) as { agent?: { vaults?: { converged: number }[] } }).agent?.vaults ?? [];
      return vaults.length > 0 && vaults.every((v) => v.converged >= 1);
    }, 900_000);
    await new Promise((r) => setTimeout(r, Math.max(0, IDLE_SAMPLE_MS - (Date.now() - started))));
    row.agentIdle = { rssMiB: Math.round((await statusKiB(leaf.pid!, "VmRSS")) / 1024), peakRssMiB: Math.round((await statusKiB(leaf.pid!, "VmHWM")) / 1024), load1: load1() };
    say(NAME, `${files} files: clone`);
    const cloneDir = join(box, "clone");
    const run = await cluster.cli("clone", ["clone", cluster.hubClientUrl, cloneDir, "--vault", `g${files}`, "--json", "--accept-hub-key", "--timeout-ms", "900000"], 1_000_000);
    if (run.code !== 0) throw new Error(`edgesync clone exited ${run.code}: ${run.output.slice(-2000)}`);
    row.clone = { wallMs: Math.round(run.wallMs), peakRssMiB: run.peakRssMiB, load1: load1() };
    say(NAME, `${files} files: propagation of a 100-byte edit`);
    await cluster.startLeaf("clone", cloneDir, AGENT_START_TIMEOUT_MS);
    const write = (rel: string, bytes: Buffer) => writeFile(join(seed, rel), bytes);
    await measureArrivals({ edits: 2, write, receivers: [cloneDir], tag: "warm", timeoutMs: 300_000 });
    const measured = await measureArrivals({ edits: PROPAGATION_EDITS, write, receivers: [cloneDir], tag: "edit", timeoutMs: 120_000 });
    const summary = summarise(measured.perArrival);
    row.propagation = { p50Ms: summary.p50Ms, p99Ms: summary.p99Ms, samples: summary.samples, load1: load1() };
  } catch (error) {
    row.errors.push(error instanceof Error ? error.message.slice(0, 1500) : String(error));
    say(NAME, `${files} files failed: ${String(error).slice(0, 500)}`);
  } finally {
    await cluster.stopAll();
    discardLater(box);
  }
  return row;
}
