/**
 * The measurement phases every system runs the same way, so the three runners differ only in how
 * they set their system up: propagation (write on A → bytes on B) and fan-out (write on A → bytes
 * on every leaf), each after a two-edit warm-up, recorded into the system's result.
 */
import { measureArrivals, summarise, type BenchPlan } from "./fixtures.js";
import { attempt, say, type SystemResult } from "./result.js";
import { cpuMs, treeCpuMs } from "./proc-probe.js";

/** The processes whose CPU a fan-out costs: the hub's and each receiving leaf's (pids of process trees). */
export interface FanoutProcesses {
  hub: (number | undefined)[];
  leaves: (number | undefined)[];
}

export interface Writer {
  write: (relPath: string, bytes: Buffer) => Promise<void>;
  /** Called after each write (Syncthing: ask for a scan of that path). */
  afterWrite?: (relPath: string) => Promise<void>;
}

export async function measurePropagation(result: SystemResult, plan: BenchPlan, writer: Writer, receiver: string, route: string): Promise<void> {
  const measured = await attempt(result, "propagation", async () => {
    await measureArrivals({ edits: 2, ...writer, receivers: [receiver], tag: "warmup", timeoutMs: 60_000 });
    say(result.system, `propagation: ${plan.edits} edits ${route}`);
    return measureArrivals({ edits: plan.edits, ...writer, receivers: [receiver], tag: "prop", timeoutMs: plan.arrivalTimeoutMs });
  });
  if (measured) result.propagation = summarise(measured.perArrival);
}

/** `join` brings up the leaves and returns every receiving folder (inside the attempt: a failure is recorded). */
export async function measureFanout(
  result: SystemResult,
  plan: BenchPlan,
  writer: Writer,
  join: () => Promise<string[]>,
  route: string,
  processes?: () => FanoutProcesses | Promise<FanoutProcesses>,
): Promise<void> {
  await attempt(result, "fan-out", async () => {
    const receivers = await join();
    say(result.system, `fan-out: ${plan.fanoutEdits} edits ${route} → ${receivers.length} leaves`);
    await measureArrivals({ edits: 2, ...writer, receivers, tag: "fanwarm", timeoutMs: 120_000 });
    const procs = await processes?.();
    const idle = procs && (await idleCpuMsPerS(procs));
    const cpuBefore = procs && {
      hub: await treeCpuMs(procs.hub),
      hubAlone: await cpuMs(procs.hub[0]),
      leaves: await treeCpuMs(procs.leaves),
      leavesAlone: await Promise.all(procs.leaves.map(cpuMs)),
    };
    const fan = await measureArrivals({ edits: plan.fanoutEdits, ...writer, receivers, tag: "fan", timeoutMs: plan.arrivalTimeoutMs });
    result.fanout = { ...summarise(fan.perArrival), leaves: receivers.length, edits: plan.fanoutEdits };
    result.fanoutAll = summarise(fan.perEditAll);
    if (procs && cpuBefore) {
      const hub = sum(await treeCpuMs(procs.hub)) - sum(cpuBefore.hub);
      const leaves = sum(await treeCpuMs(procs.leaves)) - sum(cpuBefore.leaves);
      const hubAlone = (await cpuMs(procs.hub[0])) - cpuBefore.hubAlone;
      const leavesAlone = sum(await Promise.all(procs.leaves.map(cpuMs))) - sum(cpuBefore.leavesAlone);
      const perEdit = (ms: number, count: number) => Math.round((ms / plan.fanoutEdits / Math.max(1, count)) * 10) / 10;
      result.fanoutCpu = {
        hubMsPerEdit: perEdit(hub, 1),
        hubProcessMsPerEdit: perEdit(hubAlone, 1),
        leafMsPerEdit: perEdit(leaves, procs.leaves.length),
        leafProcessMsPerEdit: perEdit(leavesAlone, procs.leaves.length),
        idleHubMsPerS: idle?.hub ?? NaN,
        idleLeafMsPerS: idle?.leaf ?? NaN,
        leaves: procs.leaves.length,
      };
    }
  });
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** CPU the hub and one leaf (mean) use per second with nothing being edited: announcements, timers. */
async function idleCpuMsPerS(procs: FanoutProcesses, windowMs = 5_000): Promise<{ hub: number; leaf: number }> {
  const hubBefore = sum(await treeCpuMs(procs.hub));
  const leavesBefore = sum(await treeCpuMs(procs.leaves));
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const perS = (ms: number, count: number) => Math.round((ms / (windowMs / 1000) / Math.max(1, count)) * 10) / 10;
  return {
    hub: perS(sum(await treeCpuMs(procs.hub)) - hubBefore, 1),
    leaf: perS(sum(await treeCpuMs(procs.leaves)) - leavesBefore, procs.leaves.length),
  };
}

/** A set-up failure ends that system's run; it is recorded beside whatever was measured. */
export function recordSetupFailure(result: SystemResult, error: unknown): void {
  result.errors.push(`setup: ${error instanceof Error ? error.message.slice(0, 800) : String(error)}`);
}
