import type { BenchPlan } from "./fixtures.js";
import { emptyResult, type SystemResult } from "./result.js";
export async function runSyncthing(_plan: BenchPlan): Promise<SystemResult> {
  return { ...emptyResult("syncthing"), skipped: "todo" };
}
