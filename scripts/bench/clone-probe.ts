/**
 * Repeats one edgesync clone against a hub seeded once, for profiling the clone path:
 *   node --import tsx scripts/bench/clone-probe.ts [--files 10000] [--runs 3] [--cpu-prof DIR]
 * Prints each run's wall time; with EDGESYNC_PROBE_LOG=debug the clone's log goes to stderr.
 */
import { join } from "node:path";
import { EdgesyncCluster } from "./edgesync.js";
import { benchDir, discardLater, removeDiscarded } from "./fixtures.js";

const arg = (flag: string, fallback: string) => {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const files = Number(arg("--files", "10000"));
const runs = Number(arg("--runs", "3"));
const cpuProfDir = process.argv.includes("--cpu-prof") ? arg("--cpu-prof", "bench/prof") : undefined;
const box = await benchDir("clone-probe");
const cluster = new EdgesyncCluster(box, { edits: 1, cloneSizes: [files], fanoutLeaves: 1, fanoutEdits: 1, arrivalTimeoutMs: 60_000 });
try {
  await cluster.startHub(["seed"]);
  const seed = await cluster.createVault("seed", "probe", files, ["clone"]);
  const t0 = Date.now();
  await cluster.seedHub("seed", seed);
  console.log(`seeded the hub with ${files} files in ${Date.now() - t0} ms`);
  cluster.plan.cpuProfDir = cpuProfDir;
  for (let i = 0; i < runs; i++) {
    const dir = join(box, `clone-${i}`);
    const run = await cluster.cli("clone", ["clone", cluster.hubClientUrl, dir, "--vault", "probe", "--json", "--accept-hub-key", "--timeout-ms", "600000"], 700_000);
    console.log(`clone ${i}: exit ${run.code}, ${Math.round(run.wallMs)} ms, peak RSS ${run.peakRssMiB} MiB`);
    if (run.code !== 0) console.log(run.output.slice(-3000));
    if (process.env.EDGESYNC_PROBE_LOG) console.error(run.output);
    discardLater(dir); // not now: it would slow the next clone's creates (see discardLater)
  }
} finally {
  await cluster.stopAll();
  discardLater(box);
  await removeDiscarded();
}
