/**
 * An opened vault folder: config, store, doc, engine and folder binding wired together. The agent
 * adds a real transport; offline commands (status, restore-at, snapshot, diff, compact) use it as is.
 *
 * This folder sits above both the vault (agent/vault: model, stores, config) and the sync engine
 * (agent/sync), because opening a vault means joining the two; neither of them imports it.
 */
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import * as A from "@automerge/automerge";
import { loadVaultConfig, type VaultConfig } from "../vault/config.js";
import { DiskStore } from "../vault/store/disk-store.js";
import { DiskBlobStore, sha256Native } from "../vault/store/disk-blob-store.js";
import { loadDoc } from "../vault/model/load.js";
import { createdIdentity, isReady, type Doc } from "../vault/model/vault-doc.js";
import { STATE_DIR } from "../vault/paths.js";
import { lockVault, type VaultLock } from "../vault/lock.js";
import { SyncEngine, type ChangeEvent } from "../sync/engine.js";
import { nullTransport } from "../sync/null-transport.js";
import { asPeerId, type Log, type Transport, type Clock, silentLog } from "../sync/ports.js";
import { FolderBinding } from "../fs/folder-binding.js";
import { ConfigError } from "../vault/config.js";

export interface OpenVaultOptions {
  root: string;
  /** This device's peer id (its NATS user nkey). */
  peerId: string;
  transport?: Transport;
  log?: Log;
  clock?: Clock;
  /** This is the hub's copy of the vault (SyncEngineConfig.hub). */
  hub?: boolean;
  /** Keep watching the folder (the agent) or only reconcile on demand (one-shot commands). */
  watch?: boolean;
  allowMassDelete?: boolean;
  /** Who holds the lock, for the message another process gets. */
  holder: string;
  onChange?: (event: ChangeEvent) => void;
}

export interface LocalVault {
  root: string;
  stateDir: string;
  config: VaultConfig;
  store: DiskStore;
  engine: SyncEngine;
  binding: FolderBinding;
  /** Starts the engine and binding (initial reconcile included). */
  start(): Promise<void>;
  close(): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now() };

export async function openLocalVault(options: OpenVaultOptions): Promise<LocalVault> {
  const stateDir = join(options.root, STATE_DIR);
  const config = await loadVaultConfig(options.root);
  const lock: VaultLock = await lockVault(stateDir, options.holder);
  try {
    const store = new DiskStore(stateDir);
    const doc = loadDoc(await store.load(), randomBytes(16).toString("hex"));
    checkDocMatchesConfig(doc, config);
    const log = options.log ?? silentLog;
    const bindingRef: { current?: FolderBinding } = {};
    const engine = new SyncEngine({
      self: asPeerId(options.peerId),
      vault: { id: config.vault.id, name: config.vault.name },
      doc,
      store,
      storedHeads: A.getHeads(doc),
      blobs: new DiskBlobStore(stateDir),
      blobBytesMax: config.sync.fileBytesMax,
      digest: sha256Native,
      transport: options.transport ?? nullTransport(asPeerId(options.peerId)),
      clock: options.clock ?? systemClock,
      log,
      hub: options.hub,
      onChange: (event) => {
        options.onChange?.(event);
        if (event.paths.length > 0) void bindingRef.current?.onDocChange(event.paths, event.heads);
      },
    });
    const binding = new FolderBinding({
      root: options.root,
      stateDir,
      engine,
      sync: config.sync,
      log,
      watch: options.watch ?? false,
      allowMassDelete: options.allowMassDelete,
    });
    bindingRef.current = binding;
    let started = false;
    let closed = false;
    return {
      root: options.root,
      stateDir,
      config,
      store,
      engine,
      binding,
      async start() {
        await engine.start();
        started = true;
        if (isReady(engine.doc)) await binding.start();
      },
      async close() {
        if (closed) return;
        closed = true;
        if (started) await binding.stop();
        await engine.stop();
        await store.close();
        await lock.release();
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/**
 * A config.toml beside another vault's document is refused. Judged by the document's creating
 * change, not its current `meta`: a member's later rewrite of `meta` must not lock every device out.
 */
function checkDocMatchesConfig(doc: Doc, config: VaultConfig): void {
  if (!isReady(doc)) return;
  // The current copy agrees in every vault no member rewrote: only a disagreement is worth reading the history for.
  if (String(doc.meta?.vaultId) === config.vault.id || createdIdentity(doc, config.vault.id) !== undefined) return;
  const created = createdIdentity(doc);
  throw new ConfigError(
    `.edgesync/config.toml names vault ${config.vault.id} but the stored document is vault ${created?.vaultId ?? "(unknown)"}; restore the right config.toml`,
  );
}

export async function docBytesOnDisk(stateDir: string): Promise<number> {
  const sizes = await Promise.all(
    ["doc.bin", "doc.log"].map((f) =>
      stat(join(stateDir, f)).then(
        (s) => s.size,
        () => 0,
      ),
    ),
  );
  return sizes[0] + sizes[1];
}

export const headsOf = (doc: Doc) => A.getHeads(doc);
