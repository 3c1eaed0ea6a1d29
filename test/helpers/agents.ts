/** Starting real agents (each with its own nats-server child) for e2e tests. */
import { readFile, mkdtemp, rm, mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NatsServerSupervisor } from "../../agent/nats/supervisor.js";
import { start, run, readText, type Sandbox } from "./cli.js";
import type { ChildProcess } from "node:child_process";
import { waitFor } from "./wait.js";

export interface AgentInfo {
  pid: number;
  natsPid?: number;
  natsUrl: string;
  /** Leaf and peer: the seed file their server's client listener admits. */
  natsCredentials?: string;
  ports?: { client: number; leafnode?: number; cluster?: number };
}

export type RunningAgent = ChildProcess & { output: () => string; home: string; info: AgentInfo };

export function deviceEnv(box: Sandbox, name: string): NodeJS.ProcessEnv {
  return { ...box.env, EDGESYNC_HOME: join(box.dir, `${name}-home`), HOME: join(box.dir, `${name}-home`) };
}

/**
 * How long an agent gets to start: it starts its nats-server, opens and rescans its vaults first,
 * which a loaded two-core machine can stretch well past the usual few seconds.
 */
const AGENT_START_TIMEOUT_MS = 90_000;

/** Starts `edgesync sync start …` and waits until its agent.json says it runs. */
export async function startAgent(
  box: Sandbox,
  name: string,
  args: string[],
  extraEnv: NodeJS.ProcessEnv = {},
  prefix: string[] = [],
): Promise<RunningAgent> {
  const env = { ...deviceEnv(box, name), ...extraEnv };
  const home = env.EDGESYNC_HOME as string;
  const child = start(["sync", "start", ...args], { env, prefix });
  let info: AgentInfo | undefined;
  await waitFor(
    `agent ${name} to start`,
    async () => {
      if (child.exitCode !== null) throw new Error(`agent ${name} exited ${child.exitCode}:\n${child.output()}`);
      // agent.json is written in place (not atomically): a read can catch it half-written, or a killed
      // agent's stale copy; only a whole file naming this child counts.
      info = await readFile(join(home, "agent.json"), "utf8").then(parseInfo, () => undefined);
      return info !== undefined && info.pid === child.pid;
    },
    AGENT_START_TIMEOUT_MS,
    () => child.output(),
  );
  return Object.assign(child, { home, info: info as AgentInfo });
}

function parseInfo(text: string): AgentInfo | undefined {
  try {
    return JSON.parse(text) as AgentInfo;
  } catch {
    return undefined;
  }
}

export function cli(box: Sandbox, name: string, args: string[]) {
  return run(args, { env: deviceEnv(box, name) });
}

export const pidAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The device's `ssh-ed25519 …` line (its key is created on first use). */
export function publicKeyLine(box: Sandbox, name: string): string {
  const made = cli(box, name, ["key", "show"]);
  if (made.code === 0) return made.stdout.split("\n")[0];
  const generated = cli(box, name, ["key", "generate", "--json"]);
  if (generated.code !== 0) throw new Error(`key generate for ${name} failed: ${generated.stderr}`);
  return (JSON.parse(generated.stdout) as { publicKey: string }).publicKey;
}

/**
 * Two peers meshed through a route, without a hub: `pa` makes a vault in `<box>/a` with `pb`'s key in
 * its authorized_keys (routes admit only the vault's keys), `pb` clones it into `<box>/b` through pa's
 * client port — signing in with pa's local credentials, the only user that port admits — and routes
 * to pa. Each agent is pushed onto `agents` as soon as it runs, so the caller's cleanup stops it.
 * `prefixA` runs pa under a command that execs it (startAgent).
 */
export async function startMeshedPeers(
  box: Sandbox,
  agents: RunningAgent[],
  prefixA: string[] = [],
): Promise<{ a: string; b: string; pa: RunningAgent; pb: RunningAgent }> {
  const [a, b] = [join(box.dir, "a"), join(box.dir, "b")];
  await mkdir(a);
  const made = cli(box, "pa", ["init", "--cwd", a]);
  if (made.code !== 0) throw new Error(`init for pa failed: ${made.stderr}`);
  await writeFile(
    join(a, "authorized_keys"),
    `${(await readText(join(a, "authorized_keys"))) ?? ""}${publicKeyLine(box, "pb")}\n`,
  );
  const pa = await startAgent(
    box,
    "pa",
    ["--nats-role", "peer", "--cluster-listen", "127.0.0.1:-1", "--cwd", a],
    {},
    prefixA,
  );
  agents.push(pa);
  const cloned = run(["clone", pa.info.natsUrl, b], {
    env: { ...deviceEnv(box, "pb"), EDGESYNC_NATS_CREDENTIALS: pa.info.natsCredentials },
  });
  if (cloned.code !== 0) throw new Error(`pb's clone from pa failed: ${cloned.stderr}`);
  const pb = await startAgent(box, "pb", [
    "--nats-role",
    "peer",
    "--cluster-listen",
    "127.0.0.1:-1",
    "--peer",
    `nats-route://127.0.0.1:${pa.info.ports!.cluster}`,
    "--cwd",
    b,
  ]);
  agents.push(pb);
  return { a, b, pa, pb };
}

/** A hub that admits `admins` (device names) to add vaults, on ephemeral loopback ports. */
export async function startHub(
  box: Sandbox,
  admins: string[],
  name = "hub",
): Promise<RunningAgent & { args: string[]; env: NodeJS.ProcessEnv }> {
  const env = { EDGESYNC_AUTHORIZED_KEYS: admins.map((a) => publicKeyLine(box, a)).join("\n") };
  const hub = await startAgent(
    box,
    name,
    ["--nats-role", "hub", "--nats-listen", "127.0.0.1:-1", "--leaf-listen", "127.0.0.1:-1", "--cwd", box.dir],
    env,
  );
  const ports = hub.info.ports!;
  const args = [
    "--nats-role",
    "hub",
    "--nats-listen",
    `127.0.0.1:${ports.client}`,
    "--leaf-listen",
    `127.0.0.1:${ports.leafnode}`,
    "--cwd",
    box.dir,
  ];
  return Object.assign(hub, { args, env });
}

/** A standalone nats-server (peer role, ephemeral client port) that agents attach to with `--nats-upstream`. */
export interface UpstreamServer {
  clientUrl: string;
  /** Stops the server and removes its state folder. */
  stop(): Promise<void>;
}

export async function startUpstreamServer(name: string): Promise<UpstreamServer> {
  const stateDir = await mkdtemp(join(tmpdir(), `es-${name}-nats-`));
  const server = new NatsServerSupervisor({
    role: "peer",
    stateDir,
    serverName: name,
    client: { host: "127.0.0.1", port: -1 },
  });
  try {
    await server.start();
  } catch (error) {
    await rm(stateDir, { recursive: true, force: true });
    throw error;
  }
  return {
    clientUrl: server.clientUrl,
    async stop() {
      await server.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
