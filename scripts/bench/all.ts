/**
 * `npm run bench`: edgesync side by side with Syncthing and an automerge-repo websocket sync server,
 * in one invocation on loopback. Measures (1) propagation write on leaf A → bytes on disk at leaf B
 * via the hub, (2) clone of 1,000- and 10,000-file vaults (wall time, peak RSS), (3) hub fan-out of
 * one edit to 20 leaf sessions. Prints a table with ratios and writes bench/results.json.
 *
 *   npm run bench
 *   node --import tsx scripts/bench/all.ts --only edgesync --edits 50 --sizes 1000 --leaves 5
 *   node --import tsx scripts/bench/all.ts --cpu-prof bench/prof      (V8 profiles of the edgesync processes)
 *   npm run bench -- --hubs 3 --leaves 30   (hubs as one NATS cluster instead: scripts/bench/hubs.ts)
 *
 * A system that is not installed (Syncthing: `apt-get install -y syncthing`) is reported as not
 * run, with the command to install it; the others still run.
 */
import { removeDiscarded, type BenchPlan } from "./fixtures.js";
import { emptyResult, type SystemResult } from "./result.js";
import { runEdgesync } from "./edgesync.js";
import { runSyncthing } from "./syncthing.js";
import { runAutomergeRepo } from "./automerge-repo.js";
import { printTable, writeResults } from "./report.js";
import { BenchArgs } from "./args.js";
import { parseHubsPlan, runHubsBench } from "./hubs.js";

const RUNNERS: Record<string, (plan: BenchPlan) => Promise<SystemResult>> = {
  edgesync: runEdgesync,
  syncthing: runSyncthing,
  "automerge-repo": runAutomergeRepo,
};

function parseArgs(argv: string[]): { plan: BenchPlan; only: string[]; out: string } {
  const args = new BenchArgs(argv);
  const sizes = (args.value("--sizes") ?? "1000,10000").split(",").map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000))
    throw new Error(`--sizes takes comma-separated file counts from 1 to 100000`);
  const only = (args.value("--only") ?? Object.keys(RUNNERS).join(",")).split(",");
  for (const name of only)
    if (!RUNNERS[name])
      throw new Error(`--only: unknown system ${JSON.stringify(name)}; use ${Object.keys(RUNNERS).join(", ")}`);
  const plan: BenchPlan = {
    edits: args.int("--edits", 200, 1, 10_000),
    cloneSizes: sizes,
    fanoutLeaves: args.int("--leaves", 20, 1, 100),
    fanoutEdits: args.int("--fanout-edits", 10, 1, 1000),
    arrivalTimeoutMs: args.int("--arrival-timeout-ms", 60_000, 1000, 600_000),
    cpuProfDir: args.value("--cpu-prof"),
  };
  return { plan, only, out: args.value("--out") ?? "bench/results.json" };
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes("--hubs")) {
    const hubsPlan = parseHubsPlan(new BenchArgs(argv));
    try {
      return await runHubsBench(hubsPlan);
    } finally {
      await removeDiscarded();
    }
  }
  const { plan, only, out } = parseArgs(argv);
  const results: SystemResult[] = [];
  try {
    for (const name of only) {
      const started = Date.now();
      results.push(await RUNNERS[name](plan).catch((error: unknown) => ({ ...emptyResult(name), errors: [`runner crashed: ${error instanceof Error ? error.message : String(error)}`] })));
      console.error(`[${name}] done in ${Math.round((Date.now() - started) / 1000)} s`);
    }
  } finally {
    await removeDiscarded();
  }
  const table = printTable(results, plan);
  writeResults(results, plan, table, out);
}

main().catch((error: unknown) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
