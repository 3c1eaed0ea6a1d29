/**
 * `npm run bench -- --hubs 3`: edgesync hubs as one NATS cluster, with real processes on loopback.
 * (a) fan-out: one edit on leaf A to N receiving leaves, first all on hub 1 alone (N/hubs of them,
 *     then all N), then the same N leaves spread over the cluster's hubs (A stays on hub 1);
 * (b) failover: leaf F names every hub; the hub its links are up to is SIGKILLed and F's next edit
 *     is timed to the leaves of the other hubs (scripts/bench/hub-failover.ts);
 * (c) memory per hosted vault on a hub of its own (scripts/bench/hub-memory.ts).
 * Every receiving leaf is an agent with its own nats-server: --leaves sets how many the machine
 * can carry. Writes bench/hubs.json and the `hubs` key of bench/results.json.
 *
 *   npm run bench -- --hubs 3 --leaves 30
 *   npm run bench -- --hubs 3 --replicas 1     (the vault on one hub; the others route to it)
 *   node --import tsx scripts/bench/all.ts --hubs 3 --leaves 3 --edits 3 --failovers 1 --hosted-vaults 2
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { benchDir, discardLater, LIVE_VAULT_FILES, stopProcess, waitForBytes, type BenchPlan } from "./fixtures.js";
import { attempt, emptyResult, say, type SystemResult } from "./result.js";
import type { BenchArgs } from "./args.js";
import type { Agent } from "./edgesync.js";
import { HubCluster, type Hub } from "./hub-cluster.js";
import { measureHubFanout, type FanoutRecord, type Receiver } from "./hub-fanout.js";
import { measureFailover, type FailoverRound } from "./hub-failover.js";
import { measureHubMemory, MEMORY_DEVICE, type MemoryRecord } from "./hub-memory.js";
import { printHubsTable, writeHubsResults } from "./hubs-report.js";

export interface HubsPlan {
  hubs: number;
  /** Hubs hosting the vault (placement); the others only route its traffic. */
  replicas: number;
  /** Receiving leaves (agents) in the fan-out; the writer A and the failover leaf F come on top. */
  leaves: number;
  /** Measured edits per fan-out topology (each reaches every leaf). */
  edits: number;
  failovers: number;
  /** Hosted-vault counts sampled after 0 (rising); empty: no memory measurement (--hosted-vaults 0). */
  hostedVaults: number[];
  /** Notes (4 KB) per vault in the memory measurement. */
  vaultFiles: number;
  arrivalTimeoutMs: number;
  out: string;
}

export interface HubsRecords {
  fanout: FanoutRecord[];
  failover: FailoverRound[];
  memory?: MemoryRecord;
  errors: string[];
}

/** Clones and agent starts at once: each is a process start that a 2-core machine feels. */
const START_CONCURRENCY = 3;
const SYSTEM = "edgesync --hubs";

export function parseHubsPlan(args: BenchArgs): HubsPlan {
  const hosted = args.int("--hosted-vaults", 20, 0, 200);
  return {
    hubs: args.int("--hubs", 3, 2, 9),
    replicas: args.int("--replicas", 3, 1, 9),
    leaves: args.int("--leaves", 30, 1, 200),
    edits: args.int("--edits", 10, 1, 1000),
    failovers: args.int("--failovers", 3, 0, 50),
    hostedVaults: hosted === 0 ? [] : [...new Set([Math.ceil(hosted / 2), hosted])],
    vaultFiles: args.int("--vault-files", LIVE_VAULT_FILES, 1, 10_000),
    arrivalTimeoutMs: args.int("--arrival-timeout-ms", 120_000, 1000, 600_000),
    out: args.value("--out") ?? "bench/hubs.json",
  };
}

async function inBatches<T, R>(items: T[], size: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(run))));
  return out;
}

const benchPlanOf = (plan: HubsPlan): BenchPlan => ({
  edits: plan.edits,
  cloneSizes: [],
  fanoutLeaves: plan.leaves,
  fanoutEdits: plan.edits,
  arrivalTimeoutMs: plan.arrivalTimeoutMs,
});

async function startReceivers(cluster: HubCluster, receivers: Receiver[]): Promise<Agent[]> {
  return inBatches(receivers, START_CONCURRENCY, (r) => cluster.startLeaf(r.device, r.dir, [r.hub]));
}

/** F on its own clone, naming every hub; in step once a file it writes is on every receiver. */
async function startFailoverLeaf(cluster: HubCluster, receivers: Receiver[]): Promise<{ f: Agent; dir: string }> {
  const dir = await cluster.cloneFrom(cluster.hubs[0], "f", "live");
  const f = await cluster.startLeaf("f", dir, cluster.hubs, { EDGESYNC_LOG_LEVEL: "info" });
  const bytes = Buffer.from("F is in step\n");
  const arrivals = receivers.map((r) => waitForBytes(join(r.dir, "failover/ready.md"), bytes, 180_000));
  arrivals.forEach((p) => p.catch(() => {})); // awaited below
  await mkdir(join(dir, "failover"), { recursive: true });
  await writeFile(join(dir, "failover/ready.md"), bytes);
  await Promise.all(arrivals);
  return { f, dir };
}

async function runCluster(plan: HubsPlan, result: SystemResult, records: HubsRecords): Promise<void> {
  const box = await benchDir("hubs");
  const cluster = new HubCluster(box, benchPlanOf(plan), ["a"]);
  cluster.replicas = plan.replicas;
  const names = Array.from({ length: plan.leaves }, (_, i) => `r${i + 1}`);
  try {
    const hub1 = await cluster.startHub(0);
    const a = await cluster.agents.createVault("a", "live", LIVE_VAULT_FILES, [...names, "f"]);
    await cluster.startLeaf("a", a, [hub1]);
    say(SYSTEM, `cloning the vault onto ${plan.leaves} receiving leaves from hub 1`);
    const receivers = await inBatches(names, START_CONCURRENCY, async (device) => ({
      device,
      dir: await cluster.cloneFrom(hub1, device, "live"),
      hub: hub1 as Hub,
    }));
    // A third of the leaves first, then all: two points of one hub's cost per edit against its peers.
    const few = receivers.slice(0, Math.ceil(plan.leaves / plan.hubs));
    let running: Agent[] = [];
    for (const group of few.length < receivers.length ? [few, receivers] : [receivers]) {
      running.push(...(await startReceivers(cluster, group.slice(running.length))));
      say(SYSTEM, `fan-out: ${plan.edits} edits A → hub 1 → ${group.length} leaves`);
      await attempt(result, `fan-out on 1 hub to ${group.length} leaves`, async () =>
        records.fanout.push(await measureHubFanout(cluster, [hub1], a, group, plan.edits, plan.arrivalTimeoutMs)),
      );
    }
    await Promise.all(running.map((agent) => stopProcess(agent, "SIGINT")));
    say(SYSTEM, `joining ${plan.hubs} hubs (hub export / hub import / --peer)`);
    await cluster.joinHubs(plan.hubs);
    // Each new hub serves the vault (its replica synced over the routes) before leaves rely on it.
    for (const hub of cluster.hubs.slice(1))
      await cluster.cloneFrom(hub, "f", "live", join(box, `f-probe-hub${hub.index + 1}`));
    receivers.forEach((r, i) => (r.hub = cluster.hubs[i % plan.hubs]));
    running = await startReceivers(cluster, receivers);
    say(SYSTEM, `fan-out: ${plan.edits} edits A → hub 1 → ${plan.leaves} leaves over ${plan.hubs} hubs`);
    await attempt(result, `fan-out on ${plan.hubs} hubs`, async () =>
      records.fanout.push(
        await measureHubFanout(cluster, cluster.hubs, a, receivers, plan.edits, plan.arrivalTimeoutMs),
      ),
    );
    if (plan.failovers > 0)
      await attempt(result, "failover", async () => {
        const { f, dir } = await startFailoverLeaf(cluster, receivers);
        say(SYSTEM, `failover: ${plan.failovers} rounds`);
        await measureFailover(cluster, f, dir, receivers, plan.failovers, (round) => {
          records.failover.push(round);
          say(SYSTEM, `failover round ${records.failover.length}: ${JSON.stringify(round)}`);
        });
      });
  } finally {
    await cluster.stopAll();
    discardLater(box);
  }
}

async function runMemory(plan: HubsPlan, result: SystemResult, records: HubsRecords): Promise<void> {
  const box = await benchDir("hubs-mem");
  const cluster = new HubCluster(box, benchPlanOf(plan), [MEMORY_DEVICE]);
  try {
    say(SYSTEM, `memory: a hub alone with 0, ${plan.hostedVaults.join(", ")} hosted vaults`);
    await attempt(result, "memory per hosted vault", async () => {
      records.memory = await measureHubMemory(cluster, plan.hostedVaults, plan.vaultFiles);
    });
  } finally {
    await cluster.stopAll();
    discardLater(box);
  }
}

export async function runHubsBench(plan: HubsPlan): Promise<void> {
  const result = emptyResult(SYSTEM);
  const records: HubsRecords = { fanout: [], failover: [], errors: result.errors };
  await runCluster(plan, result, records).catch((error: unknown) =>
    result.errors.push(`cluster set-up: ${error instanceof Error ? error.message.slice(0, 800) : String(error)}`),
  );
  if (plan.hostedVaults.length > 0) await runMemory(plan, result, records);
  const table = printHubsTable(records, plan);
  writeHubsResults(records, plan, table);
}
