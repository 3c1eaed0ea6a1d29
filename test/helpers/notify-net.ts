/**
 * Notify e2e harness: a real NATS topology (a hub and leaves, each a real nats-server child on
 * loopback ephemeral ports), notify services started the way the agent starts them
 * (startNotifyService with the device's key and home), and the CLI run as real processes against
 * each device's EDGESYNC_HOME (it finds the service through `<home>/agent.json`, as with a real agent).
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { spawn, type ChildProcess } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { NatsServerSupervisor } from "../../agent/nats/supervisor.js";
import { connectNats } from "../../agent/nats/connect.js";
import { Identity, saveIdentity } from "../../agent/auth/identity.js";
import { silentLog, type Log } from "../../agent/sync/ports.js";
import { startNotifyService, type NotifyService } from "../../notify/service.js";
import { waitFor } from "./cli.js";

const MAIN_BIN = resolve("dist/cmd/edgesync.js");
const NOTIFY_BIN = resolve("test/artifacts/notify-bin.mjs");

/** The binary to run: the real one once it registers the notify commands, else the notify-only entry bundled here. */
async function notifyBinary(): Promise<string> {
  const registry = resolve("dist/cmd/registry.js");
  if (existsSync(registry) && readFileSync(registry, "utf8").includes("notifyCommands")) return MAIN_BIN;
  const esbuild = await import("esbuild");
  await mkdir(resolve("test/artifacts"), { recursive: true });
  await esbuild.build({ entryPoints: [resolve("test/helpers/notify-bin.ts")], bundle: true, platform: "node", format: "esm", target: "node20", packages: "external", outfile: NOTIFY_BIN, logLevel: "silent" });
  return NOTIFY_BIN;
}

export interface Server {
  name: string;
  supervisor: NatsServerSupervisor;
  url: string;
}

export interface Device {
  name: string;
  home: string;
  env: NodeJS.ProcessEnv;
  identity: Identity;
  server: Server;
  service?: NotifyService;
  nc?: NatsConnection;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const log = (name: string): Log => (process.env.NOTIFY_TEST_LOG ? {
  debug() {},
  info: (f, m) => process.stderr.write(`[${name}] ${m} ${JSON.stringify(f)}\n`),
  warn: (f, m) => process.stderr.write(`[${name}] WARN ${m} ${JSON.stringify(f)}\n`),
} : silentLog);

export class NotifyNet {
  readonly dir: string;
  readonly bin: string;
  readonly servers = new Map<string, Server>();
  readonly devices = new Map<string, Device>();

  private constructor(dir: string, bin: string) {
    this.dir = dir;
    this.bin = bin;
  }

  static async create(label: string): Promise<NotifyNet> {
    const bin = await notifyBinary();
    return new NotifyNet(await mkdtemp(join(tmpdir(), `es-${label}-`)), bin);
  }

  get hub(): Server {
    return this.servers.get("hub") as Server;
  }

  async startHub(): Promise<Server> {
    const supervisor = new NatsServerSupervisor({ role: "hub", stateDir: join(this.dir, "nats-hub"), serverName: `hub-${process.pid}`, client: { host: "127.0.0.1", port: -1 }, leafnode: { host: "127.0.0.1", port: -1 } });
    await supervisor.start();
    return this.#add("hub", supervisor);
  }

  /** A leaf server dialling the hub; resolves once messages cross the leaf link both ways. */
  async startLeaf(name: string): Promise<Server> {
    const supervisor = new NatsServerSupervisor({ role: "leaf", stateDir: join(this.dir, `nats-${name}`), serverName: `${name}-${process.pid}`, client: { host: "127.0.0.1", port: -1 }, remotes: [{ url: `nats-leaf://127.0.0.1:${this.hub.supervisor.ports.leafnode}` }] });
    await supervisor.start();
    const server = this.#add(name, supervisor);
    await linked(server.url, this.hub.url);
    return server;
  }

  #add(name: string, supervisor: NatsServerSupervisor): Server {
    const server = { name, supervisor, url: supervisor.clientUrl };
    this.servers.set(name, server);
    return server;
  }

  async stopServer(name: string): Promise<void> {
    await this.servers.get(name)?.supervisor.stop();
  }

  /** A device with its own home and key; `withService` runs a notify service on `server` like an agent. */
  async device(name: string, server: Server, options: { withService?: boolean; inboxListen?: string } = {}): Promise<Device> {
    const home = join(this.dir, `${name}-home`);
    const identity = Identity.generate(`${name}@test`);
    await saveIdentity(identity, join(home, "id_ed25519"));
    const env = { ...process.env, EDGESYNC_HOME: home, HOME: home, NO_COLOR: "1", EDGESYNC_NATS_URL: "" };
    const device: Device = { name, home, env, identity, server };
    this.devices.set(name, device);
    if (options.withService ?? true) await this.startService(device, options.inboxListen);
    return device;
  }

  async startService(device: Device, inboxListen?: string): Promise<void> {
    device.nc = await connectNats({ servers: device.server.url, name: `notify-test-${device.name}`, log: silentLog, waitOnFirstConnect: true });
    device.service = await startNotifyService({
      nc: device.nc,
      device: { peerId: device.identity.nkeyPublic, sign: (b) => device.identity.sign(b), publicKey: device.identity.publicKey, name: device.name },
      homeDir: device.home,
      log: log(device.name),
      inboxListen,
      publicNatsUrl: this.hub.url,
    });
    await writeFile(join(device.home, "agent.json"), JSON.stringify({ pid: process.pid, natsUrl: device.server.url }));
  }

  /** Stops the device's service and connection (the device goes offline; its store stays on disk). */
  async stopService(device: Device): Promise<void> {
    await device.service?.stop();
    await device.nc?.close();
    device.service = undefined;
    device.nc = undefined;
  }

  /** Runs `edgesync notify …` as that device; resolves when it exits. */
  cli(device: Device, args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<CliResult> {
    const child = this.spawn(device, args);
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
    return collect(child, options.timeoutMs ?? 30_000);
  }

  /** Starts `edgesync notify …` without waiting (ask, watch). */
  spawn(device: Device, args: string[]): ChildProcess & { output(): CliResult } {
    const child = spawn(process.execPath, [this.bin, "notify", ...args], { env: device.env, stdio: ["pipe", "pipe", "pipe"] });
    const out = { stdout: "", stderr: "" };
    child.stdout?.on("data", (c: Buffer) => (out.stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (out.stderr += c.toString()));
    return Object.assign(child, { output: () => ({ code: child.exitCode ?? -1, ...out }) });
  }

  async close(): Promise<void> {
    for (const device of this.devices.values()) await this.stopService(device).catch(() => {});
    for (const server of [...this.servers.values()].reverse()) await server.supervisor.stop().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function collect(child: ChildProcess & { output(): CliResult }, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`CLI did not exit within ${timeoutMs} ms:\n${JSON.stringify(child.output())}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      resolvePromise(child.output());
    };
    // 'close' comes after the process exited and its output was read to the end.
    if (child.exitCode !== null && child.stdout?.readableEnded && child.stderr?.readableEnded) done();
    else child.once("close", done);
  });
}

/** Resolves once a message published on `a` reaches a subscriber on `b` and back (leaf link up, interest propagated). */
async function linked(a: string, b: string): Promise<void> {
  const [ncA, ncB] = await Promise.all([a, b].map((url) => connectNats({ servers: url, name: "link-probe", log: silentLog })));
  try {
    for (const [from, to] of [[ncA, ncB], [ncB, ncA]] as const) {
      let got = false;
      const sub = to.subscribe("es.test.link", { callback: () => {
        got = true;
      } });
      await to.flush();
      await waitFor("the leaf link", async () => {
        from.publish("es.test.link");
        await from.flush();
        await new Promise((r) => setTimeout(r, 20));
        return got;
      }, 15_000);
      sub.unsubscribe();
    }
  } finally {
    await ncA.close();
    await ncB.close();
  }
}
