/**
 * Runs one nats-server child for the agent: `new NatsServerSupervisor(config)` validates,
 * `start()` resolves with the real ports, `stop()` is idempotent. Start-up order matters:
 *  1. write the config (every listener may be port -1) and remove stale ports files, so the one
 *     we read is this child's;
 *  2. spawn under `setpriv --pdeathsig SIGINT` where it exists, so a SIGKILLed agent takes its
 *     server with it (no orphan holding the ports). The kernel signals when the spawning *thread*
 *     dies; Node spawns from the main thread, so keep the supervisor out of worker threads;
 *  3. race "'Server is ready' logged and every configured port known" against "process exited"
 *     and a deadline. Ports come from the "Listening for …" log lines, else the ports file. 2.9's
 *     ports file lists client, monitoring, cluster and websocket ports but never the leafnode one,
 *     and is written by a goroutine polling every 25 ms, so the log is usually first.
 * stop() sends SIGINT (SIGTERM makes nats-server exit 1), waits, then SIGKILLs after a deadline.
 * reload() rewrites the config and sends SIGHUP; it waits for the server to say it reloaded, since
 * a refused reload leaves the old settings in force and only the log says so.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { access, mkdir, readFile, readdir, rename, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { findNatsServer, type NatsBinary } from "./binary.js";
import { NatsConfigError, renderConfig, resolveServerConfig, type NatsServerConfig } from "./server-config.js";
import { LogTail } from "./log-tail.js";
import { UserError } from "../errors.js";

export type Listener = "client" | "leafnode" | "websocket" | "cluster" | "monitoring";

/** The `edgesync sync start` flag that sets each listener, for error messages. */
export const LISTENER_FLAGS: Record<Listener, string> = {
  client: "--nats-listen",
  leafnode: "--leaf-listen",
  websocket: "--leaf-ws-listen",
  cluster: "--cluster-listen",
  monitoring: "the monitoring address",
};

export class PortInUseError extends UserError {
  readonly listener: Listener;
  readonly port: number;
  constructor(message: string, options: ErrorOptions & { listener: Listener; port: number }) {
    super(message, options);
    this.name = "PortInUseError";
    this.listener = options.listener;
    this.port = options.port;
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
  monitoring?: number;
}

export interface NatsServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A leafnode or route link of the server went up or down (from its log). */
export interface LinkEvent {
  kind: "leafnode" | "route";
  state: "up" | "down";
  /** The other side's address as the server logs it, e.g. `127.0.0.1:7422`. */
  remote: string;
  /** The server's connection id, e.g. `lid:4`, `lid_ws:4`, `rid:5`. */
  id: string;
}

export interface SupervisorOptions {
  /** Give up waiting for readiness after this long (default 15 s: a healthy start takes a small fraction of it). */
  startTimeoutMs?: number;
  /** SIGKILL when SIGINT has not ended the server within this (default 5 s). */
  stopTimeoutMs?: number;
  /** The server exited without stop() (crash, killed by someone else). */
  onUnexpectedExit?: (exit: NatsServerExit, logTail: string) => void;
  /**
   * A leafnode or route link changed. The agent's own connection is local and rarely drops; the
   * link to the hub or the other peers is what comes and goes, and its return is the moment to
   * resynchronise (NatsTransport.linkUp).
   */
  onLink?: (event: LinkEvent) => void;
  /** Use this binary instead of searching (tests, --nats-server). */
  binary?: NatsBinary;
  /** Every line the server prints, for callers that explain some of them (refused routes). */
  onLine?: (line: string) => void;
}

export class NatsServerReloadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NatsServerReloadError";
  }
}

/** Bytes of server output kept for error messages. */
const LOG_TAIL_BYTES = 64 * 1024;
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
/** A reload is one config parse; this only bounds a server that never answers the signal. */
const RELOAD_TIMEOUT_MS = 10_000;
const RELOADED = "Reloaded server configuration";
const RELOAD_FAILED = "Failed to reload server configuration";
const READY_POLL_MS = 5;
const CONF_NAME = "nats-server.conf";
/** A log line longer than this is not one we parse (and must not grow a buffer forever). */
const LINE_BYTES_MAX = 16 * 1024;

type State =
  | { kind: "idle" }
  | { kind: "starting" | "running"; child: ChildProcess; exited: Promise<NatsServerExit> }
  | { kind: "stopped"; exit: NatsServerExit };

export class NatsServerSupervisor {
  /** The config with defaults applied and paths made absolute (replaced by reload()). */
  config: NatsServerConfig;
  readonly #options: SupervisorOptions;
  readonly #log = new LogTail(LOG_TAIL_BYTES);
  #state: State = { kind: "idle" };
  #ports: RunningPorts | undefined;
  #stopping: Promise<void> | undefined;
  readonly #links = new Map<string, LinkEvent>();
  #reloadWaiter: ((line: string) => void) | undefined;
  #reloads: Promise<void> = Promise.resolve();
  binary: NatsBinary | undefined;

  constructor(config: NatsServerConfig, options: SupervisorOptions = {}) {
    this.config = resolveServerConfig(config); // fail at creation, not at start
    this.#options = options;
  }

  /** The ports actually bound; throws before start() has resolved. */
  get ports(): RunningPorts {
    if (!this.#ports) throw new Error("nats-server is not running");
    return this.#ports;
  }

  get pid(): number | undefined {
    return this.#state.kind === "starting" || this.#state.kind === "running" ? this.#state.child.pid : undefined;
  }

  get running(): boolean {
    return this.#state.kind === "running";
  }

  /** The config file of the current (or last) run. */
  get configPath(): string {
    return join(this.config.stateDir, CONF_NAME);
  }

  /** The local client URL the agent connects to. */
  get clientUrl(): string {
    const host = this.config.client.host;
    const local = host === "0.0.0.0" ? "127.0.0.1" : host === "::" || host === "[::]" ? "::1" : host;
    return `nats://${local.includes(":") && !local.startsWith("[") ? `[${local}]` : local}:${this.ports.client}`;
  }

  /** Leafnode and route links currently up, as the log reported them. */
  links(): LinkEvent[] {
    return [...this.#links.values()];
  }

  /** The last LOG_TAIL_BYTES of server output. */
  logTail(): string {
    return this.#log.text();
  }

  async start(): Promise<RunningPorts> {
    if (this.#state.kind === "starting" || this.#state.kind === "running")
      throw new Error("nats-server supervisor already started");
    this.#log.clear();
    this.#ports = undefined;
    this.#stopping = undefined;
    this.#links.clear();
    // Looked up once (it spawns `nats-server --version`); a restart reuses it.
    this.binary ??= this.#options.binary ?? (await findNatsServer());
    await this.#writeConfig();
    const { command, args } = await withParentDeathSignal(this.binary.path, ["-c", this.configPath]);
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<NatsServerExit>((resolve) => {
      child.once("error", (error) => {
        this.#log.push(`spawn failed: ${error.message}\n`);
        resolve({ code: null, signal: null });
      });
      child.once("exit", (code, signal) => resolve({ code, signal }));
    });
    this.#state = { kind: "starting", child, exited };
    for (const stream of [child.stdout, child.stderr]) {
      const lines = new LineSplitter(LINE_BYTES_MAX, (line) => this.#onLine(line));
      stream?.on("data", (chunk: Buffer) => {
        this.#log.push(chunk);
        lines.push(chunk.toString());
      });
    }
    void exited.then((exit) => this.#onExit(child, exit));
    try {
      this.#ports = await this.#awaitReady(child, exited);
      this.#state = { kind: "running", child, exited };
      return this.#ports;
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /**
   * Writes `config` and has the running server apply it (SIGHUP). Listeners cannot change this
   * way; outside operator mode clients stay connected. Reloads run one at a time.
   */
  reload(config: NatsServerConfig): Promise<void> {
    const resolved = resolveServerConfig(config);
    const next = this.#reloads.then(() => this.#reload(resolved));
    this.#reloads = next.catch(() => {}); // the caller sees the error; the next reload still runs
    return next;
  }

  async #reload(config: NatsServerConfig): Promise<void> {
    const state = this.#state;
    if (state.kind !== "running") throw new NatsServerReloadError("nats-server is not running");
    this.config = config;
    await this.#writeConfig();
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<string>((resolve, reject) => {
      this.#reloadWaiter = resolve;
      timer = setTimeout(
        () => reject(new NatsServerReloadError(`nats-server did not confirm a reload within ${RELOAD_TIMEOUT_MS} ms`)),
        RELOAD_TIMEOUT_MS,
      );
    });
    state.child.kill("SIGHUP");
    try {
      const line = await answered;
      if (line.includes(RELOAD_FAILED))
        throw new NatsServerReloadError(
          `nats-server refused the new config: ${line.slice(line.indexOf(RELOAD_FAILED))}`,
        );
    } finally {
      clearTimeout(timer);
      this.#reloadWaiter = undefined;
    }
  }

  #onLine(line: string): void {
    if (this.#reloadWaiter && (line.includes(RELOADED) || line.includes(RELOAD_FAILED))) this.#reloadWaiter(line);
    this.#options.onLine?.(line);
    const event = parseLinkEvent(line);
    if (!event) return;
    const key = `${event.kind} ${event.id} ${event.remote}`;
    if (event.state === "up") this.#links.set(key, event);
    // A link refused at its handshake closes without ever being up: not a link going down.
    else if (!this.#links.delete(key)) return;
    this.#options.onLink?.(event);
  }

  async #writeConfig(): Promise<void> {
    const dir = this.config.stateDir;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (this.#state.kind !== "running")
      for (const name of await readdir(dir)) if (name.endsWith(".ports")) await unlink(join(dir, name)).catch(() => {});
    // The config may carry auth material: 0600, replaced atomically.
    const temp = `${this.configPath}.${process.pid}.tmp`;
    await writeFile(temp, renderConfig(this.config), { mode: 0o600 });
    await rename(temp, this.configPath);
  }

  #onExit(child: ChildProcess, exit: NatsServerExit): void {
    const current = this.#state;
    if ((current.kind !== "running" && current.kind !== "starting") || current.child !== child) return;
    const wasRunning = current.kind === "running";
    this.#state = { kind: "stopped", exit };
    this.#ports = undefined;
    this.#links.clear();
    if (wasRunning && !this.#stopping) this.#options.onUnexpectedExit?.(exit, this.#log.text());
  }

  async #awaitReady(child: ChildProcess, exited: Promise<NatsServerExit>): Promise<RunningPorts> {
    const timeoutMs = this.#options.startTimeoutMs ?? START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    let exit: NatsServerExit | undefined;
    void exited.then((e) => (exit = e));
    while (Date.now() < deadline) {
      if (exit) throw classifyStartFailure(this.#log.text(), this.config, this.configPath, exit);
      if (this.#log.includes("Server is ready") && child.pid !== undefined) {
        const ports = await this.#readPorts(child.pid);
        if (ports) return ports;
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
    }
    throw new NatsServerStartError(
      `nats-server did not become ready within ${timeoutMs} ms; its output ends:\n${this.#log.text().slice(-2000)}`,
    );
  }

  async #readPorts(pid: number): Promise<RunningPorts | undefined> {
    // The log usually has every port already; 2.9 writes the ports file from a goroutine that
    // polls its listeners every 25 ms, so waiting for the file alone often costs 25 ms more.
    const log = this.#log.text();
    const fromLog = portsFrom(undefined, log, this.config);
    if (fromLog) return fromLog;
    const dir = this.config.stateDir;
    const file = (await readdir(dir)).find((n) => n.endsWith(`_${pid}.ports`));
    if (!file) return undefined;
    // The file can be caught half-written: unparsable means "not yet".
    const json = await readFile(join(dir, file), "utf8").then(
      (t) => JSON.parse(t) as Record<string, string[] | undefined>,
      () => undefined,
    );
    return json ? portsFrom(json, log, this.config) : undefined;
  }

  /** Idempotent; safe to call while start() is still waiting. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const state = this.#state;
    if (state.kind !== "starting" && state.kind !== "running") return;
    const { child, exited } = state;
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), this.#options.stopTimeoutMs ?? STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}

/** 2.9.10's "listening" log lines, by listener. */
const LISTENING: [keyof RunningPorts, RegExp][] = [
  ["client", /Listening for client connections on \S+:(\d+)/],
  ["leafnode", /Listening for leafnode connections on \S+:(\d+)/],
  ["websocket", /Listening for websocket clients on \S+:(\d+)/],
  ["cluster", /Listening for route connections on \S+:(\d+)/],
  ["monitoring", /Starting https? monitor on \S+:(\d+)/],
];

/**
 * The bound ports from the ports file (when given) and the log, or undefined while a configured
 * listener is missing from both. The leafnode port is only ever in the log. Exported for tests.
 */
export function portsFrom(
  json: Record<string, string[] | undefined> | undefined,
  log: string,
  config: NatsServerConfig,
): RunningPorts | undefined {
  const fromUrl = (url?: string) => {
    const n = Number(/:(\d+)\/?$/.exec(url ?? "")?.[1]);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  };
  const fromFile: Partial<RunningPorts> = {
    client: fromUrl(json?.nats?.[0]),
    websocket: fromUrl(json?.websocket?.[0]),
    cluster: fromUrl(json?.cluster?.[0]),
    monitoring: fromUrl(json?.monitoring?.[0]),
  };
  const ports: Partial<RunningPorts> = {};
  for (const [listener, pattern] of LISTENING) {
    const logged = pattern.exec(log);
    ports[listener] = fromFile[listener] ?? (logged ? Number(logged[1]) : undefined);
  }
  const wanted: [keyof RunningPorts, unknown][] = [
    ["client", config.client],
    ["leafnode", config.leafnode],
    ["websocket", config.leafnodeWebsocket],
    ["cluster", config.cluster],
    ["monitoring", config.monitoring],
  ];
  if (wanted.some(([listener, configured]) => configured !== undefined && ports[listener] === undefined))
    return undefined;
  return { ...ports, client: ports.client as number };
}

/**
 * 2.9.10's link lines: `<addr> - lid:4 - Leafnode connection created …`, `… - Leafnode connection
 * closed: …`, `<addr> - rid:5 - Route connection created`, `… - Router connection closed: …`.
 * Exported for tests.
 */
export function parseLinkEvent(line: string): LinkEvent | undefined {
  const m = /\] (\S+) - ((?:lid|rid)[\w:]*) - (Leafnode|Route|Router) connection (created|closed)/.exec(line);
  if (!m) return undefined;
  return {
    kind: m[3] === "Leafnode" ? "leafnode" : "route",
    state: m[4] === "created" ? "up" : "down",
    remote: m[1],
    id: m[2],
  };
}

/** Splits a stream into lines, dropping any line longer than `lineBytesMax`. */
class LineSplitter {
  #partial = "";
  readonly #lineBytesMax: number;
  readonly #onLine: (line: string) => void;

  constructor(lineBytesMax: number, onLine: (line: string) => void) {
    this.#lineBytesMax = lineBytesMax;
    this.#onLine = onLine;
  }

  push(text: string): void {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop() ?? "";
    if (this.#partial.length > this.#lineBytesMax) this.#partial = "";
    for (const line of parts) if (line.length <= this.#lineBytesMax) this.#onLine(line);
  }
}

/** nats-server 2.9's fatal lines when a listener cannot bind, by listener. */
const BIND_FAILURES: [Listener, RegExp][] = [
  ["client", /Error listening on port: \S*?:?(\d+), "?listen tcp \S+: bind: address already in use/],
  ["leafnode", /Error listening on leafnode port: (\d+) - listen tcp \S+: bind: address already in use/],
  ["websocket", /Unable to listen for websocket connections: listen tcp \S*:(\d+): bind: address already in use/],
  ["cluster", /Error listening on router port: (\d+) - listen tcp \S+: bind: address already in use/],
  ["monitoring", /can't listen to the monitor port: listen tcp \S*:(\d+): bind: address already in use/],
];

/** Turns the output of a server that exited during start-up into one clear error. Exported for tests. */
export function classifyStartFailure(
  log: string,
  config: NatsServerConfig,
  configPath: string,
  exit: NatsServerExit,
): Error {
  for (const [listener, pattern] of BIND_FAILURES) {
    const match = pattern.exec(log);
    if (!match) continue;
    const port = Number(match[1]);
    return new PortInUseError(
      `the ${listener} port ${port} is already in use (another edgesync or nats-server?): stop whatever holds it, or choose another with ${LISTENER_FLAGS[listener]}`,
      { listener, port },
    );
  }
  const anyInUse = /listen tcp \S*:(\d+): bind: address already in use/.exec(log);
  if (anyInUse) {
    const port = Number(anyInUse[1]);
    const listener = listenerOnPort(config, port) ?? "client";
    return new PortInUseError(
      `port ${port} is already in use: stop whatever holds it, or choose another with ${LISTENER_FLAGS[listener]}`,
      { listener, port },
    );
  }
  // Config problems are printed as "nats-server: <file>:<line>:<col>: <problem>" before start-up.
  const configLine = /^nats-server: (.+)$/m.exec(log);
  if (configLine && !log.includes("Starting nats-server")) {
    return new NatsConfigError(`nats-server rejected its configuration ${configPath}: ${configLine[1].trim()}`);
  }
  const last = log.trim().split("\n").slice(-3).join(" | ") || "(no output)";
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return new NatsServerStartError(`nats-server ${how} during start-up: ${last}`);
}

function listenerOnPort(config: NatsServerConfig, port: number): Listener | undefined {
  const all: [Listener, { port: number } | undefined][] = [
    ["client", config.client],
    ["leafnode", config.leafnode],
    ["websocket", config.leafnodeWebsocket],
    ["cluster", config.cluster],
    ["monitoring", config.monitoring],
  ];
  return all.find(([, l]) => l?.port === port)?.[0];
}

/** `setpriv --pdeathsig SIGINT -- cmd …` when util-linux's setpriv exists (Linux), else cmd as is. */
async function withParentDeathSignal(command: string, args: string[]): Promise<{ command: string; args: string[] }> {
  for (const setpriv of ["/usr/bin/setpriv", "/bin/setpriv"]) {
    if (
      await access(setpriv).then(
        () => true,
        () => false,
      )
    )
      return { command: setpriv, args: ["--pdeathsig", "SIGINT", "--", command, ...args] };
  }
  return { command, args };
}
