/**
 * Notify e2e harness on real agents: `edgesync sync start` processes (each with its own nats-server
 * child and notify service) as a hub and leaves on loopback, and `edgesync notify …` run as real
 * processes in each device's EDGESYNC_HOME (the CLI finds its agent through `<home>/agent.json`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { BIN, sandbox, stop, type Sandbox } from "./cli.js";
import { startAgent, deviceEnv, publicKeyLine, type RunningAgent } from "./agents.js";
import { connectPlainNats } from "../../agent/nats/local-connect.js";
import { loadOrCreateIdentity, type Identity } from "../../agent/auth/identity.js";
import { silentLog } from "../../agent/sync/ports.js";
import { encodeMessage, type NotifyMessage } from "../../notify/model.js";
import { DEFAULT_SET, notifySubject } from "../../agent/nats/notify-subjects.js";
import { waitFor } from "./wait.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Running = ChildProcess & { output(): CliResult };

export class NotifyAgents {
  readonly agents = new Map<string, RunningAgent>();
  readonly #args = new Map<string, string[]>();
  readonly #env = new Map<string, NodeJS.ProcessEnv>();
  #leafPort = 0;
  #clientPort = 0;

  private constructor(readonly box: Sandbox) {}

  static async create(label: string): Promise<NotifyAgents> {
    return new NotifyAgents(await sandbox(label));
  }

  /** The hub's client URL: what pairing links name and a paired device without an agent dials. */
  get hubUrl(): string {
    return `nats://127.0.0.1:${this.#clientPort}`;
  }

  agent(name: string): RunningAgent {
    const agent = this.agents.get(name);
    if (!agent) throw new Error(`no agent ${name}`);
    return agent;
  }

  /** A hub in operator mode whose admins are `members` (so their leaves' links reach its hub account, where notify lives). */
  async startHub(members: string[], extra: string[] = []): Promise<RunningAgent> {
    this.#env.set("hub", { EDGESYNC_AUTHORIZED_KEYS: members.map((m) => publicKeyLine(this.box, m)).join("\n") });
    const hub = await this.#start("hub", [
      "--nats-role",
      "hub",
      "--nats-listen",
      "127.0.0.1:-1",
      "--leaf-listen",
      "127.0.0.1:-1",
      ...extra,
    ]);
    this.#clientPort = hub.info.ports?.client ?? 0;
    this.#leafPort = hub.info.ports?.leafnode ?? 0;
    return hub;
  }

  startLeaf(name: string, extra: string[] = []): Promise<RunningAgent> {
    return this.#start(name, [
      "--nats-role",
      "leaf",
      "--hub",
      `nats-leaf://127.0.0.1:${this.#leafPort}`,
      "--accept-hub-key",
      "--notify-nats-url",
      this.hubUrl,
      ...extra,
    ]);
  }

  async #start(name: string, args: string[]): Promise<RunningAgent> {
    const full = [...args, "--cwd", this.box.dir, "--notify-name", name];
    this.#args.set(name, full);
    const agent = await startAgent(this.box, name, full, this.#env.get(name));
    this.agents.set(name, agent);
    return agent;
  }

  /** Stops the agent (the device goes offline; its store stays on disk). */
  async stopAgent(name: string): Promise<void> {
    await stop(this.agent(name), "SIGTERM");
    this.agents.delete(name);
  }

  async restartAgent(name: string): Promise<RunningAgent> {
    const agent = await startAgent(this.box, name, this.#args.get(name) ?? [], this.#env.get(name));
    this.agents.set(name, agent);
    return agent;
  }

  env(device: string): NodeJS.ProcessEnv {
    // A device without an agent pins the hub's certificate on first use, as `--accept-hub-key` would.
    return {
      ...deviceEnv(this.box, device),
      EDGESYNC_NATS_URL: "",
      EDGESYNC_NOTIFY_NAME: device,
      EDGESYNC_ACCEPT_HUB_KEY: "1",
    };
  }

  /** The device's key (created on first use, as the agent or `notify join` would). */
  async identity(device: string): Promise<Identity> {
    const home = this.env(device).EDGESYNC_HOME as string;
    return (await loadOrCreateIdentity(join(home, "id_ed25519"), true)).identity;
  }

  /** Starts `edgesync notify …` as `device` without waiting (ask, watch). */
  spawn(device: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Running {
    return this.spawnEdgesync(device, ["notify", ...args], extraEnv);
  }

  /** Starts `edgesync …` as `device` without waiting. */
  spawnEdgesync(device: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Running {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...this.env(device), ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out = { stdout: "", stderr: "" };
    child.stdout?.on("data", (c: Buffer) => (out.stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (out.stderr += c.toString()));
    return Object.assign(child, { output: () => ({ code: child.exitCode ?? -1, ...out }) });
  }

  /** Runs `edgesync notify …` as `device`; resolves when it exits. */
  notify(device: string, args: string[], timeoutMs = 30_000, extraEnv: NodeJS.ProcessEnv = {}): Promise<CliResult> {
    return collect(this.spawn(device, args, extraEnv), timeoutMs);
  }

  /** `notify log <thread> --json` as `device`, polled until `until` holds. */
  async logUntil(
    device: string,
    thread: string,
    project: string,
    until: (messages: NotifyMessage[]) => boolean,
    timeoutMs = 20_000,
  ): Promise<NotifyMessage[]> {
    let last: CliResult = { code: -1, stdout: "", stderr: "" };
    let messages: NotifyMessage[] = [];
    await waitFor(
      `${device}'s log of ${project}/${thread}`,
      async () => {
        last = await this.notify(device, ["log", thread, "--project", project, "--json"]);
        messages = last.code === 0 ? (JSON.parse(last.stdout) as NotifyMessage[]) : [];
        return until(messages);
      },
      timeoutMs,
      () => `${JSON.stringify(last)}\n${this.detail()}`,
    );
    return messages;
  }

  /** A raw NATS connection to the agent's own server (for putting hand-made frames on the wire), as its local user. */
  connect(name: string): Promise<NatsConnection> {
    const { natsUrl, natsCredentials } = this.agent(name).info;
    return connectPlainNats({
      servers: natsUrl,
      credentialsFile: natsCredentials,
      name: "notify-test-wire",
      log: silentLog,
      waitOnFirstConnect: true,
    });
  }

  /** Publishes `m` on its live subject and waits for a notify service's ack. */
  static async deliver(nc: NatsConnection, m: NotifyMessage): Promise<void> {
    await nc.request(notifySubject(DEFAULT_SET, m.project, m.thread), encodeMessage(m), { timeout: 5_000 });
  }

  detail(): string {
    return [...this.agents].map(([name, a]) => `--- ${name}\n${a.output().slice(-2500)}`).join("\n");
  }

  async close(): Promise<void> {
    for (const agent of [...this.agents.values()].reverse()) await stop(agent, "SIGTERM").catch(() => {});
    await this.box.cleanup();
  }
}

export function collect(child: Running, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`CLI did not exit within ${timeoutMs} ms:\n${JSON.stringify(child.output())}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolve(child.output());
    };
    // 'close' comes after the process exited and its output was read to the end.
    if (child.exitCode !== null && child.stdout?.readableEnded && child.stderr?.readableEnded) done();
    else child.once("close", done);
  });
}
