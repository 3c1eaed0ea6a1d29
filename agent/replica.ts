/**
 * A headless replica: the vault document without a folder. The hub keeps one for every vault it
 * hosts, so a device that was offline catches up from it, and clones download from it.
 *
 * A replica left idle for `idleUnloadMs` is unloaded: its engine stops once its document is saved,
 * and the document leaves memory, while the vault's transport (replica-transport.ts) keeps its
 * subscriptions. Unloaded, it announces the heads it saved; the first message that needs the
 * document loads it again and is handled by the new engine, with everything that arrived
 * meanwhile, in order (parked-replica.ts).
 */
import * as A from "@automerge/automerge";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { DiskStore } from "./vault/store/disk-store.js";
import { DiskBlobStore, sha256Native } from "./vault/store/disk-blob-store.js";
import { loadDoc } from "./vault/model/load.js";
import { isReady } from "./vault/model/vault-doc.js";
import { SyncEngine, type ChangeEvent, type VaultIdentity } from "./sync/engine.js";
import { ENGINE_DEFAULTS } from "./sync/engine-config.js";
import { asPeerId, type Clock, type Log, type PeerId, type Transport } from "./sync/ports.js";
import { ReplicaTransport } from "./replica-transport.js";
import {
  ParkedQueue,
  ParkedVerdict,
  isAnnouncementFrame,
  isIdleTraffic,
  parkedAnnouncement,
  parkedVerdict,
  type ParkedQueueLimits,
} from "./parked-replica.js";
import { measureLoad, type LoadMeasure, type ReplicaMemory } from "./replica-memory.js";
import { readParkedRecord, removeParkedRecord, writeParkedRecord } from "./parked-record.js";

/**
 * A hub makes the snapshot a clone downloads once a vault has been quiet this long (one agent tick
 * after its last change), not when the clone asks: a new device is often cloned right after a vault
 * is set up or edited, and saving a large vault's snapshot would then add to the clone's wait.
 */
const HUB_SNAPSHOT_QUIET_MS = 500;

/**
 * A hub unloads a replica nothing has needed for this long. Minutes, not seconds: a device that
 * edits every few minutes should not pay a load per edit, and a load of a large vault costs
 * seconds of CPU; yet a hub hosting many vaults holds in memory only those in use.
 */
export const REPLICA_IDLE_UNLOAD_MS = 5 * 60_000;

/** What waits for a loading document: enough for a burst of devices, bounded for a flood. */
const PARKED_QUEUE_LIMITS: ParkedQueueLimits = { messagesMax: 1_000, bytesMax: 64 * 1024 * 1024 };

export interface ReplicaOptions {
  /** Folder for this replica's store (created 0700). */
  dir: string;
  /** The vault as the hub hosts it (its registration): what the replica routes by, never the doc's `meta`. */
  vault: VaultIdentity;
  peerId: string;
  /** This replica is the hub's (SyncEngineConfig.hub). */
  hub?: boolean;
  /** The vault's transport, not yet started: the replica starts it once and keeps it until close. */
  transport: Transport;
  clock: Clock;
  log: Log;
  onChange?: (event: ChangeEvent, engine: SyncEngine) => void;
  /** Every time the document is loaded (again), with its new engine. */
  onLoaded?: (engine: SyncEngine) => void;
  /** Unload after this long without work (default REPLICA_IDLE_UNLOAD_MS; Infinity: never). */
  idleUnloadMs?: number;
  /** Loads run one at a time through this (the host's), so one load's memory is measured alone. */
  loadGate?: (load: () => Promise<void>) => Promise<void>;
}

type State =
  | { kind: "loading" }
  | { kind: "loaded"; engine: SyncEngine; store: DiskStore }
  | { kind: "unloading"; engine: SyncEngine }
  | { kind: "unloaded"; heads: string[]; ready: boolean };

export class Replica {
  readonly vault: VaultIdentity;
  readonly #options: ReplicaOptions;
  readonly #idleUnloadMs: number;
  readonly #transport: ReplicaTransport;
  readonly #queue = new ParkedQueue(PARKED_QUEUE_LIMITS);
  /** Load and unload, one after the other. */
  #lifecycle: Promise<void> = Promise.resolve();
  #state: State = { kind: "loading" };
  #lastBusyMs: number;
  #lastParkedAnnounceMs = Number.NEGATIVE_INFINITY;
  #ready = false;
  /** The heads of the document as last loaded or unloaded (announced while unloaded). */
  #savedHeads: string[] = [];
  #closed = false;
  #savedBytes = 0;
  #lastLoad: LoadMeasure | undefined;
  #counts = { loads: 0, unloads: 0 };

  private constructor(options: ReplicaOptions) {
    this.vault = options.vault;
    this.#options = options;
    this.#idleUnloadMs = options.idleUnloadMs ?? REPLICA_IDLE_UNLOAD_MS;
    this.#lastBusyMs = options.clock.now();
    this.#transport = new ReplicaTransport(
      options.transport,
      { onMessage: (from, message) => this.#onParked(from, message), onConnected: () => this.#announceParked() },
      {
        received: (_from, message) => this.#noteTraffic(message, "in"),
        sent: (message) => this.#noteTraffic(message, "out"),
      },
    );
  }

  /**
   * Starts the vault's transport, unloaded when the replica was left so (parked-record.ts: a hub
   * restarting does not load every vault at once), else with the document loaded.
   */
  static async open(options: ReplicaOptions): Promise<Replica> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const replica = new Replica(options);
    const parked = await readParkedRecord(options.dir);
    if (parked) {
      replica.#ready = parked.ready;
      replica.#savedHeads = parked.heads;
      replica.#savedBytes = parked.savedBytes;
      replica.#state = { kind: "unloaded", heads: parked.heads, ready: parked.ready };
      await replica.#transport.start();
      replica.#announceParked();
      options.log.info(
        { vault: options.vault.id, savedBytes: parked.savedBytes },
        "replica opened unloaded, as it was left; loaded on the first message that needs it",
      );
      return replica;
    }
    // Subscribed before the first load: what arrives meanwhile waits in the queue.
    await replica.#transport.start();
    await replica.#runLifecycle(() => replica.#load());
    if (replica.#state.kind !== "loaded") {
      await replica.#transport.stop();
      throw new Error(`cannot load the replica of vault ${options.vault.id}`);
    }
    return replica;
  }

  /** The running engine, while the document is loaded. */
  get engine(): SyncEngine | undefined {
    return this.#state.kind === "loaded" ? this.#state.engine : undefined;
  }

  get state(): State["kind"] {
    return this.#state.kind;
  }

  /** The vault holds a document (a clone may be made from it), loaded or not. */
  get ready(): boolean {
    const state = this.#state;
    return state.kind === "loaded" ? isReady(state.engine.doc) : this.#ready;
  }

  /** The engine, loading the document first if it is not in memory (undefined if the load fails). */
  async loadedEngine(): Promise<SyncEngine | undefined> {
    for (let attempt = 0; attempt < 2 && !this.#closed; attempt++) {
      await this.#lifecycle; // a load or unload under way ends first
      if (this.#state.kind === "loaded") break;
      if (this.#state.kind === "unloaded") await this.#runLifecycle(() => this.#load());
    }
    if (this.#state.kind === "loaded") this.#lastBusyMs = this.#options.clock.now();
    return this.engine;
  }

  /** The host's periodic tick: the engine's, the idle check, or the unloaded replica's announcement. */
  tick(): void {
    const state = this.#state;
    const now = this.#options.clock.now();
    if (state.kind === "unloaded") {
      // Parked heads never change: only the re-announcement that keeps devices routing here is due.
      if (now - this.#lastParkedAnnounceMs >= ENGINE_DEFAULTS.announceIntervalMaxMs) this.#announceParked();
      return;
    }
    if (state.kind !== "loaded") return;
    void state.engine.tick();
    // Blobs still missing do not keep it loaded: their writer may be offline for days, and the
    // next load asks for them again (SyncEngine.start).
    if (now - this.#lastBusyMs >= this.#idleUnloadMs) void this.#runLifecycle(() => this.#unload());
  }

  memory(): ReplicaMemory {
    return {
      state: this.#state.kind,
      savedBytes: this.#savedBytes,
      queuedMessages: this.#queue.length,
      queuedBytes: this.#queue.bytes,
      ...(this.#lastLoad ? { lastLoad: this.#lastLoad } : {}),
      loads: this.#counts.loads,
      unloads: this.#counts.unloads,
      idleMs: Math.max(0, this.#options.clock.now() - this.#lastBusyMs),
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lifecycle;
    const state = this.#state;
    if (state.kind === "loaded") {
      await state.engine.stop();
      await state.store.close();
      await this.#leaveParkedRecord(state.engine, state.store);
    }
    await this.#transport.stop();
  }

  #runLifecycle(step: () => Promise<void>): Promise<void> {
    const run = this.#lifecycle.then(() => (this.#closed ? undefined : step()));
    this.#lifecycle = run.catch((error: unknown) =>
      this.#options.log.warn({ vault: this.vault.id, error: String(error) }, "replica load or unload failed"),
    );
    return this.#lifecycle;
  }

  /** Loads the document and starts an engine on it; the queue goes to the engine before anything newer. */
  async #load(): Promise<void> {
    const options = this.#options;
    this.#state = { kind: "loading" };
    const gate = options.loadGate ?? ((load) => load());
    let loaded: SyncEngine | undefined;
    await gate(async () => {
      const measure = measureLoad();
      // Before an engine can save: the record must never describe a store that moved on.
      await removeParkedRecord(options.dir);
      const store = new DiskStore(options.dir);
      const ref: { engine?: SyncEngine } = {};
      let engine: SyncEngine;
      try {
        const doc = loadDoc(await store.load(), randomBytes(16).toString("hex"));
        // The hub keeps binary contents too (`<dir>/blobs/`), so a device can fetch them while their writer is offline.
        engine = new SyncEngine({
          self: asPeerId(options.peerId),
          vault: options.vault,
          doc,
          store,
          storedHeads: A.getHeads(doc),
          blobs: new DiskBlobStore(options.dir),
          digest: sha256Native,
          transport: this.#transport.lend(() => this.#queue.take()),
          clock: options.clock,
          log: options.log,
          onChange: (event) => this.#onChange(event, ref.engine),
          hub: options.hub,
          snapshotWhenQuietMs: options.hub ? HUB_SNAPSHOT_QUIET_MS : undefined,
        });
        ref.engine = engine;
        this.#state = { kind: "loaded", engine, store };
        await engine.start();
      } catch (error) {
        this.#transport.park();
        await store.close().catch(() => {}); // the load's own error is the one worth reporting
        this.#state = { kind: "unloaded", heads: this.#savedHeads, ready: this.#ready };
        throw error;
      }
      this.#ready = isReady(engine.doc);
      this.#savedHeads = A.getHeads(engine.doc);
      this.#savedBytes = await store.sizeBytes();
      this.#lastLoad = measure.done(engine.doc);
      loaded = engine;
    });
    this.#counts.loads++;
    this.#lastBusyMs = options.clock.now();
    if (loaded) options.onLoaded?.(loaded);
  }

  /** Stops the engine once everything it received is handled and saved, then lets the document go. */
  async #unload(): Promise<void> {
    const state = this.#state;
    if (state.kind !== "loaded" || this.#options.clock.now() - this.#lastBusyMs < this.#idleUnloadMs) return;
    this.#state = { kind: "unloading", engine: state.engine };
    // From here on messages wait in the queue; the engine still handles what it already received.
    this.#transport.park();
    await state.engine.stop();
    await state.store.close();
    const heads = A.getHeads(state.engine.doc);
    this.#savedHeads = heads;
    await this.#leaveParkedRecord(state.engine, state.store);
    // Nothing holds the engine or its document after this: Automerge's wasm memory is freed when
    // the garbage collector finds the document unreachable (a FinalizationRegistry).
    this.#ready = isReady(state.engine.doc);
    this.#state = { kind: "unloaded", heads, ready: this.#ready };
    this.#counts.unloads++;
    this.#options.log.info(
      { vault: this.vault.id, idleMs: this.#idleUnloadMs, savedBytes: this.#savedBytes },
      "replica unloaded (idle); loaded again on the next message that needs it",
    );
    this.#announceParked();
    if (this.#queue.length > 0) await this.#load();
  }

  /** After the store is closed: the size, and the record a restarted hub opens the replica unloaded from. */
  async #leaveParkedRecord(engine: SyncEngine, store: DiskStore): Promise<void> {
    this.#savedBytes = await store.sizeBytes();
    const record = { heads: A.getHeads(engine.doc), ready: isReady(engine.doc), savedBytes: this.#savedBytes };
    await writeParkedRecord(this.#options.dir, record).catch((error: unknown) =>
      // Without it the next start loads the document to learn the same: slower, never wrong.
      this.#options.log.warn(
        { vault: this.vault.id, error: String(error) },
        "cannot write the replica's parked record",
      ),
    );
  }

  #onParked(from: PeerId, message: Uint8Array): void {
    const state = this.#state;
    // While loading, everything waits for the engine; while unloading, the stopping engine's heads
    // are the ones the next announcement carries (a change it still saves moves them, and a device
    // in step before that change then hears different heads and syncs).
    const heads =
      state.kind === "unloaded" ? state.heads : state.kind === "unloading" ? A.getHeads(state.engine.doc) : undefined;
    const verdict = heads ? parkedVerdict(message, heads) : ParkedVerdict.wake;
    if (verdict === ParkedVerdict.malformed) return;
    if (verdict === ParkedVerdict.inStep) return this.#introduce(from);
    this.#queue.push(from, message);
    this.#lastBusyMs = this.#options.clock.now();
    if (state.kind !== "unloaded") return; // a load is under way, or the unload ends with one
    this.#options.log.info({ vault: this.vault.id, peer: from }, "loading an unloaded replica for a message");
    void this.#runLifecycle(() => this.#load());
  }

  /**
   * A device in step speaks to the unloaded replica: it gets our announcement directly, as a
   * loaded hub engine introduces itself to a peer it has not heard from, so it keeps routing here.
   */
  #introduce(from: PeerId): void {
    const state = this.#state;
    if (state.kind === "unloaded")
      this.#transport.send(from, parkedAnnouncement(state.heads, state.ready, this.#options.hub === true));
  }

  #announceParked(): void {
    const state = this.#state;
    if (state.kind !== "unloaded") return;
    this.#lastParkedAnnounceMs = this.#options.clock.now();
    this.#transport.broadcast(parkedAnnouncement(state.heads, state.ready, this.#options.hub === true));
  }

  #onChange(event: ChangeEvent, engine: SyncEngine | undefined): void {
    this.#lastBusyMs = this.#options.clock.now();
    if (engine) this.#options.onChange?.(event, engine);
  }

  /** Anything but announcements of the heads we hold (and our own announcements) is work. */
  #noteTraffic(message: Uint8Array, direction: "in" | "out"): void {
    const state = this.#state;
    if (state.kind !== "loaded") return;
    const idle =
      direction === "out" ? isAnnouncementFrame(message) : isIdleTraffic(message, A.getHeads(state.engine.doc));
    if (!idle) this.#lastBusyMs = this.#options.clock.now();
  }
}

export const replicaDir = (homeDir: string, vaultId: string) => join(homeDir, "replicas", vaultId);
