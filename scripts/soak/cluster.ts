/**
 * The soak's three real agents: a hub and two leaves (a, b), each leaf dialling the hub's leafnode
 * port through its own TCP fault proxy. Real `edgesync sync start` processes, each with its own
 * nats-server child. Kills and restarts go through here so that an exit nobody asked for is seen.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sandbox, stop, readText, type Sandbox } from "../../test/helpers/cli.js";
import { waitFor } from "../../test/helpers/wait.js";
import { startAgent, startHub, cli, pidAlive, publicKeyLine, type RunningAgent } from "../../test/helpers/agents.js";
import { FaultProxy } from "../../test/helpers/fault-proxy.js";
import type { Device } from "./model.js";

export type Node = "hub" | Device;

export class SoakCluster {
  readonly box: Sandbox;
  readonly dirs: Record<Device, string>;
  readonly proxies: Record<Device, FaultProxy>;
  readonly #agents = new Map<Node, RunningAgent>();
  readonly #expectedExit = new Set<RunningAgent>();
  #hubArgs: { args: string[]; env: NodeJS.ProcessEnv } | undefined;
  /** Exits nobody asked for (crashes), as readable lines. */
  readonly crashes: string[] = [];

  private constructor(box: Sandbox) {
    this.box = box;
    this.dirs = { a: join(box.dir, "a"), b: join(box.dir, "b") };
    this.proxies = { a: undefined as unknown as FaultProxy, b: undefined as unknown as FaultProxy };
  }

  /** Hub, leaf a (init with `seed` files), leaf b (cloned through the hub). */
  static async start(seed: ReadonlyMap<string, string>): Promise<SoakCluster> {
    const cluster = new SoakCluster(await sandbox("soak"));
    const { box, dirs } = cluster;
    const hub = await startHub(box, ["a"]);
    cluster.#hubArgs = { args: hub.args, env: hub.env };
    cluster.#watch("hub", hub);
    for (const device of ["a", "b"] as const) {
      cluster.proxies[device] = new FaultProxy({ port: hub.info.ports!.leafnode! });
      await cluster.proxies[device].listen();
    }
    await mkdir(dirs.a);
    for (const [path, text] of seed) {
      await mkdir(join(dirs.a, path, ".."), { recursive: true });
      await writeFile(join(dirs.a, path), text);
    }
    const init = cli(box, "a", ["init", "--cwd", dirs.a, "--name", "soak"]);
    if (init.code !== 0) throw new Error(`init failed: ${init.stderr}`);
    await cluster.startLeaf("a");
    await writeFile(
      join(dirs.a, "authorized_keys"),
      `${await readText(join(dirs.a, "authorized_keys"))}${publicKeyLine(box, "b")}\n`,
    );
    let cloned = { code: 1, stdout: "", stderr: "" };
    await waitFor(
      "the hub to replicate the vault for b's clone",
      () => {
        cloned = cli(box, "b", ["clone", `nats://127.0.0.1:${hub.info.ports!.client}`, dirs.b, "--accept-hub-key"]);
        return cloned.code === 0;
      },
      120_000,
      () => cloned.stderr + cluster.detail(),
    );
    await cluster.startLeaf("b");
    return cluster;
  }

  running(node: Node): boolean {
    return this.#agents.has(node);
  }

  async startLeaf(device: Device): Promise<void> {
    const args = [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${this.proxies[device].port}`,
      "--accept-hub-key",
      "--cwd",
      this.dirs[device],
    ];
    this.#watch(device, await startAgent(this.box, device, args));
  }

  async startHub(): Promise<void> {
    const { args, env } = this.#hubArgs!;
    this.#watch("hub", await startAgent(this.box, "hub", args, env));
  }

  async restart(node: Node): Promise<void> {
    if (node === "hub") await this.startHub();
    else await this.startLeaf(node);
  }

  /** SIGKILL the agent and wait until it and its nats-server are gone. */
  async kill(node: Node): Promise<void> {
    const agent = this.#agents.get(node);
    if (agent === undefined) return;
    this.#expectedExit.add(agent);
    this.#agents.delete(node);
    const exited = new Promise<void>((r) =>
      agent.exitCode !== null || agent.signalCode !== null ? r() : agent.once("exit", () => r()),
    );
    agent.kill("SIGKILL");
    await exited;
    const natsPid = agent.info.natsPid;
    if (natsPid !== undefined)
      await waitFor(`${node}'s nats-server to exit after its agent was killed`, () => !pidAlive(natsPid), 30_000);
  }

  /** Every agent that is down (killed or crashed) started again. */
  async restartAll(): Promise<void> {
    for (const node of ["hub", "a", "b"] as const) if (!this.#agents.has(node)) await this.restart(node);
  }

  detail(): string {
    return [...this.#agents].map(([name, agent]) => `--- ${name}\n${agent.output().slice(-2000)}`).join("\n");
  }

  async close(): Promise<void> {
    for (const agent of this.#agents.values()) {
      this.#expectedExit.add(agent);
      await stop(agent, "SIGINT");
    }
    this.#agents.clear();
    for (const proxy of Object.values(this.proxies)) await proxy?.close();
    await this.box.cleanup();
  }

  #watch(node: Node, agent: RunningAgent): void {
    this.#agents.set(node, agent);
    agent.once("exit", (code, signal) => {
      if (this.#expectedExit.has(agent)) return;
      this.crashes.push(
        `${node} exited by itself (code ${code}, signal ${signal}): ${agent.output().slice(-600).replace(/\n/g, " | ")}`,
      );
      if (this.#agents.get(node) === agent) this.#agents.delete(node);
    });
  }
}
