/**
 * A simulated disk for one node. A write is pending until its simulated fsync completes (a later
 * event); only then does `append`/`replace` resolve — that is when the engine reports it saved.
 * A crash decides, per pending write, whether it was lost or made it (a torn frame is cut on load,
 * which is the same as lost). Durable bytes survive every crash.
 */
import type { DocStore, PeerId } from "../agent/sync/ports.js";
import type { EventQueue } from "./event-queue.js";
import type { Prng } from "./random.js";

interface PendingWrite {
  apply: () => void;
  resolve: () => void;
}

export class SimStore implements DocStore {
  #durable: Uint8Array[] = [];
  readonly #syncStates = new Map<PeerId, Uint8Array>();
  readonly #pending = new Set<PendingWrite>();
  readonly #queue: EventQueue;
  readonly #rng: Prng;
  readonly #now: () => number;
  /** Upper bound of simulated fsync latency. */
  fsyncMaxMs = 3;
  #generation = 0;

  constructor(queue: EventQueue, rng: Prng, now: () => number) {
    this.#queue = queue;
    this.#rng = rng;
    this.#now = now;
  }

  async load(): Promise<Uint8Array[]> {
    return this.#durable.map((c) => c.slice());
  }

  append(chunk: Uint8Array): Promise<void> {
    const copy = chunk.slice();
    return this.#write(() => this.#durable.push(copy));
  }

  replace(full: Uint8Array): Promise<void> {
    const copy = full.slice();
    return this.#write(() => {
      this.#durable = [copy];
    });
  }

  #write(apply: () => void): Promise<void> {
    const generation = this.#generation;
    return new Promise<void>((resolve) => {
      const write: PendingWrite = { apply, resolve };
      this.#pending.add(write);
      this.#queue.push(this.#now() + this.#rng.int(0, this.fsyncMaxMs), "fsync", () => {
        if (generation !== this.#generation || !this.#pending.delete(write)) return; // crashed meanwhile
        write.apply();
        write.resolve();
      });
    });
  }

  async sizeBytes(): Promise<number> {
    return this.#durable.reduce((n, c) => n + c.length, 0);
  }

  async loadSyncState(peer: PeerId): Promise<Uint8Array | undefined> {
    return this.#syncStates.get(peer);
  }

  async saveSyncState(peer: PeerId, state: Uint8Array): Promise<void> {
    this.#syncStates.set(peer, state.slice());
  }

  /** Power loss: each pending write is lost or lands whole; none of them is acknowledged. */
  crash(): { lost: number; landed: number } {
    let lost = 0;
    let landed = 0;
    for (const write of [...this.#pending]) {
      if (this.#rng.chance(1, 2)) {
        write.apply();
        landed++;
      } else lost++;
    }
    this.#pending.clear();
    this.#generation++;
    return { lost, landed };
  }
}
