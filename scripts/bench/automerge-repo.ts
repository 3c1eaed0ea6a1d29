import type { BenchPlan } from "./fixtures.js";
import { emptyResult, type SystemResult } from "./result.js";
export async function runAutomergeRepo(_plan: BenchPlan): Promise<SystemResult> {
  return { ...emptyResult("automerge-repo"), skipped: "todo" };
}
