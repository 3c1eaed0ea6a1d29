/** Runs one seed twice and compares trace hashes (determinism); formats replay commands and drawn options. */
import { simulate, type SimOptions, type SimResult } from "./simulation.js";

export interface SeedReport {
  result: SimResult;
  /** False when the replay of the seed produced a different trace hash. */
  deterministic: boolean;
  replayHash: string | undefined;
}

export const hex = (n: number) => `0x${n.toString(16)}`;

export async function runSeed(options: SimOptions, twice = true): Promise<SeedReport> {
  const result = await simulate(options);
  if (!twice) return { result, deterministic: true, replayHash: undefined };
  const replay = await simulate(options);
  return { result, deterministic: replay.traceHash === result.traceHash, replayHash: replay.traceHash };
}

/** One line that replays exactly this run (every drawn option pinned, so a later change of defaults does not move it). */
export const replayCommand = (r: SimResult) =>
  `npm run dst -- --seed ${hex(r.seed)} --faults ${r.options.faults} --nodes ${r.options.nodes} --hubs ${r.options.hubs} --replicas ${r.options.replicas} --ticks ${r.options.ticks} --steps ${r.options.steps}`;

export const describeOptions = (r: SimResult) =>
  `nodes=${r.options.nodes} hubs=${r.options.hubs} replicas=${r.options.replicas} ticks=${r.options.ticks} steps=${r.options.steps} faults=${r.options.faults}`;
