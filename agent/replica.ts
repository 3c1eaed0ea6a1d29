/**
 * A headless replica: the vault document without a folder. The hub keeps one for every vault it
 * hears about, so a device that was offline catches up from it, and clones download from it.
 */
import * as A from "@automerge/automerge";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { DiskStore } from "./vault/store/disk-store.js";
import { DiskBlobStore, sha256Native } from "./vault/store/disk-blob-store.js";
import { loadDoc } from "./vault/model/load.js";
import { SyncEngine, type ChangeEvent, type VaultIdentity } from "./sync/engine.js";
import { asPeerId, type Clock, type Log, type Transport } from "./sync/ports.js";

/**
 * A hub makes the snapshot a clone downloads once a vault has been quiet this long (one agent tick
 * after its last change), not when the clone asks: a new device is often cloned right after a vault
 * is set up or edited, and saving a large vault's snapshot would then add to the clone's wait.
 */
const HUB_SNAPSHOT_QUIET_MS = 500;

export interface ReplicaOptions {
  /** Folder for this replica's store (created 0700). */
  dir: string;
  /** The vault as the hub hosts it (its registration): what the replica routes by, never the doc's `meta`. */
  vault: VaultIdentity;
  peerId: string;
  /** This replica is the hub's (SyncEngineConfig.hub). */
  hub?: boolean;
  transport: Transport;
  clock: Clock;
  log: Log;
  onChange?: (event: ChangeEvent) => void;
}

export interface Replica {
  engine: SyncEngine;
  close(): Promise<void>;
}

export async function openReplica(options: ReplicaOptions): Promise<Replica> {
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const store = new DiskStore(options.dir);
  const doc = loadDoc(await store.load(), randomBytes(16).toString("hex"), { markSaved: false });
  // The hub keeps binary contents too (`<dir>/blobs/`), so a device can fetch them while their writer is offline.
  const engine = new SyncEngine({
    self: asPeerId(options.peerId),
    vault: options.vault,
    doc,
    store,
    storedHeads: A.getHeads(doc),
    blobs: new DiskBlobStore(options.dir),
    digest: sha256Native,
    transport: options.transport,
    clock: options.clock,
    log: options.log,
    onChange: options.onChange,
    hub: options.hub,
    snapshotWhenQuietMs: options.hub ? HUB_SNAPSHOT_QUIET_MS : undefined,
  });
  await engine.start();
  return {
    engine,
    async close() {
      await engine.stop();
      await store.close();
    },
  };
}

export const replicaDir = (homeDir: string, vaultId: string) => join(homeDir, "replicas", vaultId);
