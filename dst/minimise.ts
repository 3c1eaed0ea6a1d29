/**
 * Shrinks a failing run to a short reproducer: delta debugging (ddmin) over the run's workload steps
 * (which include its crashes, partitions, link losses and authorized_keys edits), keeping a subset as
 * long as the run still fails. Each try is a whole deterministic run of the same seed and options
 * with the other steps left out; every step draws from its own stream, so a kept step does the same
 * thing with or without the others. Per-message faults (drops, delays) stay on.
 */
import { simulate, type SimOptions, type SimResult } from "./simulation.js";
import { hex } from "./run-seeds.js";

export interface Minimised {
  /** Step indices kept. */
  keep: number[];
  result: SimResult;
  runs: number;
}

/** Tries at most this many runs (each is a whole simulation). */
export const MINIMISE_RUNS_MAX = 300;

const skipOf = (steps: number, keep: readonly number[]) =>
  new Set(Array.from({ length: steps }, (_, i) => i).filter((i) => !keep.includes(i)));

export async function minimise(
  options: SimOptions,
  fails: (r: SimResult) => boolean = (r) => r.violations.length > 0,
  runsMax = MINIMISE_RUNS_MAX,
): Promise<Minimised> {
  let best = await simulate({ ...options, skip: undefined });
  let runs = 1;
  const steps = best.options.steps;
  const pinned: SimOptions = {
    ...options,
    nodes: best.options.nodes,
    hubs: best.options.hubs,
    replicas: best.options.replicas,
    ticks: best.options.ticks,
    steps,
    faults: best.options.faults,
  };
  let keep = Array.from({ length: steps }, (_, i) => i);
  if (!fails(best)) return { keep, result: best, runs };
  let chunks = 2;
  while (keep.length >= 1 && runs < runsMax) {
    const size = Math.ceil(keep.length / chunks);
    let reduced = false;
    for (let start = 0; start < keep.length && runs < runsMax; start += size) {
      const candidate = [...keep.slice(0, start), ...keep.slice(start + size)];
      const attempt = await simulate({ ...pinned, skip: skipOf(steps, candidate) });
      runs++;
      if (fails(attempt)) {
        keep = candidate;
        best = attempt;
        chunks = Math.max(chunks - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (size <= 1) break;
      chunks = Math.min(chunks * 2, keep.length);
    }
  }
  return { keep, result: best, runs };
}

/** The reproducer as a node:test case to paste into dst/dst.test.ts. */
export function testCase(m: Minimised): string {
  const r = m.result;
  const first = r.violations[0] ?? "no violation";
  const skip = [...skipOf(r.options.steps, m.keep)];
  const planted = r.plantedBug ? ", plantedBug: true" : "";
  return [
    `it(${JSON.stringify(`keeps its invariants on seed ${hex(r.seed)} (${first.slice(0, 80)})`)}, async () => {`,
    `  // ${m.keep.length} of ${r.options.steps} workload steps kept (steps ${m.keep.join(", ")}; minimised in ${m.runs} runs)`,
    `  const result = await simulate({ seed: ${hex(r.seed)}, faults: "${r.options.faults}", nodes: ${r.options.nodes}, hubs: ${r.options.hubs}, replicas: ${r.options.replicas}, ticks: ${r.options.ticks}, steps: ${r.options.steps}, skip: new Set([${skip.join(", ")}])${planted} });`,
    `  assert.deepEqual(result.violations, []);`,
    `});`,
  ].join("\n");
}
