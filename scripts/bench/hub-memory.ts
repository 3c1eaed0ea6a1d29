/**
 * Memory per hosted vault: a hub of its own (no cluster, nothing else on it) is sampled idle with 0
 * vaults, then after each batch of vaults is registered on it. A batch is one leaf agent ("mem", an
 * admin) on that many new vault folders; the step counts once the leaf is in step with the hub for
 * every one and the hub's /metrics says it hosts them all; the leaf is then stopped, so the hub
 * holds idle replicas only. The hub's agent and its nats-server are read apart (VmRSS, the median
 * of several readings after a quiet spell): every replica is an Automerge document in the agent
 * and a NATS connection in the server.
 */
import { join } from "node:path";
import { stopProcess, waitUntil, writeVaultFiles } from "./fixtures.js";
import { machineNow, settledRssMiB } from "./proc-probe.js";
import type { Hub, HubCluster } from "./hub-cluster.js";

export interface MemoryStep {
  hostedVaults: number;
  agentRssMiB: number;
  natsRssMiB: number;
  machine: { loadavg: number[]; cores: number };
}

export interface MemoryRecord {
  vaultFiles: number;
  steps: MemoryStep[];
  /** Least-squares slope over the steps, MiB per hosted vault. */
  agentMiBPerVault: number;
  natsMiBPerVault: number;
  method: string;
}

export const MEMORY_DEVICE = "mem";
const QUIET_BEFORE_SAMPLING_MS = 5_000;
const REGISTER_TIMEOUT_MS = 600_000;

/** Least-squares slope of y over x. */
function slope(x: number[], y: number[]): number {
  const mx = x.reduce((a, b) => a + b, 0) / x.length;
  const my = y.reduce((a, b) => a + b, 0) / y.length;
  const num = x.reduce((a, xi, i) => a + (xi - mx) * (y[i] - my), 0);
  const den = x.reduce((a, xi) => a + (xi - mx) ** 2, 0);
  return den ? Math.round((num / den) * 100) / 100 : NaN;
}

async function sample(hub: Hub, hostedVaults: number): Promise<MemoryStep> {
  await new Promise((r) => setTimeout(r, QUIET_BEFORE_SAMPLING_MS));
  return {
    hostedVaults,
    agentRssMiB: await settledRssMiB(hub.agent.info.pid),
    natsRssMiB: await settledRssMiB(hub.agent.info.natsPid),
    machine: machineNow(),
  };
}

async function registerBatch(cluster: HubCluster, hub: Hub, first: number, count: number, files: number) {
  const dirs: string[] = [];
  for (let i = first; i < first + count; i++) {
    const dir = join(cluster.box, "mem-vaults", `v${i}`);
    await writeVaultFiles(dir, files);
    const init = await cluster.agents.cli(MEMORY_DEVICE, ["init", "--cwd", dir, "--name", `mem${i}`]);
    if (init.code !== 0) throw new Error(`edgesync init of ${dir} failed: ${init.output}`);
    dirs.push(dir);
  }
  const leaf = await cluster.agents.startAgent(MEMORY_DEVICE, [
    ...["--nats-role", "leaf", "--hub", cluster.leafUrl(hub), "--accept-hub-key", ...dirs],
  ]);
  let last = "";
  await waitUntil(
    `the hub to host ${first + count} vaults`,
    async () => {
      const status = await cluster.agents.cli(MEMORY_DEVICE, ["status", "--cwd", dirs[0], "--json"]);
      last = status.output;
      if (status.code !== 0) return false;
      const vaults = (JSON.parse(status.output) as { agent?: { vaults?: { converged: number }[] } }).agent?.vaults;
      const inStep = vaults?.length === count && vaults.every((v) => v.converged >= 1);
      return inStep && (await cluster.metrics(hub)).edgesync_vaults === first + count;
    },
    REGISTER_TIMEOUT_MS,
    () => `${last}\n--- leaf\n${leaf.output().slice(-2000)}\n--- hub\n${hub.agent.output().slice(-2000)}`,
  );
  await stopProcess(leaf, "SIGINT");
}

/** `steps`: hosted-vault counts in rising order, e.g. [5, 10]; 0 is always measured first. */
export async function measureHubMemory(cluster: HubCluster, steps: number[], files: number): Promise<MemoryRecord> {
  const hub = await cluster.startHub(0, { clustered: false });
  const measured = [await sample(hub, 0)];
  let hosted = 0;
  for (const target of steps) {
    await registerBatch(cluster, hub, hosted, target - hosted, files);
    hosted = target;
    measured.push(await sample(hub, hosted));
  }
  const x = measured.map((s) => s.hostedVaults);
  return {
    vaultFiles: files,
    steps: measured,
    agentMiBPerVault: slope(
      x,
      measured.map((s) => s.agentRssMiB),
    ),
    natsMiBPerVault: slope(
      x,
      measured.map((s) => s.natsRssMiB),
    ),
    method:
      `VmRSS (/proc/PID/status) of the hub's agent and of its nats-server, each the median of 5 readings 1 s apart, ` +
      `${QUIET_BEFORE_SAMPLING_MS / 1000} s after the registering leaf stopped; vaults of ${files} × 4 KB notes; ` +
      `per vault = least-squares slope over the steps`,
  };
}
