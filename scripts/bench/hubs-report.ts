/** The `--hubs` tables (stdout) and their records: bench/hubs.json and the `hubs` key of bench/results.json. */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { cpus, totalmem } from "node:os";
import { machineNow } from "./proc-probe.js";
import type { HubsPlan, HubsRecords } from "./hubs.js";
import type { FanoutRecord } from "./hub-fanout.js";

const RESULTS_PATH = "bench/results.json";

function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

const num = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? "—" : String(Math.round(v * 10) / 10));
const perHub = (values: number[]) => values.map(num).join(" / ");
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function fanoutTable(fanout: FanoutRecord[]): string {
  const header = [
    "fan-out of one edit",
    ...fanout.map((f) => `${f.hubs === 1 ? "1 hub" : `${f.hubs} hubs`}, ${f.leaves} leaves`),
  ];
  const row = (label: string, cell: (f: FanoutRecord) => string) => [label, ...fanout.map(cell)];
  return markdownTable(header, [
    row("receiving leaves (per hub)", (f) => `${f.leaves} (${f.leavesPerHub.join("/")})`),
    row("edits measured", (f) => String(f.edits)),
    row("p50 per arrival [ms]", (f) => num(f.perArrival.p50Ms)),
    row("p99 per arrival [ms]", (f) => num(f.perArrival.p99Ms)),
    row("p50 until on every leaf [ms]", (f) => num(f.allLeaves.p50Ms)),
    row("p99 until on every leaf [ms]", (f) => num(f.allLeaves.p99Ms)),
    row("hub agent CPU per edit, each hub [ms]", (f) => perHub(f.agentCpuMsPerEdit)),
    row("hub nats-server CPU per edit, each hub [ms]", (f) => perHub(f.natsCpuMsPerEdit)),
    row("all hubs' CPU per edit [ms]", (f) => num(sum(f.agentCpuMsPerEdit) + sum(f.natsCpuMsPerEdit))),
    row("sync messages in / out per edit, each hub", (f) =>
      f.syncMessagesInPerEdit.map((m, i) => `${num(m)}/${num(f.syncMessagesOutPerEdit[i])}`).join(" · "),
    ),
    row("sync bytes sent per edit, each hub", (f) => perHub(f.syncBytesOutPerEdit)),
    row("peers each hub's replica hears", (f) => perHub(f.replicaPeers)),
    row("hub agent RSS, each hub [MiB]", (f) => perHub(f.agentRssMiB)),
    row("hub nats-server RSS, each hub [MiB]", (f) => perHub(f.natsRssMiB)),
    row("load average 1/5/15 min, cores", (f) => `${f.machine.loadavg.join("/")}, ${f.machine.cores}`),
  ]);
}

function failoverTable(records: HubsRecords): string {
  return markdownTable(
    ["failover round", "hub(s) killed", "F relinked [ms]", "first leaf [ms]", "every surviving leaf [ms]", "restart → all leaves [ms]", "load 1 min"],
    records.failover.map((r, i) => [
      String(i + 1),
      r.killed.join(", "),
      num(r.linkUpMs),
      num(r.firstArrivalMs),
      `${num(r.allArrivalsMs)} (${r.receivers} leaves)`,
      num(r.healMs),
      num(r.machine.loadavg[0]),
    ]),
  );
}

function memoryTable(records: HubsRecords): string {
  const memory = records.memory;
  if (!memory) return "memory: not measured (--hosted-vaults 0, or see the errors)";
  const steps = markdownTable(
    ["hosted vaults", "hub agent RSS [MiB]", "hub nats-server RSS [MiB]", "load 1 min"],
    memory.steps.map((s) => [String(s.hostedVaults), num(s.agentRssMiB), num(s.natsRssMiB), num(s.machine.loadavg[0])]),
  );
  return `${steps}\n\nper hosted vault of ${memory.vaultFiles} notes: agent ${memory.agentMiBPerVault} MiB, nats-server ${memory.natsMiBPerVault} MiB (${memory.method})`;
}

export function printHubsTable(records: HubsRecords, plan: HubsPlan): string {
  const parts = [
    `${plan.hubs} hubs, each vault hosted by ${Math.min(plan.replicas, plan.hubs)} of them (--replicas ${plan.replicas})`,
    records.fanout.length ? fanoutTable(records.fanout) : "fan-out: not measured",
    plan.failovers > 0 ? failoverTable(records) : "failover: not run (--failovers 0)",
    memoryTable(records),
  ];
  const table = parts.join("\n\n");
  console.log(table);
  for (const error of records.errors) console.log(`error: ${error}`);
  return table;
}

const commit = () => {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    return undefined; // not a git checkout: the record says so by leaving it out
  }
};

/** bench/hubs.json holds this run; bench/results.json keeps what other benches wrote and gains `hubs`. */
export function writeHubsResults(records: HubsRecords, plan: HubsPlan, table: string): void {
  const machine = { ...machineNow(), node: process.version, cpuModel: cpus()[0]?.model, memMiB: Math.round(totalmem() / 2 ** 20) };
  const hubs = { when: new Date().toISOString(), commit: commit(), machine, plan, ...records, table };
  for (const path of [plan.out, RESULTS_PATH]) mkdirSync(dirname(path), { recursive: true });
  writeFileSync(plan.out, JSON.stringify(hubs, null, 2));
  const current = existsSync(RESULTS_PATH) ? (JSON.parse(readFileSync(RESULTS_PATH, "utf8")) as Record<string, unknown>) : {};
  writeFileSync(RESULTS_PATH, JSON.stringify({ ...current, hubs }, null, 2));
  console.log(`wrote ${plan.out} and the hubs key of ${RESULTS_PATH}`);
}
