/**
 * What a live process costs, read from /proc (Linux): CPU time used so far and resident memory now.
 * The hubs bench reads a hub's agent and its nats-server child separately, so a reader sees which
 * of the two a hosted vault or a fanned-out edit costs.
 */
import { execFileSync } from "node:child_process";
import { readFile, readdir } from "node:fs/promises";
import { cpus, loadavg } from "node:os";

/** Clock ticks per second of /proc/PID/stat's utime and stime. */
const TICKS_PER_S = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** user + system CPU time of `pid` so far, ms (0 once it has gone). */
export async function cpuMs(pid: number | undefined): Promise<number> {
  if (!pid) return 0;
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
  // The command name (field 2) may hold spaces: count fields from the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_S : 0;
}

/**
 * `pid` and every process below it now (an agent and its nats-server child, Syncthing's monitor and
 * its serving process), from /proc. Children are listed per thread: a Go program forks from any of
 * its threads, so reading only the main thread's list missed Syncthing's serving process.
 */
export async function processTree(pid: number | undefined): Promise<number[]> {
  if (!pid) return [];
  const children: number[] = [];
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const listed = await readFile(`/proc/${pid}/task/${task}/children`, "utf8").catch(() => "");
    children.push(...listed.split(/\s+/).filter(Boolean).map(Number));
  }
  const below = await Promise.all(children.map(processTree));
  return [pid, ...below.flat()];
}

/** CPU time used so far by each of `roots` with everything below it, ms. */
export async function treeCpuMs(roots: (number | undefined)[]): Promise<number[]> {
  return Promise.all(
    roots.map(async (root) => {
      let total = 0;
      for (const pid of await processTree(root)) total += await cpuMs(pid);
      return total;
    }),
  );
}

/** VmRSS of `pid` now, KiB (NaN if it is gone). */
export async function rssKiB(pid: number | undefined): Promise<number> {
  const status = pid ? await readFile(`/proc/${pid}/status`, "utf8").catch(() => "") : "";
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) : NaN;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The median of `samples` VmRSS readings `everyMs` apart, MiB (one reading is at GC's mercy). */
export async function settledRssMiB(pid: number | undefined, samples = 5, everyMs = 1000): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < samples; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, everyMs));
    readings.push(await rssKiB(pid));
  }
  return Math.round((median(readings) / 1024) * 10) / 10;
}

/** The machine as a record states it: load averages (1, 5, 15 min) right now and the core count. */
export function machineNow(): { loadavg: number[]; cores: number } {
  return { loadavg: loadavg().map((l) => Math.round(l * 100) / 100), cores: cpus().length };
}
