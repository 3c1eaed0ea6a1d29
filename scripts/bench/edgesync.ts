/**
 * edgesync under test: real `edgesync` processes from dist/ (as test/helpers/agents.ts starts them),
 * each agent with its own nats-server child — a hub, leaves that dial its leafnode port, and
 * `edgesync clone` one-shots against its client port. Loopback only, TLS off (as in the e2e suite).
 */
import { existsSync } from "node:fs";
import { appendFile, readFile, writeFile, mkdir } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import {
  benchDir, discardLater, startProcess, stopProcess, timedRun, waitUntil, writeVaultFiles, verifyVaultFiles,
  LIVE_VAULT_FILES, type BenchPlan, type Proc,
} from "./fixtures.js";
import { attempt, emptyResult, say, type SystemResult } from "./result.js";
import { measureFanout, measurePropagation, recordSetupFailure } from "./phases.js";

export const BIN = resolve("dist/cmd/edgesync.js");
const NAME = "edgesync";

export interface Agent extends Proc {
  home: string;
  info: { pid: number; natsPid?: number; ports?: { client: number; leafnode?: number; cluster?: number } };
}

export class EdgesyncCluster {
  readonly agents: Agent[] = [];
  hubClientUrl = "";
  hubLeafUrl = "";

  constructor(readonly box: string, readonly plan: BenchPlan) {}

  env(device: string): NodeJS.ProcessEnv {
    const home = join(this.box, "homes", device);
    return { ...process.env, EDGESYNC_HOME: home, HOME: home, NO_COLOR: "1", EDGESYNC_LOG_LEVEL: process.env.EDGESYNC_BENCH_LOG_LEVEL ?? "warn" };
  }

  nodeArgs(label: string): string[] {
    const dir = this.plan.cpuProfDir;
    return dir ? ["--cpu-prof", "--cpu-prof-dir", resolve(dir), "--cpu-prof-name", `${label}-${Date.now()}.cpuprofile`] : [];
  }

  async cli(device: string, args: string[], timeoutMs = 120_000) {
    const run = await timedRun(process.execPath, [...this.nodeArgs(`${device}-${args[0]}`), BIN, ...args], { env: this.env(device), timeoutMs });
    return run;
  }

  /** `startTimeoutMs`: a big vault's agent loads and rescans it before it reports (vault-growth.ts). */
  async startAgent(device: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}, startTimeoutMs = 60_000): Promise<Agent> {
    const env = { ...this.env(device), ...extraEnv };
    const home = env.EDGESYNC_HOME as string;
    const child = startProcess(process.execPath, [...this.nodeArgs(device), BIN, "sync", "start", ...args], { env });
    const agent: Agent = Object.assign(child, { home, info: { pid: -1 } });
    this.agents.push(agent); // stopped by stopAll even if it never comes up
    await waitUntil(`edgesync agent ${device} to start`, async () => {
      if (child.exitCode !== null) throw new Error(`agent ${device} exited ${child.exitCode}: ${child.output().slice(-2000)}`);
      const text = await readFile(join(home, "agent.json"), "utf8").catch(() => "");
      try {
        agent.info = JSON.parse(text) as Agent["info"];
      } catch {
        return false; // not written yet, or caught mid-write
      }
      return agent.info.pid === child.pid;
    }, startTimeoutMs, () => child.output());
    return agent;
  }

  /** The device's `ssh-ed25519 …` line; its key is generated on first use. */
  async publicKey(device: string): Promise<string> {
    const shown = await this.cli(device, ["key", "show"]);
    if (shown.code === 0) return shown.output.split("\n")[0].trim();
    const made = await this.cli(device, ["key", "generate", "--json"]);
    if (made.code !== 0) throw new Error(`edgesync key generate for ${device} failed: ${made.output}`);
    return (JSON.parse(made.output) as { publicKey: string }).publicKey;
  }

  /** A TLS hub (its default) on ephemeral loopback ports; `admins` may add vaults. */
  async startHub(admins: string[]): Promise<void> {
    const dir = join(this.box, "hub");
    await mkdir(dir, { recursive: true });
    const keys = await Promise.all(admins.map((a) => this.publicKey(a)));
    const hub = await this.startAgent("hub", ["--nats-role", "hub", "--nats-listen", "127.0.0.1:-1", "--leaf-listen", "127.0.0.1:-1", "--cwd", dir], { EDGESYNC_AUTHORIZED_KEYS: keys.join("\n") });
    this.hubClientUrl = `nats://127.0.0.1:${hub.info.ports!.client}`;
    this.hubLeafUrl = `nats-leaf://127.0.0.1:${hub.info.ports!.leafnode}`;
  }

  /** A new folder with `files` notes made a vault named `name` on `device`, open to `members` too. */
  async createVault(device: string, name: string, files: number, members: string[]): Promise<string> {
    const dir = join(this.box, device);
    await writeVaultFiles(dir, files);
    const init = await this.cli(device, ["init", "--cwd", dir, "--name", name], 600_000);
    if (init.code !== 0) throw new Error(`edgesync init failed: ${init.output}`);
    const keys = await Promise.all(members.map((m) => this.publicKey(m)));
    await appendFile(join(dir, "authorized_keys"), keys.map((k) => `${k}\n`).join(""));
    const debounce = process.env.EDGESYNC_BENCH_DEBOUNCE_MS; // experiments only; the bench runs the default
    if (debounce !== undefined) {
      const config = join(dir, ".edgesync", "config.toml");
      await writeFile(config, (await readFile(config, "utf8")).replace(/^debounce_ms = \d+$/m, `debounce_ms = ${Number(debounce)}`));
    }
    return dir;
  }

  /** Clones vault `name` from the hub onto `device`, retrying until the hub has it. */
  async cloneWhenReady(device: string, name: string): Promise<string> {
    const dir = join(this.box, device);
    let last = "";
    await waitUntil(`the hub to serve vault ${name}`, async () => {
      const run = await this.cli(device, ["clone", this.hubClientUrl, dir, "--vault", name, "--json", "--accept-hub-key"]);
      last = run.output;
      return run.code === 0;
    }, 60_000, () => `${last}\n--- hub\n${this.agents[0]?.output().slice(-3000)}`);
    return dir;
  }

  /**
   * Gets a vault onto the hub the way a user does — a leaf agent (an admin's device) on the folder —
   * waits until the hub is in step with it, then stops that leaf so a clone can only use the hub.
   */
  async seedHub(device: string, dir: string): Promise<void> {
    const seeder = await this.startLeaf(device, dir);
    let last = "";
    await waitUntil(`the hub to hold the vault of ${device}`, async () => {
      const status = await this.cli(device, ["status", "--cwd", dir, "--json"]);
      last = status.output;
      if (status.code !== 0) return false;
      const vaults = ((JSON.parse(status.output) as { agent?: { vaults?: { converged: number }[] } }).agent?.vaults ?? []);
      return vaults.length > 0 && vaults.every((v) => v.converged >= 1);
    }, 600_000, () => `${last}\n--- seeder\n${seeder.output().slice(-2000)}\n--- hub\n${this.agents[0]?.output().slice(-2000)}`);
    await stopProcess(seeder, "SIGINT");
    this.agents.splice(this.agents.indexOf(seeder), 1);
  }

  async startLeaf(device: string, dir: string, startTimeoutMs?: number): Promise<Agent> {
    return this.startAgent(device, ["--nats-role", "leaf", "--hub", this.hubLeafUrl, "--accept-hub-key", "--cwd", dir], {}, startTimeoutMs);
  }

  /** Stops every agent; with --cpu-prof their logs (warnings included) are kept beside the profiles. */
  async stopAll(): Promise<void> {
    for (const agent of this.agents.reverse()) {
      await stopProcess(agent, "SIGINT");
      if (this.plan.cpuProfDir) await writeFile(join(resolve(this.plan.cpuProfDir), `${basename(agent.home)}.log`), agent.output());
    }
  }
}

export async function runEdgesync(plan: BenchPlan): Promise<SystemResult> {
  const result = emptyResult(NAME);
  if (!existsSync(BIN)) {
    result.skipped = `${BIN} is missing: run \`npm run build\` (npm run bench does it first)`;
    return result;
  }
  result.setup.push(
    "real `edgesync` processes from dist/, each agent with its own nats-server child (2.9.10): one hub (`sync start --nats-role hub`, TLS on, authorized_keys enforced), leaves dialling its leafnode port (`--accept-hub-key`)",
    "propagation: leaf A → hub → leaf B, vault of 100 × 4 KB notes; each edit rewrites one 4 KB file on A (writeFile), timed to the moment B's file holds the new bytes (inotify on B's folder)",
    "clone: `edgesync clone nats://hub --vault NAME` one-shot process from spawn to exit (connect, sync, write every file), peak RSS of that process (GNU time); the hub holds a replica, seeded by a leaf agent on the folder that is stopped before the clone",
    `fan-out: leaf A writes, ${plan.fanoutLeaves} leaf agents (each with its own nats-server) receive`,
  );
  const box = await benchDir("edgesync");
  const cluster = new EdgesyncCluster(box, plan);
  try {
    const leafNames = Array.from({ length: plan.fanoutLeaves - 1 }, (_, i) => `leaf${i + 1}`);
    await cluster.startHub(["a", ...plan.cloneSizes.map((n) => `seed-${n}`)]);
    say(NAME, `hub at ${cluster.hubClientUrl}`);
    const a = await cluster.createVault("a", "live", LIVE_VAULT_FILES, ["b", ...leafNames]);
    await cluster.startLeaf("a", a);
    const b = await cluster.cloneWhenReady("b", "live");
    await cluster.startLeaf("b", b);
    const writer = { write: (rel: string, bytes: Buffer) => writeFile(join(a, rel), bytes) };
    await measurePropagation(result, plan, writer, b, "A → hub → B");

    for (const files of plan.cloneSizes) {
      await attempt(result, `clone of ${files} files`, async () => {
        say(NAME, `clone: seeding a ${files}-file vault on the hub`);
        const seed = await cluster.createVault(`seed-${files}`, `clone${files}`, files, [`clone-${files}`]);
        await cluster.seedHub(`seed-${files}`, seed);
        const dir = join(box, `clone-${files}`);
        say(NAME, `clone: ${files} files`);
        const run = await cluster.cli(`clone-${files}`, ["clone", cluster.hubClientUrl, dir, "--vault", `clone${files}`, "--json", "--accept-hub-key", "--timeout-ms", "600000"], 700_000);
        if (run.code !== 0) throw new Error(`edgesync clone exited ${run.code}: ${run.output}`);
        if (process.env.EDGESYNC_PROBE_LOG) console.error(run.output);
        const problem = await verifyVaultFiles(dir, files);
        if (problem) throw new Error(`clone incomplete: ${problem}`);
        result.clones.push({ files, wallMs: Math.round(run.wallMs), peakRssMiB: run.peakRssMiB, rssOf: "the `edgesync clone` process" });
        discardLater(dir);
        discardLater(seed);
      });
    }

    await measureFanout(result, plan, writer, async () => {
      const receivers = [b];
      for (const leaf of leafNames) {
        const dir = await cluster.cloneWhenReady(leaf, "live");
        await cluster.startLeaf(leaf, dir);
        receivers.push(dir);
      }
      return receivers;
    }, "A → hub", () => ({
      hub: [cluster.agents[0]?.pid],
      leaves: cluster.agents.filter((agent) => agent.home.endsWith("/b") || /\/leaf\d+$/.test(agent.home)).map((agent) => agent.pid),
    }));
  } catch (error) {
    recordSetupFailure(result, error);
  } finally {
    await cluster.stopAll();
    discardLater(box);
  }
  return result;
}
