/**
 * In-process vault folders for reliability tests: a creator and clones whose real engines, stores
 * and folder bindings talk over an in-process bus (no NATS: the e2e files cover that part).
 */
import { mkdtemp, writeFile, readFile, rm, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { initVault } from "../../agent/vault/init.js";
import { openLocalVault, type LocalVault } from "../../agent/local-vault/local-vault.js";
import { MemoryBus } from "../../agent/sync/memory-bus.js";
import { asPeerId, type Log, type PeerId, type Transport } from "../../agent/sync/ports.js";
import { saveVaultConfig, type VaultConfig } from "../../agent/vault/config.js";
import { listStored } from "../../agent/vault/model/vault-doc.js";
import { waitFor } from "./wait.js";

export const KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHQ7Y2F0c3RhbmRpbmd0ZXN0a2V5MDAwMDAwMDAwMDAw test@device";

export const readText = (path: string) => readFile(path, "utf8").catch(() => undefined);
export const readBytes = (path: string) => readFile(path).catch(() => undefined);

/** A log that remembers warnings, so tests can assert that something was logged. */
export function recordingLog(): Log & { warnings: { fields: Record<string, unknown>; message: string }[] } {
  const warnings: { fields: Record<string, unknown>; message: string }[] = [];
  return {
    warnings,
    debug() {},
    info() {},
    warn(fields: Record<string, unknown>, message: string) {
      warnings.push({ fields, message });
    },
  } as Log & { warnings: { fields: Record<string, unknown>; message: string }[] };
}

export interface Folders {
  dirs: string[];
  vaults: LocalVault[];
  bus: { transport(self: PeerId): Transport };
  config: VaultConfig;
  logs: ReturnType<typeof recordingLog>[];
  cleanup(): Promise<void>;
}

export interface FoldersOptions {
  /** Number of folders (the first is the creator). */
  count?: number;
  /** Files the creator has before init. */
  seed?: Record<string, string | Uint8Array>;
  /** Extra config for every folder. */
  sync?: Partial<VaultConfig["sync"]>;
  watch?: boolean;
  /** Where the folders live (default: the OS temp dir). */
  parent?: string;
  /** The bus the engines talk over (default: a perfect in-process bus). */
  bus?: { transport(self: PeerId): Transport };
  /** Runs on each empty folder before anything is written into it (e.g. to mount a small tmpfs). */
  prepare?: (dir: string, index: number) => Promise<void>;
}

/** Creator + clones, all started and converged on the seed files. */
export async function vaultFolders(options: FoldersOptions = {}): Promise<Folders> {
  const count = options.count ?? 2;
  const parent = options.parent ?? tmpdir();
  const dirs: string[] = [];
  for (let i = 0; i < count; i++) dirs.push(await mkdtemp(join(parent, `es-rel-${i}-`)));
  for (const [i, dir] of dirs.entries()) await options.prepare?.(dir, i);
  const seed = { "existing.md": "was here before init\n", ...options.seed };
  for (const [path, body] of Object.entries(seed)) {
    await mkdir(join(dirs[0], path, ".."), { recursive: true });
    await writeFile(join(dirs[0], path), body);
  }
  const { config: initial } = await initVault({ root: dirs[0], authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
  const config: VaultConfig = { ...initial, sync: { ...initial.sync, ...options.sync } };
  await saveVaultConfig(dirs[0], config);
  for (const dir of dirs.slice(1)) {
    await mkdir(join(dir, ".edgesync"), { recursive: true, mode: 0o700 });
    await saveVaultConfig(dir, config);
  }
  const bus = options.bus ?? new MemoryBus();
  const vaults: LocalVault[] = [];
  const logs: ReturnType<typeof recordingLog>[] = [];
  for (let i = 0; i < count; i++) {
    const log = recordingLog();
    logs.push(log);
    const ref: { v?: LocalVault; started?: boolean } = {};
    const vault = await openLocalVault({
      root: dirs[i],
      peerId: `U${i}`,
      holder: "test",
      watch: options.watch ?? true,
      log,
      transport: bus.transport(asPeerId(`U${i}`)),
      // A clone's binding starts once the vault document arrives.
      onChange:
        i === 0
          ? undefined
          : () => {
              const v = ref.v;
              if (ref.started || !v || listStored(v.engine.doc).size === 0 || A.getHeads(v.engine.doc).length === 0)
                return;
              ref.started = true; // once: every start() adds a watcher and a rescan timer
              void v.binding.start().catch(() => {});
            },
    });
    ref.v = vault;
    vaults.push(vault);
  }
  for (const vault of vaults) await vault.start();
  for (const dir of dirs.slice(1)) {
    for (const [path, body] of Object.entries(seed)) {
      const want = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
      await waitFor(`${path} to reach ${dir}`, async () => (await readBytes(join(dir, path)))?.equals(want) === true);
    }
  }
  let cleaned = false;
  return {
    dirs,
    vaults,
    bus,
    config,
    logs,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      for (const v of vaults) await v.close().catch(() => {});
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    },
  };
}
