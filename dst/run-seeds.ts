/** Runs many seeds, each twice, and reports violations and determinism (equal trace hashes). */
import { simulate, type FaultLevel, type SimResult } from "./simulation.js";

export interface SeedReport {
  result: SimResult;
  /** False when the replay of the seed produced a different trace hash. */
  deterministic: boolean;
}

export async function runSeed(seed: number, faults: FaultLevel, nodes?: number, steps?: number, plantedBug = false, twice = true): Promise<SeedReport> {
  const result = await simulate({ seed, faults, nodes, steps, plantedBug });
  if (!twice) return { result, deterministic: true };
  const replay = await simulate({ seed, faults, nodes, steps, plantedBug });
  return { result, deterministic: replay.traceHash === result.traceHash };
}

export const replayCommand = (r: SimResult) => `npm run dst -- --seed 0x${r.seed.toString(16)} --faults ${r.options.faults} --nodes ${r.options.nodes} --steps ${r.options.steps}`;

/** Shrinks a failing run: drops workload steps one at a time while the failure remains. */
export async function minimise(seed: number, faults: FaultLevel, nodes: number, steps: number, plantedBug = false): Promise<{ skip: number[]; violations: string[] }> {
  const skip = new Set<number>();
  let violations = (await simulate({ seed, faults, nodes, steps, plantedBug })).violations;
  if (violations.length === 0) return { skip: [], violations };
  for (let step = steps - 1; step >= 0; step--) {
    skip.add(step);
    const attempt = await simulate({ seed, faults, nodes, steps, plantedBug, skip });
    if (attempt.violations.length > 0) violations = attempt.violations;
    else skip.delete(step);
  }
  return { skip: [...skip].sort((a, b) => a - b), violations };
}
