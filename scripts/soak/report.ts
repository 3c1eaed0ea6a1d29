/** The soak's JSON report and its printed summary. */
export interface SoakCheck {
  round: number;
  name: string;
  pass: boolean;
  detail?: string;
}

export interface SoakReport {
  seed: number;
  minutes: number;
  roundSeconds: number;
  startedAt: string;
  wallSeconds: number;
  rounds: number;
  checks: SoakCheck[];
  edits: { create: number; edit: number; delete: number; rename: number; total: number };
  faults: { leafKill: number; hubKill: number; cut: number; partition: number; total: number };
  convergenceMs: { samples: number[]; p50: number; max: number };
  filesAtEnd: number;
  violations: string[];
}

export function newReport(seed: number, minutes: number, roundSeconds: number): SoakReport {
  return {
    seed,
    minutes,
    roundSeconds,
    startedAt: new Date().toISOString(),
    wallSeconds: 0,
    rounds: 0,
    checks: [],
    edits: { create: 0, edit: 0, delete: 0, rename: 0, total: 0 },
    faults: { leafKill: 0, hubKill: 0, cut: 0, partition: 0, total: 0 },
    convergenceMs: { samples: [], p50: 0, max: 0 },
    filesAtEnd: 0,
    violations: [],
  };
}

export function check(report: SoakReport, round: number, name: string, pass: boolean, detail?: string): void {
  report.checks.push(detail === undefined ? { round, name, pass } : { round, name, pass, detail });
  if (!pass) report.violations.push(`round ${round}: ${name}${detail ? `: ${detail}` : ""}`);
}

export function finish(report: SoakReport, startedMs: number, nowMs: number): SoakReport {
  const sorted = [...report.convergenceMs.samples].sort((x, y) => x - y);
  report.convergenceMs.p50 = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : 0;
  report.convergenceMs.max = sorted.length ? sorted[sorted.length - 1] : 0;
  report.wallSeconds = Math.round((nowMs - startedMs) / 1000);
  return report;
}

export function summary(report: SoakReport, path: string): string {
  const passed = report.checks.filter((c) => c.pass).length;
  const e = report.edits;
  const f = report.faults;
  return [
    `soak: seed ${report.seed}, ${report.rounds} rounds in ${report.wallSeconds} s`,
    `  checks: ${passed}/${report.checks.length} passed`,
    `  edits: ${e.total} (${e.create} creates, ${e.edit} edits, ${e.delete} deletes, ${e.rename} renames); ${report.filesAtEnd} files at the end`,
    `  faults: ${f.total} (${f.leafKill} leaf SIGKILLs, ${f.hubKill} hub SIGKILLs, ${f.cut} link cuts, ${f.partition} partitions)`,
    `  convergence after quiescing: p50 ${report.convergenceMs.p50} ms, max ${report.convergenceMs.max} ms`,
    report.violations.length
      ? `  VIOLATIONS (${report.violations.length}):\n${report.violations.map((v) => `    ${v}`).join("\n")}`
      : "  violations: none",
    `  report: ${path}`,
  ].join("\n");
}
