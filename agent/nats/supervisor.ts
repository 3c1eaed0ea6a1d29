/**
 * Runs one nats-server child for the agent. Start-up order matters:
 *  1. write the config (every listener may be port -1) and remove any stale ports file;
 *  2. spawn under `setpriv --pdeathsig SIGINT` where available, so a SIGKILLed agent takes its
 *     server with it (no orphan holding the ports);
 *  3. race "ports file written and 'Server is ready' logged" against "process exited" and a
 *     deadline; the leafnode port is not in 2.9's ports file, so it is read from the log line.
 * stop() sends SIGINT (SIGTERM makes nats-server exit 1), waits, then SIGKILLs after a deadline.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, readFile, readdir, unlink, writeFile, access } from "node:fs/promises";
import { join } from "node:path";
import { findNatsServer, type NatsBinary } from "./binary.js";
import { renderConfig, type NatsServerConfig } from "./server-config.js";

export class PortInUseError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PortInUseError";
  }
}

export class NatsServerStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsServerStartError";
  }
}

export interface RunningPorts {
  client: number;
  leafnode?: number;
  websocket?: number;
  cluster?: number;
}

/** Bytes of server output kept for error messages. */
const LOG_TAIL_BYTES = 64 * 1024;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

export class NatsServerSupervisor {
  readonly config: NatsServerConfig;
  #child: ChildProcess | undefined;
  #log = "";
  #exited: Promise<number | null> | undefined;
  #ports: RunningPorts | undefined;
  binary: NatsBinary | undefined;

  constructor(config: NatsServerConfig) {
    this.config = config;
  }

  get ports(): RunningPorts {
    if (!this.#ports) throw new Error("nats-server is not running");
    return this.#ports;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The local client URL the agent connects to. */
  get clientUrl(): string {
    const host = this.config.client.host === "0.0.0.0" || this.config.client.host === "::" ? "127.0.0.1" : this.config.client.host;
    return `nats://${host.includes(":") ? `[${host}]` : host}:${this.ports.client}`;
  }

  logTail(): string {
    return this.#log;
  }

  async start(): Promise<RunningPorts> {
    this.binary = await findNatsServer();
    const dir = this.config.stateDir;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(dir)) if (name.endsWith(".ports")) await unlink(join(dir, name)).catch(() => {});
    const confPath = join(dir, "nats-server.conf");
    await writeFile(confPath, renderConfig(this.config), { mode: 0o600 });
    const { command, args } = await withParentDeathSignal(this.binary.path, ["-c", confPath]);
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    const keep = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-LOG_TAIL_BYTES);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.#exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      this.#ports = await this.#awaitReady(child);
      return this.#ports;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async #awaitReady(child: ChildProcess): Promise<RunningPorts> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let exited = false;
    void this.#exited?.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw this.#startFailure();
      if (this.#log.includes("Server is ready")) {
        const ports = await this.#readPorts(child.pid as number);
        if (ports) return ports;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new NatsServerStartError(`nats-server did not become ready within ${START_TIMEOUT_MS} ms:\n${this.#log.slice(-2000)}`);
  }

  async #readPorts(pid: number): Promise<RunningPorts | undefined> {
    const dir = this.config.stateDir;
    const file = (await readdir(dir)).find((n) => n.endsWith(`_${pid}.ports`) || n.endsWith(`${pid}.ports`));
    if (!file) return undefined;
    const json = await readFile(join(dir, file), "utf8").then((t) => JSON.parse(t) as Record<string, string[]>, () => undefined);
    if (!json?.nats?.[0]) return undefined;
    const port = (url?: string) => (url ? Number(new URL(url.replace(/^ws/, "http")).port) : undefined);
    const leaf = /Listening for leafnode connections on \S+:(\d+)/.exec(this.#log);
    if (this.config.leafnode && !leaf) return undefined;
    if (this.config.cluster && !json.cluster?.[0]) return undefined;
    return { client: port(json.nats[0]) as number, leafnode: leaf ? Number(leaf[1]) : undefined, websocket: port(json.websocket?.[0]), cluster: port(json.cluster?.[0]) };
  }

  #startFailure(): Error {
    const inUse = /listen tcp ([^:]*):(\d+): bind: address already in use|Error listening on port: \S*?:?(\d+), "?bind: address already in use/.exec(this.#log);
    if (inUse) {
      const port = inUse[2] ?? inUse[3];
      return new PortInUseError(`port ${port} is already in use; stop whatever holds it or choose another with --nats-listen / --leaf-listen`);
    }
    const last = this.#log.trim().split("\n").slice(-3).join(" | ");
    return new NatsServerStartError(`nats-server exited during start-up: ${last}`);
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** `setpriv --pdeathsig SIGINT -- cmd …` when util-linux's setpriv exists (Linux), else cmd as is. */
async function withParentDeathSignal(command: string, args: string[]): Promise<{ command: string; args: string[] }> {
  for (const setpriv of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    if (await access(setpriv).then(() => true, () => false)) return { command: setpriv, args: ["--pdeathsig", "SIGINT", "--", command, ...args] };
  }
  return { command, args };
}
