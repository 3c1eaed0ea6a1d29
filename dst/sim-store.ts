/**
 * A simulated disk for one node, with DiskStore's semantics (agent/vault/store/disk-store.ts):
 *  - `append` writes one frame to the log and resolves after its fdatasync: durable from then on;
 *  - `replace` writes doc.bin atomically (temp + fsync + rename), then empties the log;
 *  - sync states are written atomically, one file per peer;
 *  - `load` returns doc.bin and the log frames up to the first bad one, and cuts the log there.
 *
 * Every write is pending until its simulated fsync (a later event). A crash decides, from the disk
 * stream, what each pending write left behind: an append was lost, torn or landed whole (after the
 * first frame that did not land whole, the log is cut on load, as a real append-only file would be);
 * a replace left the old files, the new doc.bin beside the old log, or both done; a sync state the
 * old or the new file. Writes whose promise resolved survive every crash.
 *
 * Blobs (`openBlobs()`) are written like doc.bin: atomically, so an unsynced blob write either
 * landed whole or is lost in a crash.
 *
 * Each process incarnation gets its own handle from `open()`; after a crash the old handle is dead:
 * its calls never settle (the process that made them is gone) and change nothing.
 */
import type { DocStore, PeerId } from "../agent/sync/ports.js";
import { checkBlob } from "../agent/vault/model/blob-hash.js";
import type { BlobStore } from "../agent/vault/store/blob-store.js";
import type { EventQueue } from "./event-queue.js";
import type { Prng } from "./random.js";

export interface DiskFaults {
  /** Simulated fsync latency bound: each write completes 0..fsyncMaxMs after the previous one. */
  fsyncMaxMs: number;
  /** Weights of what a crash does to an unsynced append: [lost, torn, landed]. */
  appendOnCrash: readonly [number, number, number];
  /** Chance (per mille) that a write fails with an I/O error (disk full) instead of completing. */
  writeErrorPerMille: number;
}

export const QUIET_DISK: DiskFaults = { fsyncMaxMs: 2, appendOnCrash: [1, 0, 1], writeErrorPerMille: 0 };

export class SimDiskError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SimDiskError";
  }
}

interface Frame {
  bytes: Uint8Array;
  /** False for a torn frame: its checksum would not match, so load stops before it. */
  intact: boolean;
}

type WriteRequest =
  | { kind: "blob"; hash: string; bytes: Uint8Array }
  | { kind: "append"; bytes: Uint8Array }
  | { kind: "replace"; bytes: Uint8Array }
  | { kind: "syncState"; peer: PeerId; bytes: Uint8Array };

type PendingWrite = WriteRequest & { settle: Settle };

interface Settle {
  resolve(): void;
  reject(error: Error): void;
}

export interface CrashReport {
  landed: number;
  torn: number;
  lost: number;
}

export class SimDisk {
  #docBin: Uint8Array | undefined;
  #log: Frame[] = [];
  readonly #syncStates = new Map<PeerId, Uint8Array>();
  /** `.edgesync/blobs/`: each blob is written atomically (temp, fsync, rename), so it is there whole or not at all. */
  readonly #blobs = new Map<string, Uint8Array>();
  #pending: PendingWrite[] = [];
  #generation = 0;
  #lastFsyncAt = 0;
  readonly #queue: EventQueue;
  readonly #rng: Prng;
  readonly #now: () => number;
  faults: DiskFaults = QUIET_DISK;
  readonly stats = { appends: 0, replaces: 0, syncStates: 0, errors: 0, crashes: 0, blobs: 0 };

  constructor(queue: EventQueue, rng: Prng, now: () => number) {
    this.#queue = queue;
    this.#rng = rng;
    this.#now = now;
  }

  /** The DocStore of a new process incarnation. */
  open(): DocStore {
    const generation = this.#generation;
    const alive = () => generation === this.#generation;
    const dead = <T>() => new Promise<T>(() => {});
    return {
      load: () => (alive() ? this.#load() : dead()),
      append: (chunk) => (alive() ? this.#write({ kind: "append", bytes: chunk.slice() }) : dead()),
      replace: (full) => (alive() ? this.#write({ kind: "replace", bytes: full.slice() }) : dead()),
      sizeBytes: async () => this.#sizeBytes(),
      loadSyncState: (peer) => (alive() ? this.#loadSyncState(peer) : dead()),
      saveSyncState: (peer, state) =>
        alive() ? this.#write({ kind: "syncState", peer, bytes: state.slice() }) : dead(),
    };
  }

  /** The BlobStore of a new process incarnation (pair it with `open()`); reads see durable blobs only. */
  openBlobs(): BlobStore {
    const generation = this.#generation;
    const alive = () => generation === this.#generation;
    const dead = <T>() => new Promise<T>(() => {});
    return {
      has: async (hash) => this.#blobs.has(hash),
      get: async (hash) => this.#blobs.get(hash)?.slice(),
      put: async (hash, bytes) => {
        checkBlob(hash, bytes);
        if (!alive()) return dead();
        if (this.#blobs.has(hash)) return;
        return this.#write({ kind: "blob", hash, bytes: bytes.slice() });
      },
      list: async () => [...this.#blobs.keys()].sort(),
      sizeOf: async (hash) => this.#blobs.get(hash)?.length,
      delete: async (hash) => (alive() ? this.#blobs.delete(hash) : dead()),
    };
  }

  /** A durable blob, for invariant checks. */
  peekBlob(hash: string): Uint8Array | undefined {
    return this.#blobs.get(hash);
  }

  /** Durable contents written before the simulation starts (the vault `edgesync init` created). */
  preload(chunks: readonly Uint8Array[]): void {
    const [first, ...rest] = chunks;
    this.#docBin = first?.slice();
    this.#log = rest.map((bytes) => ({ bytes: bytes.slice(), intact: true }));
  }

  /** What `load` would return now, without cutting anything (for invariant checks). */
  durableChunks(): Uint8Array[] {
    return this.#readable().map((c) => c.slice());
  }

  get pendingWrites(): number {
    return this.#pending.length;
  }

  /** Power loss. Pending writes leave what the disk stream decides; none of them is acknowledged. */
  crash(): CrashReport {
    const report: CrashReport = { landed: 0, torn: 0, lost: 0 };
    for (const write of this.#pending) this.#crashOutcome(write, report);
    this.#pending = [];
    this.#generation++;
    this.stats.crashes++;
    return report;
  }

  #crashOutcome(write: PendingWrite, report: CrashReport): void {
    if (write.kind === "blob") {
      // Unsynced: the rename may or may not have reached the disk; never a torn blob.
      if (this.#rng.chance(1, 2)) {
        this.#blobs.set(write.hash, write.bytes);
        report.landed++;
      } else report.lost++;
      return;
    }
    if (write.kind === "append") {
      const outcome = this.#rng.weighted(this.faults.appendOnCrash);
      if (outcome === 2) {
        this.#log.push({ bytes: write.bytes, intact: true });
        report.landed++;
      } else if (outcome === 1 && write.bytes.length > 1) {
        this.#log.push({ bytes: write.bytes.slice(0, this.#rng.int(1, write.bytes.length - 1)), intact: false });
        report.torn++;
      } else {
        // Nothing of it reached the disk; anything appended after it would sit behind a hole.
        this.#log.push({ bytes: new Uint8Array(0), intact: false });
        report.lost++;
      }
      return;
    }
    if (write.kind === "replace") {
      const outcome = this.#rng.int(0, 2);
      if (outcome >= 1) this.#docBin = write.bytes; // renamed into place
      if (outcome === 2) this.#log = []; // and the log emptied
      if (outcome === 0) report.lost++;
      else report.landed++;
      return;
    }
    if (this.#rng.chance(1, 2)) {
      this.#syncStates.set(write.peer, write.bytes);
      report.landed++;
    } else report.lost++;
  }

  #write(write: WriteRequest): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending: PendingWrite = { ...write, settle: { resolve, reject } };
      this.#pending.push(pending);
      // fsyncs complete in issue order, as on one disk.
      const at = Math.max(this.#lastFsyncAt, this.#now()) + this.#rng.int(0, this.faults.fsyncMaxMs);
      this.#lastFsyncAt = at;
      const failed = this.#rng.chance(this.faults.writeErrorPerMille, 1000);
      const generation = this.#generation;
      this.#queue.push(at, `fsync ${write.kind}`, () => {
        if (generation !== this.#generation) return; // the process crashed meanwhile
        const index = this.#pending.indexOf(pending);
        if (index < 0) return;
        this.#pending.splice(index, 1);
        if (failed) {
          this.stats.errors++;
          pending.settle.reject(new SimDiskError(`simulated I/O error on ${write.kind} (disk full)`));
          return;
        }
        this.#apply(pending);
        pending.settle.resolve();
      });
    });
  }

  #apply(write: PendingWrite): void {
    if (write.kind === "blob") {
      this.#blobs.set(write.hash, write.bytes);
      this.stats.blobs++;
    } else if (write.kind === "append") {
      this.#log.push({ bytes: write.bytes, intact: true });
      this.stats.appends++;
    } else if (write.kind === "replace") {
      this.#docBin = write.bytes;
      this.#log = [];
      this.stats.replaces++;
    } else {
      this.#syncStates.set(write.peer, write.bytes);
      this.stats.syncStates++;
    }
  }

  #readable(): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    if (this.#docBin !== undefined) chunks.push(this.#docBin);
    for (const frame of this.#log) {
      if (!frame.intact) break;
      chunks.push(frame.bytes);
    }
    return chunks;
  }

  async #load(): Promise<Uint8Array[]> {
    const chunks = this.durableChunks();
    const firstBad = this.#log.findIndex((f) => !f.intact);
    if (firstBad >= 0) this.#log = this.#log.slice(0, firstBad); // cut the torn tail, as DiskStore does
    return chunks;
  }

  #sizeBytes(): number {
    return (this.#docBin?.length ?? 0) + this.#log.reduce((n, f) => n + f.bytes.length + 8, 0);
  }

  async #loadSyncState(peer: PeerId): Promise<Uint8Array | undefined> {
    return this.#syncStates.get(peer)?.slice();
  }
}
