/**
 * Bench fixtures shared by every system under test: the generated vault data (4 KB markdown files
 * in 100 nested folders), the edit sequence, latency statistics, arrival detection on disk and the
 * process helpers (wall time + peak RSS through `/usr/bin/time`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { watch, existsSync, type FSWatcher } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, writeFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { processTree } from "./proc-probe.js";

export const FILE_BYTES = 4096;
/** Files in the vault used for propagation and fan-out (edits rotate over them). */
export const LIVE_VAULT_FILES = 100;

export interface BenchPlan {
  /** Sequential edits for the propagation measurement. */
  edits: number;
  /** Vault sizes to clone. */
  cloneSizes: number[];
  /** Receiving leaf sessions in the fan-out measurement. */
  fanoutLeaves: number;
  /** Edits fanned out (each one reaches every leaf: edits × leaves samples). */
  fanoutEdits: number;
  /** Per-arrival deadline. */
  arrivalTimeoutMs: number;
  /** Write a V8 CPU profile of the edgesync agents and clones into this folder. */
  cpuProfDir?: string;
}

export function markdown(i: number, bytes = FILE_BYTES): string {
  const para = `Paragraph about topic ${i}: the quick brown fox jumps over the lazy dog while notes accumulate. `;
  let text = `# Note ${i}\n\n`;
  while (text.length < bytes) text += `${para}\n\n`;
  return text.slice(0, bytes);
}

export const notePath = (i: number) => `notes/${String(i % 100).padStart(2, "0")}/note-${i}.md`;

/** Edit `n` of a run: a 4 KB file whose last line changes (so every edit is a real content change). */
export function editedMarkdown(file: number, n: number, tag: string): Buffer {
  const tail = `\nedit ${n} ${tag}\n`;
  return Buffer.from(markdown(file).slice(0, FILE_BYTES - tail.length) + tail);
}

/** Writes `count` generated notes under `dir`. */
export async function writeVaultFiles(dir: string, count: number): Promise<void> {
  const folders = new Set<string>();
  for (let i = 0; i < count; i++) folders.add(dirname(join(dir, notePath(i))));
  for (const folder of folders) await mkdir(folder, { recursive: true });
  const BATCH = 256; // bounded concurrency: never thousands of open files
  for (let start = 0; start < count; start += BATCH) {
    const writes: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + BATCH); i++) writes.push(writeFile(join(dir, notePath(i)), markdown(i)));
    await Promise.all(writes);
  }
}

/** Checks that `dir` holds exactly the generated notes 0..count-1, byte for byte. Returns a problem or undefined. */
export async function verifyVaultFiles(dir: string, count: number): Promise<string | undefined> {
  const found = (await listFiles(dir)).filter((p) => p.startsWith("notes/"));
  if (found.length !== count) return `${found.length} files under notes/ in ${dir}, expected ${count}`;
  for (let i = 0; i < count; i++) {
    const bytes = await readFile(join(dir, notePath(i)), "utf8").catch(() => undefined);
    if (bytes !== markdown(i)) return `${notePath(i)} differs in ${dir}`;
  }
  return undefined;
}

/** Every regular file under `dir`, relative, skipping dot-folders (.edgesync, .stfolder, …). */
export async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    if (entry.name.startsWith(".")) continue;
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

export interface LatencySummary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarise(samplesMs: number[]): LatencySummary {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    samples: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1]),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
  };
}

/**
 * Resolves with `performance.now()` at the moment `path` holds exactly `expected`. Detection is by
 * inotify on the parent folder (every system writes temp + rename, which is one event there), with
 * a 25 ms poll as a safety net for missed events; resolution is therefore the event latency.
 */
export function waitForBytes(path: string, expected: Buffer, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = false;
    let watcher: FSWatcher | undefined;
    let checking = false;
    let again = false;
    const finish = (error?: Error, at?: number) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(poll);
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(at as number);
    };
    const check = async () => {
      if (checking) return void (again = true);
      checking = true;
      do {
        again = false;
        const bytes = await readFile(path).catch(() => undefined);
        if (bytes?.equals(expected)) return finish(undefined, performance.now());
      } while (again && !done);
      checking = false;
    };
    try {
      if (existsSync(dirname(path))) watcher = watch(dirname(path), () => void check());
    } catch {
      watcher = undefined; // the poll still finds it
    }
    const poll = setInterval(() => void check(), 25);
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${path} to hold the edit`)), timeoutMs);
    void check();
  });
}

export async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail().slice(-4000)}` : ""}`);
}

export async function benchDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `es-bench-${label}-`));
}

/** Best-effort cleanup: a failure to remove a temp folder is reported, never fatal to the bench. */
export const removeDir = (dir: string) =>
  rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }).catch((error: unknown) => console.error(`bench: could not remove ${dir}: ${String(error)}`));

const discarded = new Set<string>();

/**
 * Marks a folder for removal when the bench ends (removeDiscarded). Not at once: on ext4, deleting
 * 10,000 files makes the next 10,000 creates slow for a minute or more (measured on the bench VM:
 * 0.35–1.2 s of creates became 4.2–4.9 s, nearly all kernel time), so a removal in the middle of a
 * run taxed whichever clone came next — automerge-repo's clone followed its probe's removal.
 * Why, on that VM: its ext4 runs without a journal, and there the inode allocator skips every inode
 * freed in the last 60 s (300 s while its inode-table block is still dirty), reading each one it
 * passes — so the creates after a mass delete scan thousands of freed inodes apiece. For the same
 * reason, a bench started within five minutes of another run's clean-up is slowed the same way.
 */
export function discardLater(dir: string): void {
  discarded.add(dir);
}

export async function removeDiscarded(): Promise<void> {
  for (const dir of discarded) await removeDir(dir);
  discarded.clear();
}

/** A free TCP port on 127.0.0.1 (for systems that cannot report an ephemeral one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export type Proc = ChildProcess & { output: () => string };

/** Spawns a long-running process; the last 100 KB of its output are kept for error messages. */
export function startProcess(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-100_000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.on("error", (error) => keep(Buffer.from(`spawn error: ${error.message}\n`)));
  return Object.assign(child, { output: () => output });
}

export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  await exited;
  clearTimeout(timer);
}

export interface TimedRun {
  code: number;
  wallMs: number;
  /** Peak resident set of the process (getrusage maxrss via GNU time), MiB. */
  peakRssMiB: number;
  output: string;
}

export const TIME_BIN = "/usr/bin/time";

/** Runs a command to completion under GNU time: wall clock from spawn to exit and its peak RSS. */
export async function timedRun(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<TimedRun> {
  if (!existsSync(TIME_BIN)) throw new Error(`${TIME_BIN} is missing: apt-get install -y time`);
  const rssFile = join(await benchDir("rss"), "rss");
  const started = performance.now();
  const child = startProcess(TIME_BIN, ["-f", "%M", "-o", rssFile, command, ...args], options);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs);
  const code = await new Promise<number>((r) => child.once("exit", (c) => r(c ?? -1)));
  const wallMs = performance.now() - started;
  clearTimeout(timer);
  const rssKiB = Number((await readFile(rssFile, "utf8").catch(() => "")).trim().split("\n").pop());
  await removeDir(dirname(rssFile));
  return { code, wallMs, peakRssMiB: Number.isFinite(rssKiB) ? Math.round(rssKiB / 1024) : NaN, output: child.output() };
}

/** Peak RSS so far (VmHWM) of a live process and its descendants, summed, MiB. */
export async function treePeakRssMiB(pid: number): Promise<number> {
  let kib = 0;
  const pids = await processTree(pid);
  for (const p of pids) {
    const status = await readFile(`/proc/${p}/status`, "utf8").catch(() => "");
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    if (match) kib += Number(match[1]);
  }
  return Math.round(kib / 1024);
}

/** Measures the time from each write (edit n) to its bytes at every receiver. */
export async function measureArrivals(opts: {
  edits: number;
  write: (path: string, bytes: Buffer, n: number) => Promise<void>;
  receivers: string[];
  files?: number;
  tag: string;
  timeoutMs: number;
  afterWrite?: (relPath: string) => Promise<void>;
}): Promise<{ perArrival: number[]; perEditAll: number[] }> {
  const perArrival: number[] = [];
  const perEditAll: number[] = [];
  for (let n = 0; n < opts.edits; n++) {
    const file = n % (opts.files ?? LIVE_VAULT_FILES);
    const rel = notePath(file);
    const bytes = editedMarkdown(file, n, opts.tag);
    const arrivals = opts.receivers.map((root) => waitForBytes(join(root, rel), bytes, opts.timeoutMs));
    arrivals.forEach((p) => p.catch(() => {})); // awaited below; no unhandled rejection meanwhile
    const t0 = performance.now();
    await opts.write(rel, bytes, n);
    await opts.afterWrite?.(rel);
    const times = await Promise.all(arrivals);
    const latencies = times.map((t) => t - t0);
    perArrival.push(...latencies);
    perEditAll.push(Math.max(...latencies));
  }
  return { perArrival, perEditAll };
}
