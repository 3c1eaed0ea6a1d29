/**
 * Hubs of one NATS cluster for `npm run bench -- --hubs N`, set up the way docs/cluster.md tells a
 * user to: hub 1 runs with --cluster-listen, a vault is registered on it, `hub export` writes its
 * bundle, the other hubs `hub import` it before their first start and start with --peer to hub 1.
 * Leaves name their hub(s) with --hub. Every process is the real `edgesync` from dist/, started
 * through EdgesyncCluster (one home per device, keys made on first use).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { EdgesyncCluster, type Agent } from "./edgesync.js";
import { waitUntil, type BenchPlan } from "./fixtures.js";
import { stablePort } from "./stable-port.js";

export interface HubPorts {
  client: number;
  leafnode: number;
  cluster: number;
}

export interface Hub {
  /** 0-based; the device is named `hub<index + 1>`. */
  index: number;
  agent: Agent;
  ports: HubPorts;
  /** The agent's --metrics listener (/metrics, /healthz). */
  metricsPort: number;
}

export interface HubStart {
  /** Routes to dial (`nats-route://…`). */
  peers?: string[];
  ports?: HubPorts;
  metricsPort?: number;
  clustered?: boolean;
}

const HUB_START_TIMEOUT_MS = 120_000;
/** Dozens of leaves starting on a loaded machine: one took over a minute at a load of 30. */
const LEAF_START_TIMEOUT_MS = 300_000;
const HUB_SERVES_TIMEOUT_MS = 180_000;

export class HubCluster {
  readonly hubs: Hub[] = [];
  readonly agents: EdgesyncCluster;
  /** Hubs hosting each vault (`sync start --replicas`); undefined keeps the agent's default. */
  replicas: number | undefined;

  constructor(
    readonly box: string,
    plan: BenchPlan,
    /** Devices whose keys every hub admits as admins (they may register vaults). */
    readonly admins: string[],
  ) {
    this.agents = new EdgesyncCluster(box, plan);
  }

  leafUrl = (hub: Hub) => `nats-leaf://127.0.0.1:${hub.ports.leafnode}`;
  clientUrl = (hub: Hub) => `nats://127.0.0.1:${hub.ports.client}`;
  routeUrl = (hub: Hub) => `nats-route://127.0.0.1:${hub.ports.cluster}`;

  /**
   * Starts hub `index` on ports below the ephemeral range, or on `ports` when it restarts; with
   * `clustered: false` it has no cluster listener at all (a hub as before clusters existed).
   */
  async startHub(index: number, options: HubStart = {}): Promise<Hub> {
    const { peers = [], ports, metricsPort, clustered = true } = options;
    const dir = join(this.box, `hub${index + 1}-cwd`);
    await mkdir(dir, { recursive: true });
    const keys = await Promise.all(this.admins.map((a) => this.agents.publicKey(a)));
    const metrics = metricsPort ?? (await stablePort());
    const at = async (port: number | undefined) => `127.0.0.1:${port ?? (await stablePort())}`;
    const [client, leafnode, cluster] = [await at(ports?.client), await at(ports?.leafnode), await at(ports?.cluster)];
    const args = [
      ...["--nats-role", "hub", "--nats-listen", client, "--leaf-listen", leafnode],
      ...(clustered ? ["--cluster-listen", cluster, ...peers.flatMap((p) => ["--peer", p])] : []),
      ...(clustered && this.replicas ? ["--replicas", String(this.replicas)] : []),
      ...["--metrics", `127.0.0.1:${metrics}`, "--cwd", dir],
    ];
    const env = { EDGESYNC_AUTHORIZED_KEYS: keys.join("\n") };
    const agent = await this.agents.startAgent(`hub${index + 1}`, args, env, HUB_START_TIMEOUT_MS);
    const started = agent.info.ports as Partial<HubPorts>;
    if (!started.client || !started.leafnode) throw new Error(`hub${index + 1} reported no client or leafnode port`);
    const hub: Hub = { index, agent, ports: { cluster: -1, ...started } as HubPorts, metricsPort: metrics };
    this.hubs[index] = hub;
    return hub;
  }

  /** Hub 1's bundle imported by hubs 2..count, each started with a route to hub 1. */
  async joinHubs(count: number): Promise<void> {
    const bundle = join(this.box, "hub-bundle.json");
    const exported = await this.agents.cli("hub1", ["hub", "export", "--out", bundle]);
    if (exported.code !== 0) throw new Error(`edgesync hub export failed: ${exported.output}`);
    for (let index = 1; index < count; index++) {
      const imported = await this.agents.cli(`hub${index + 1}`, ["hub", "import", bundle]);
      if (imported.code !== 0) throw new Error(`edgesync hub import on hub${index + 1} failed: ${imported.output}`);
      await this.startHub(index, { peers: [this.routeUrl(this.hubs[0])] });
    }
  }

  /**
   * SIGKILL of the hub's agent and of its nats-server together, as when the machine's processes
   * die: nothing closes the links politely. (The kernel still closes the sockets, so a leaf sees
   * the link drop at once; a machine that vanishes from the network is noticed only by pings.)
   */
  async kill(hub: Hub): Promise<void> {
    const exited = new Promise<void>((r) => (hub.agent.exitCode !== null ? r() : hub.agent.once("exit", () => r())));
    const natsPid = hub.agent.info.natsPid;
    hub.agent.kill("SIGKILL");
    if (natsPid) process.kill(natsPid, "SIGKILL");
    await exited;
  }

  /** Starts a killed hub again on its old ports, routed to every other hub. */
  async restart(hub: Hub): Promise<Hub> {
    const peers = this.hubs.filter((h) => h !== hub).map((h) => this.routeUrl(h));
    return this.startHub(hub.index, { peers, ports: hub.ports, metricsPort: hub.metricsPort });
  }

  /** A leaf agent on `dir` linked to `hubs` (several: it fails over between them). */
  async startLeaf(device: string, dir: string, hubs: Hub[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Agent> {
    const urls = hubs.flatMap((h) => ["--hub", this.leafUrl(h)]);
    const args = ["--nats-role", "leaf", ...urls, "--accept-hub-key", "--cwd", dir];
    return this.agents.startAgent(device, args, extraEnv, LEAF_START_TIMEOUT_MS);
  }

  /** Clones vault `name` from `hub` into `<box>/<device>`, retrying until that hub serves it. */
  async cloneFrom(hub: Hub, device: string, name: string, dir = join(this.box, device)): Promise<string> {
    let last = "";
    const url = this.clientUrl(hub);
    await waitUntil(
      `hub${hub.index + 1} to serve vault ${name}`,
      async () => {
        const run = await this.agents.cli(device, ["clone", url, dir, "--vault", name, "--json", "--accept-hub-key"]);
        last = run.output;
        return run.code === 0;
      },
      HUB_SERVES_TIMEOUT_MS,
      () => `${last}\n--- hub\n${hub.agent.output().slice(-3000)}`,
    );
    return dir;
  }

  /** A hub's /metrics gauges and counters by name. */
  async metrics(hub: Hub): Promise<Record<string, number>> {
    const text = await (await fetch(`http://127.0.0.1:${hub.metricsPort}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const line of text.split("\n")) {
      const match = /^([a-z_]+) (\S+)$/.exec(line);
      if (match) out[match[1]] = Number(match[2]);
    }
    return out;
  }

  async stopAll(): Promise<void> {
    await this.agents.stopAll();
  }
}
