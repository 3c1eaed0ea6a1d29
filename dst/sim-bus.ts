/**
 * The simulated message bus: every node's Transport, with the faults real NATS links show —
 * drops, duplicates, delays that reorder, symmetric and one-way partitions, a leaf's link to the
 * hub going down — and NATS's authorisation: a removed device neither sends nor receives.
 * Deliveries are simulator events, so one seed always gives one order.
 */
import type { PeerId, Transport, TransportHandlers } from "../agent/sync/ports.js";
import type { EventQueue } from "./event-queue.js";
import type { Prng } from "./random.js";

export interface NetworkFaults {
  /** Per-message drop probability, as num/1000. */
  dropPerMille: number;
  duplicatePerMille: number;
  delayMinMs: number;
  delayMaxMs: number;
}

export const PERFECT_NETWORK: NetworkFaults = { dropPerMille: 0, duplicatePerMille: 0, delayMinMs: 1, delayMaxMs: 5 };

export class SimBus {
  readonly #queue: EventQueue;
  readonly #rng: Prng;
  readonly #now: () => number;
  readonly #members = new Map<PeerId, TransportHandlers>();
  /** Nodes whose link to the hub is down (they reach nobody; nobody reaches them). */
  readonly linkDown = new Set<PeerId>();
  /** Directed blocks: "a>b" means messages from a to b are lost. */
  readonly blocked = new Set<string>();
  /** The hub's process is down and its NATS server with it: leaves reach nobody (all traffic goes through it). */
  serverDown = false;
  /** Devices removed from authorized_keys: NATS would refuse them. */
  readonly unauthorised = new Set<PeerId>();
  faults: NetworkFaults = PERFECT_NETWORK;
  readonly stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, deliveredToUnauthorised: 0 };
  #trace: (line: string) => void;

  constructor(queue: EventQueue, rng: Prng, now: () => number, trace: (line: string) => void) {
    this.#queue = queue;
    this.#rng = rng;
    this.#now = now;
    this.#trace = trace;
  }

  #canPass(from: PeerId, to: PeerId): boolean {
    if (this.serverDown || this.linkDown.has(from) || this.linkDown.has(to)) return false;
    if (this.unauthorised.has(from) || this.unauthorised.has(to)) return false;
    return !this.blocked.has(`${from}>${to}`);
  }

  #send(from: PeerId, to: PeerId, message: Uint8Array): void {
    this.stats.sent++;
    if (!this.#canPass(from, to) || this.#rng.chance(this.faults.dropPerMille, 1000)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.#rng.chance(this.faults.duplicatePerMille, 1000) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const at = this.#now() + this.#rng.int(this.faults.delayMinMs, this.faults.delayMaxMs);
      const copy = message.slice();
      this.#queue.push(at, `deliver ${from}>${to} ${copy.length}B`, () => {
        // A link that went down while the message was in flight loses it.
        const handlers = this.#members.get(to);
        if (!handlers || !this.#canPass(from, to)) {
          this.stats.dropped++;
          return;
        }
        if (this.unauthorised.has(to)) this.stats.deliveredToUnauthorised++;
        this.stats.delivered++;
        this.#trace(`d ${from}>${to} ${copy.length}`);
        handlers.onMessage(from, copy);
      });
    }
  }

  /** Tells a node its link came back (NATS reconnect). */
  reconnected(node: PeerId): void {
    this.#members.get(node)?.onConnected?.();
  }

  transport(self: PeerId, messageBytesMax = 64 * 1024 * 1024): Transport {
    const members = this.#members;
    const send = (to: PeerId, message: Uint8Array) => this.#send(self, to, message);
    return {
      self,
      messageBytesMax,
      async start(handlers) {
        members.set(self, handlers);
      },
      send(to, message) {
        if (members.get(self)) send(to, message);
      },
      broadcast(message) {
        if (!members.get(self)) return;
        for (const peer of [...members.keys()].sort()) if (peer !== self) send(peer, message);
      },
      async stop() {
        members.delete(self);
      },
    };
  }

  /** A crashed node vanishes from the bus without a goodbye. */
  detach(node: PeerId): void {
    this.#members.delete(node);
  }
}
