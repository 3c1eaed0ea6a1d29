/**
 * Fan-out through hubs: one edit written on leaf A (linked to hub 1) until its bytes are on every
 * receiving leaf's disk, per arrival and per edit, with what each hub spent on it: CPU of its agent
 * and of its nats-server, and the sync bytes its replica sent (its /metrics).
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { measureArrivals, summarise, type LatencySummary } from "./fixtures.js";
import { cpuMs, machineNow, rssKiB } from "./proc-probe.js";
import type { Hub, HubCluster } from "./hub-cluster.js";

export interface Receiver {
  device: string;
  dir: string;
  /** The hub it is linked to (by index: a restarted hub is a new Hub object). */
  hub: Hub;
}

export interface FanoutRecord {
  hubs: number;
  leaves: number;
  edits: number;
  leavesPerHub: number[];
  perArrival: LatencySummary;
  /** Until the edit was on every leaf. */
  allLeaves: LatencySummary;
  /** Per hub, ms of CPU per edit: its agent, its nats-server. */
  agentCpuMsPerEdit: number[];
  natsCpuMsPerEdit: number[];
  /** Per hub: sync messages its replica received and sent, and bytes it sent, per edit; the peers it hears. */
  syncMessagesInPerEdit: number[];
  syncMessagesOutPerEdit: number[];
  syncBytesOutPerEdit: number[];
  replicaPeers: number[];
  /** Per hub at the end: VmRSS of its agent and of its nats-server, MiB. */
  agentRssMiB: number[];
  natsRssMiB: number[];
  machine: { loadavg: number[]; cores: number };
}

const WARMUP_EDITS = 2;
const WARMUP_TIMEOUT_MS = 180_000;
/** A replica forgets a silent peer after the engine's peerTimeoutMs (30 s): clones that no agent runs. */
const PEERS_SETTLE_TIMEOUT_MS = 90_000;

/**
 * Waits until no hub's replica hears more than `peers` peers, so a hub does not count sync offered
 * to devices that cloned and went away; goes on after the timeout (the record shows the count).
 */
async function settlePeers(cluster: HubCluster, hubs: Hub[], peers: number): Promise<void> {
  const deadline = Date.now() + PEERS_SETTLE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const counts = await Promise.all(hubs.map(async (hub) => (await cluster.metrics(hub)).edgesync_peers));
    if (counts.every((n) => n <= peers)) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const mib = (kib: number) => Math.round((kib / 1024) * 10) / 10;

async function hubCounters(cluster: HubCluster, hubs: Hub[]) {
  return Promise.all(
    hubs.map(async (hub) => ({
      agent: await cpuMs(hub.agent.info.pid),
      nats: await cpuMs(hub.agent.info.natsPid),
      metrics: await cluster.metrics(hub),
    })),
  );
}

export async function measureHubFanout(
  cluster: HubCluster,
  hubs: Hub[],
  writerDir: string,
  receivers: Receiver[],
  edits: number,
  arrivalTimeoutMs: number,
): Promise<FanoutRecord> {
  const write = (rel: string, bytes: Buffer) => writeFile(join(writerDir, rel), bytes);
  const dirs = receivers.map((r) => r.dir);
  // Distinct per topology: an edit whose bytes a leaf already holds from an earlier run "arrives" at once.
  const tag = `hubs${hubs.length}-leaves${receivers.length}`;
  await settlePeers(cluster, hubs, receivers.length + 1 + (hubs.length - 1)); // the leaves, A, the other replicas
  await measureArrivals({ edits: WARMUP_EDITS, write, receivers: dirs, tag: `${tag}warm`, timeoutMs: WARMUP_TIMEOUT_MS });
  const before = await hubCounters(cluster, hubs);
  const fan = await measureArrivals({ edits, write, receivers: dirs, tag, timeoutMs: arrivalTimeoutMs });
  const after = await hubCounters(cluster, hubs);
  const perEdit = (pick: (c: (typeof after)[number]) => number) =>
    after.map((c, i) => Math.round(((pick(c) - pick(before[i])) / edits) * 10) / 10);
  return {
    hubs: hubs.length,
    leaves: receivers.length,
    edits,
    leavesPerHub: hubs.map((hub) => receivers.filter((r) => r.hub.index === hub.index).length),
    perArrival: summarise(fan.perArrival),
    allLeaves: summarise(fan.perEditAll),
    agentCpuMsPerEdit: perEdit((c) => c.agent),
    natsCpuMsPerEdit: perEdit((c) => c.nats),
    syncMessagesInPerEdit: perEdit((c) => c.metrics.edgesync_messages_in_total ?? NaN),
    syncMessagesOutPerEdit: perEdit((c) => c.metrics.edgesync_messages_out_total ?? NaN),
    syncBytesOutPerEdit: perEdit((c) => c.metrics.edgesync_bytes_out_total ?? NaN).map(Math.round),
    replicaPeers: after.map((c) => c.metrics.edgesync_peers ?? NaN),
    agentRssMiB: await Promise.all(hubs.map(async (h) => mib(await rssKiB(h.agent.info.pid)))),
    natsRssMiB: await Promise.all(hubs.map(async (h) => mib(await rssKiB(h.agent.info.natsPid)))),
    machine: machineNow(),
  };
}
