/** The bench table (stdout) and bench/results.json: edgesync against each other system, with ratios. */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import type { SystemResult } from "./result.js";
import type { BenchPlan } from "./fixtures.js";

export const TARGETS = { propagationP50Ms: 50, propagationP99Ms: 200, clone10kMs: 5_000 } as const;

interface Row {
  metric: string;
  values: (number | undefined)[];
  /** Lower is better for every metric here. */
  unit: string;
}

function rows(results: SystemResult[], plan: BenchPlan): Row[] {
  const out: Row[] = [
    { metric: `propagation p50 (${plan.edits} edits)`, unit: "ms", values: results.map((r) => r.propagation?.p50Ms) },
    { metric: "propagation p99", unit: "ms", values: results.map((r) => r.propagation?.p99Ms) },
  ];
  for (const files of plan.cloneSizes) {
    out.push({ metric: `clone ${files} files: wall`, unit: "ms", values: results.map((r) => r.clones.find((c) => c.files === files)?.wallMs) });
    out.push({ metric: `clone ${files} files: peak RSS`, unit: "MiB", values: results.map((r) => r.clones.find((c) => c.files === files)?.peakRssMiB) });
  }
  out.push(
    { metric: `fan-out to ${plan.fanoutLeaves} leaves p50 (per arrival)`, unit: "ms", values: results.map((r) => r.fanout?.p50Ms) },
    { metric: `fan-out p99 (per arrival)`, unit: "ms", values: results.map((r) => r.fanout?.p99Ms) },
    { metric: `fan-out p99 (edit on all leaves)`, unit: "ms", values: results.map((r) => r.fanoutAll?.p99Ms) },
    { metric: `fan-out CPU per edit: hub`, unit: "ms", values: results.map((r) => r.fanoutCpu?.hubMsPerEdit) },
    { metric: `… of which the hub's own process`, unit: "ms", values: results.map((r) => r.fanoutCpu?.hubProcessMsPerEdit) },
    { metric: `fan-out CPU per edit: one leaf`, unit: "ms", values: results.map((r) => r.fanoutCpu?.leafMsPerEdit) },
    { metric: `… of which the leaf's own process`, unit: "ms", values: results.map((r) => r.fanoutCpu?.leafProcessMsPerEdit) },
    { metric: `CPU with no edits, per second: hub`, unit: "ms", values: results.map((r) => r.fanoutCpu?.idleHubMsPerS) },
    { metric: `CPU with no edits, per second: one leaf`, unit: "ms", values: results.map((r) => r.fanoutCpu?.idleLeafMsPerS) },
  );
  return out;
}

const cell = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "—" : String(Math.round(v * 10) / 10));

/** edgesync ÷ other: below 1 means edgesync is faster / smaller. */
const ratio = (ours: number | undefined, theirs: number | undefined) =>
  ours === undefined || theirs === undefined || !theirs ? "—" : `${(ours / theirs).toFixed(2)}×`;

export function verdict(results: SystemResult[], plan: BenchPlan) {
  const ours = results.find((r) => r.system === "edgesync");
  const big = Math.max(...plan.cloneSizes);
  const clone = ours?.clones.find((c) => c.files === big)?.wallMs;
  const others = results.filter((r) => r !== ours).map((r) => r.clones.find((c) => c.files === big)?.wallMs);
  return {
    propagationP50: ours?.propagation ? ours.propagation.p50Ms < TARGETS.propagationP50Ms : undefined,
    propagationP99: ours?.propagation ? ours.propagation.p99Ms < TARGETS.propagationP99Ms : undefined,
    [`clone${big}Under5s`]: clone !== undefined ? clone < TARGETS.clone10kMs : undefined,
    [`clone${big}BelowBoth`]: clone !== undefined && others.every((o) => o !== undefined) ? others.every((o) => clone < (o as number)) : undefined,
  };
}

export function printTable(results: SystemResult[], plan: BenchPlan): string {
  const others = results.filter((r) => r.system !== "edgesync");
  const header = ["metric", ...results.map((r) => r.system), ...others.map((o) => `edgesync/${o.system}`)];
  const body = rows(results, plan).map((row) => {
    const ours = row.values[results.findIndex((r) => r.system === "edgesync")];
    return [`${row.metric} [${row.unit}]`, ...row.values.map(cell), ...others.map((o) => ratio(ours, row.values[results.indexOf(o)]))];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  const table = [line(header), `|${widths.map((w, i) => (i === 0 ? ":" : "") + "-".repeat(w + 1) + (i === 0 ? "" : ":")).join("|")}|`, ...body.map(line)].join("\n");
  console.log(table);
  for (const r of results) {
    if (r.skipped) console.log(`\n${r.system}: NOT RUN — ${r.skipped}`);
    for (const [name, summary] of Object.entries(r.propagationVariants ?? {})) console.log(`${r.system} propagation, ${name}: p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (${summary.samples} edits)`);
    for (const e of r.errors) console.log(`${r.system} error: ${e}`);
  }
  console.log(`\ntargets: propagation p50 < ${TARGETS.propagationP50Ms} ms, p99 < ${TARGETS.propagationP99Ms} ms; clone of 10,000 files < ${TARGETS.clone10kMs} ms and below both`);
  console.log("met:", JSON.stringify(verdict(results, plan)));
  return table;
}

export function writeResults(results: SystemResult[], plan: BenchPlan, table: string, path = "bench/results.json"): void {
  mkdirSync("bench", { recursive: true });
  const machine = { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memMiB: Math.round(totalmem() / 2 ** 20), loadavgAtEnd: loadavg() };
  writeFileSync(path, JSON.stringify({ when: new Date().toISOString(), machine, plan, targets: TARGETS, verdict: verdict(results, plan), results, table }, null, 2));
  console.log(`wrote ${path}`);
}
