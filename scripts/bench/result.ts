/** What each system runner returns; the reporter turns these into the table and bench/results.json. */
import type { LatencySummary } from "./fixtures.js";

export interface CloneResult {
  files: number;
  wallMs: number;
  peakRssMiB: number;
  /** What the RSS covers (which process or tree). */
  rssOf: string;
}

export interface SystemResult {
  system: string;
  /** How this system was set up, so a reader can judge fairness. */
  setup: string[];
  propagation?: LatencySummary;
  /** Extra propagation variants (e.g. Syncthing with its fs watcher only). */
  propagationVariants?: Record<string, LatencySummary>;
  clones: CloneResult[];
  /** Per arrival (edit × leaf) latency. */
  fanout?: LatencySummary & { leaves: number; edits: number };
  /** Latency until the edit was on every leaf. */
  fanoutAll?: LatencySummary;
  /**
   * CPU per fanned-out edit (user + system, each process with its children, e.g. an agent's
   * nats-server): the hub's, and the mean of one receiving leaf's. On a machine with fewer cores
   * than leaves, the leaves' sum is what the last arrival waits for.
   */
  fanoutCpu?: {
    hubMsPerEdit: number;
    /** The hub's own process, without its children (edgesync: the agent without its nats-server). */
    hubProcessMsPerEdit: number;
    leafMsPerEdit: number;
    leafProcessMsPerEdit: number;
    /** CPU per second with no edits (5 s before the measured edits): announcements, timers. */
    idleHubMsPerS: number;
    idleLeafMsPerS: number;
    leaves: number;
  };
  /** Measurements that could not be taken, with the reason. */
  errors: string[];
  /** A system that could not run at all (e.g. not installed), with how to fix it. */
  skipped?: string;
}

export const emptyResult = (system: string): SystemResult => ({ system, setup: [], clones: [], errors: [] });

/** Runs one measurement; a failure is recorded and the bench goes on with the next. */
export async function attempt<T>(result: SystemResult, what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    result.errors.push(`${what}: ${message.split("\n").slice(0, 6).join(" | ").slice(0, 800)}`);
    console.error(`[${result.system}] ${what} failed: ${message.slice(0, 2000)}`);
    return undefined;
  }
}

export const say = (system: string, message: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] [${system}] ${message}`);
