/**
 * Syncthing under test (Debian's package, `apt-get install -y syncthing`), loopback only: every
 * instance listens on tcp://127.0.0.1 with global/local discovery, relays, NAT/STUN, usage
 * reporting, crash reporting, upgrades and the browser off. Each instance is configured and driven
 * through its REST API with its API key. Star topology like edgesync's: a hub instance shares each
 * folder with every leaf; leaves know only the hub, so a change goes leaf → hub → leaves.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import {
  benchDir, discardLater, startProcess, stopProcess, waitUntil, writeVaultFiles, verifyVaultFiles, measureArrivals, summarise, freePort,
  treePeakRssMiB, LIVE_VAULT_FILES, type BenchPlan, type Proc,
} from "./fixtures.js";
import { attempt, emptyResult, say, type SystemResult } from "./result.js";
import { measureFanout, measurePropagation, recordSetupFailure } from "./phases.js";
import { processTree } from "./proc-probe.js";

const NAME = "syncthing";
export const SYNCTHING_INSTALL = "apt-get install -y syncthing   (Debian/Ubuntu; or a release from https://syncthing.net/downloads/)";
/** Seconds the fs watcher aggregates events before it scans (Syncthing's default is 10). */
const WATCHER_DELAY_S = 1;

function syncthingBinary(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "syncthing"))) return join(dir, "syncthing");
  return undefined;
}

interface FolderStatus {
  state: string;
  globalFiles: number;
  localFiles: number;
  needFiles: number;
  inSyncFiles: number;
}

class Instance {
  proc: Proc | undefined;
  id = "";
  readonly apiKey = randomBytes(16).toString("hex");

  constructor(readonly bin: string, readonly name: string, readonly home: string, readonly guiPort: number, readonly listenPort: number) {}

  get address() {
    return `tcp://127.0.0.1:${this.listenPort}`;
  }

  /** Keys and a bootstrap config.xml: GUI/REST on loopback with our API key, everything that leaves the host off. */
  async prepare(): Promise<void> {
    execFileSync(this.bin, ["generate", `--home=${this.home}`, "--no-default-folder"], { stdio: "ignore" });
    this.id = execFileSync(this.bin, ["serve", `--home=${this.home}`, "--device-id"], { encoding: "utf8" }).trim();
    const options = {
      listenAddress: this.address, globalAnnounceEnabled: false, localAnnounceEnabled: false, relaysEnabled: false, natEnabled: false,
      stunKeepaliveStartS: 0, urAccepted: -1, autoUpgradeIntervalH: 0, startBrowser: false, crashReportingEnabled: false,
      reconnectionIntervalS: 1, setLowPriority: false, restartOnWakeup: false,
    };
    const xml = `<configuration version="36">
    <device id="${this.id}" name="${this.name}" compression="metadata"><address>dynamic</address></device>
    <gui enabled="true" tls="false"><address>127.0.0.1:${this.guiPort}</address><apikey>${this.apiKey}</apikey><theme>default</theme></gui>
    <options>${Object.entries(options).map(([k, v]) => `<${k}>${v}</${k}>`).join("")}</options>
</configuration>\n`;
    await writeFile(join(this.home, "config.xml"), xml);
  }

  start(): void {
    const env = { ...process.env, STNODEFAULTFOLDER: "1", STNOUPGRADE: "1", STNORESTART: "1", HOME: this.home };
    this.proc = startProcess(this.bin, ["serve", `--home=${this.home}`, "--no-browser", "--no-restart", "--no-upgrade", "--no-default-folder", "--skip-port-probing", "--logflags=0"], { env });
  }

  /**
   * The process that does Syncthing's work: `syncthing serve` runs as a monitor that starts the
   * serving process even with --no-restart, so the CPU probe's "own process" must be the child.
   */
  async servingPid(): Promise<number | undefined> {
    const tree = await processTree(this.proc?.pid);
    return tree.length > 1 ? tree[1] : tree[0];
  }

  async ready(): Promise<void> {
    await waitUntil(`syncthing ${this.name} REST API`, async () => {
      if (this.proc?.exitCode !== null) throw new Error(`syncthing ${this.name} exited: ${this.proc?.output().slice(-2000)}`);
      return (await this.api("GET", "/rest/system/ping").catch(() => undefined)) !== undefined;
    }, 30_000, () => this.proc?.output() ?? "");
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`http://127.0.0.1:${this.guiPort}${path}`, {
      method, headers: { "X-API-Key": this.apiKey, "Content-Type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`syncthing ${this.name} ${method} ${path}: HTTP ${response.status} ${text.slice(0, 300)}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  addDevice(other: Instance) {
    return this.api("POST", "/rest/config/devices", { deviceID: other.id, name: other.name, addresses: [other.address], autoAcceptFolders: false });
  }

  addFolder(id: string, path: string, devices: Instance[]) {
    return this.api("POST", "/rest/config/folders", {
      id, label: id, path, type: "sendreceive", devices: [this, ...devices].map((d) => ({ deviceID: d.id })),
      rescanIntervalS: 3600, fsWatcherEnabled: true, fsWatcherDelayS: WATCHER_DELAY_S,
    });
  }

  status(folder: string) {
    return this.api<FolderStatus>("GET", `/rest/db/status?folder=${encodeURIComponent(folder)}`);
  }

  scan(folder: string, sub: string) {
    return this.api("POST", `/rest/db/scan?folder=${encodeURIComponent(folder)}&sub=${encodeURIComponent(sub)}`);
  }

  async inSync(folder: string, files: number): Promise<boolean> {
    const s = await this.status(folder).catch(() => undefined);
    return s !== undefined && s.state === "idle" && s.needFiles === 0 && s.globalFiles >= files && s.localFiles >= files;
  }

  async stop(): Promise<void> {
    if (this.proc) await stopProcess(this.proc, "SIGTERM");
  }
}

class Cluster {
  readonly all: Instance[] = [];
  constructor(readonly bin: string, readonly box: string) {}

  async instance(name: string): Promise<Instance> {
    const home = join(this.box, "homes", name);
    await mkdir(home, { recursive: true });
    const inst = new Instance(this.bin, name, home, await freePort(), await freePort());
    await inst.prepare();
    this.all.push(inst);
    return inst;
  }

  async started(name: string): Promise<Instance> {
    const inst = await this.instance(name);
    inst.start();
    await inst.ready();
    return inst;
  }

  /** Shares folder `id` between the hub and a leaf (hub side first, so the leaf's offer is expected). */
  async share(hub: Instance, leaf: Instance, id: string, leafPath: string, hubPeers: Instance[]): Promise<void> {
    await hub.addDevice(leaf);
    await hub.api("PATCH", `/rest/config/folders/${id}`, { devices: [hub, ...hubPeers].map((d) => ({ deviceID: d.id })) });
    await leaf.addDevice(hub);
    await leaf.addFolder(id, leafPath, [hub]);
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((i) => i.stop()));
  }
}

export async function runSyncthing(plan: BenchPlan): Promise<SystemResult> {
  const result = emptyResult(NAME);
  const bin = syncthingBinary();
  if (!bin) {
    result.skipped = `syncthing is not installed — install it with: ${SYNCTHING_INSTALL}`;
    return result;
  }
  const version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
  result.setup.push(
    `${version}; every instance on 127.0.0.1 only: discovery (global+local), relays, NAT/STUN, usage + crash reporting, upgrades, browser off; configured and driven via REST with an API key`,
    `star topology: a hub instance shares each folder with every leaf, leaves know only the hub; folders sendreceive, rescanIntervalS 3600, fsWatcherEnabled with fsWatcherDelayS ${WATCHER_DELAY_S}`,
    "propagation (main row): after writing on A the bench asks A to scan that path (POST /rest/db/scan?sub=) — Syncthing's best case; the fs-watcher-only variant is reported separately",
    "clone: a fresh instance (keys pre-generated, ~40 ms) from `syncthing serve` spawn until /rest/db/status reports the folder complete; peak RSS = VmHWM summed over its process tree (monitor + serving process)",
    `fan-out: leaf A writes and asks for a scan; ${plan.fanoutLeaves} leaf instances receive via the hub`,
  );
  const box = await benchDir("syncthing");
  const cluster = new Cluster(bin, box);
  try {
    const hub = await cluster.started("hub");
    const a = await cluster.started("a");
    const b = await cluster.started("b");
    const dirs = { hub: join(box, "hub-live"), a: join(box, "a"), b: join(box, "b") };
    await writeVaultFiles(dirs.a, LIVE_VAULT_FILES);
    await hub.addFolder("live", dirs.hub, []);
    const leaves = [a, b];
    for (const leaf of leaves) await cluster.share(hub, leaf, "live", leaf === a ? dirs.a : dirs.b, leaves.slice(0, leaves.indexOf(leaf) + 1));
    await waitUntil("syncthing leaf B to hold the live vault", async () => (await b.inSync("live", LIVE_VAULT_FILES)) && (await verifyVaultFiles(dirs.b, LIVE_VAULT_FILES)) === undefined, 120_000);
    const write = (rel: string, bytes: Buffer) => writeFile(join(dirs.a, rel), bytes);
    const scan = (rel: string) => a.scan("live", rel).then(() => undefined);

    await measurePropagation(result, plan, { write, afterWrite: scan }, dirs.b, "A → hub → B (scan requested after each write)");
    await attempt(result, "propagation (fs watcher only)", async () => {
      const edits = Math.min(plan.edits, 20);
      say(NAME, `propagation, fs watcher only: ${edits} edits`);
      const watcher = await measureArrivals({ edits, write, receivers: [dirs.b], tag: "watch", timeoutMs: plan.arrivalTimeoutMs });
      result.propagationVariants = { [`fs watcher only (fsWatcherDelayS ${WATCHER_DELAY_S}, no REST scan)`]: summarise(watcher.perArrival) };
    });

    for (const files of plan.cloneSizes) {
      await attempt(result, `clone of ${files} files`, async () => {
        const id = `clone${files}`;
        const seed = join(box, `hub-${id}`);
        say(NAME, `clone: seeding ${files} files on the hub`);
        await writeVaultFiles(seed, files);
        await hub.addFolder(id, seed, []);
        await waitUntil(`the hub to scan ${files} files`, () => hub.inSync(id, files), 600_000);
        const cloner = await cluster.instance(`clone-${files}`);
        await hub.addDevice(cloner);
        await hub.api("PATCH", `/rest/config/folders/${id}`, { devices: [hub, cloner].map((d) => ({ deviceID: d.id })) });
        const dir = join(box, `clone-${files}`);
        say(NAME, `clone: ${files} files`);
        const started = performance.now();
        cloner.start();
        await cloner.ready();
        await cloner.addDevice(hub);
        await cloner.addFolder(id, dir, [hub]);
        await waitUntil(`syncthing clone of ${files} files`, () => cloner.inSync(id, files), 600_000, () => cloner.proc?.output() ?? "");
        const wallMs = performance.now() - started;
        const peakRssMiB = await treePeakRssMiB(cloner.proc!.pid!);
        await cloner.stop();
        const problem = await verifyVaultFiles(dir, files);
        if (problem) throw new Error(`clone incomplete: ${problem}`);
        result.clones.push({ files, wallMs: Math.round(wallMs), peakRssMiB, rssOf: "the cloning `syncthing serve` process (VmHWM)" });
        await hub.api("DELETE", `/rest/config/folders/${id}`);
        discardLater(dir);
        discardLater(seed);
      });
    }

    await measureFanout(result, plan, { write, afterWrite: scan }, async () => {
      const receivers = [dirs.b];
      const extra: Instance[] = [];
      for (let i = 1; i < plan.fanoutLeaves; i++) extra.push(await cluster.started(`leaf${i}`));
      for (const [i, leaf] of extra.entries()) {
        leaves.push(leaf);
        const dir = join(box, `leaf${i + 1}`);
        receivers.push(dir);
        await cluster.share(hub, leaf, "live", dir, leaves);
      }
      await waitUntil(`${extra.length} more syncthing leaves to hold the live vault`, async () => (await Promise.all(extra.map((l) => l.inSync("live", LIVE_VAULT_FILES)))).every(Boolean), 300_000);
      return receivers;
    }, "A → hub", async () => ({ hub: [await hub.servingPid()], leaves: await Promise.all(leaves.filter((leaf) => leaf !== a).map((leaf) => leaf.servingPid())) }));
  } catch (error) {
    recordSetupFailure(result, error);
  } finally {
    await cluster.stopAll();
    discardLater(box);
  }
  return result;
}
