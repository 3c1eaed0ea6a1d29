/**
 * An in-process vault bus with faults on command: isolate a peer (its messages in both directions
 * are lost, as on a dead link; heal() tells the engines the link is back), duplicate every message,
 * and replay every message ever sent. At-most-once delivery, like core NATS.
 */
import type { PeerId, Transport, TransportHandlers } from "../../agent/sync/ports.js";

export class FaultBus {
  readonly #members = new Map<PeerId, TransportHandlers>();
  readonly #isolated = new Set<PeerId>();
  readonly #history: { from: PeerId; to: PeerId; message: Uint8Array }[] = [];
  duplicate = false;
  readonly stats = { delivered: 0, lost: 0, duplicated: 0, replayed: 0 };

  transport(self: PeerId): Transport {
    return {
      self,
      messageBytesMax: 512 * 1024 * 1024,
      start: async (handlers) => {
        this.#members.set(self, handlers);
      },
      send: (to, message) => this.#send(self, to, message),
      broadcast: (message) => {
        for (const peer of this.#members.keys()) if (peer !== self) this.#send(self, peer, message);
      },
      stop: async () => {
        this.#members.delete(self);
      },
    };
  }

  isolate(peer: string): void {
    this.#isolated.add(peer as PeerId);
  }

  /** Ends every isolation, and tells every engine its link is back (it resynchronises). */
  heal(): void {
    this.#isolated.clear();
    for (const handlers of this.#members.values()) queueMicrotask(() => handlers.onConnected?.());
  }

  /** Delivers every message ever sent once more, in the original order. */
  replayAll(): number {
    const all = this.#history.slice();
    for (const { from, to, message } of all) this.#deliver(from, to, message);
    this.stats.replayed += all.length;
    return all.length;
  }

  #send(from: PeerId, to: PeerId, message: Uint8Array): void {
    if (this.#isolated.has(from) || this.#isolated.has(to)) {
      this.stats.lost++;
      return;
    }
    const copy = message.slice();
    if (this.#history.length < 100_000) this.#history.push({ from, to, message: copy });
    this.#deliver(from, to, copy);
    if (this.duplicate) {
      this.stats.duplicated++;
      this.#deliver(from, to, copy);
    }
  }

  #deliver(from: PeerId, to: PeerId, message: Uint8Array): void {
    queueMicrotask(() => {
      const handlers = this.#members.get(to);
      if (!handlers) return;
      this.stats.delivered++;
      handlers.onMessage(from, message.slice());
    });
  }
}
