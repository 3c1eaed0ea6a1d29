/**
 * The simulated message bus: every node's Transport, routed the way a cluster of NATS hubs routes
 * a vault's subjects, with the faults real links show — drops, duplicates, delays that reorder,
 * symmetric and one-way partitions, a leaf's link going down, a hub's server dying, a route between
 * two hubs cut — and NATS's authorisation: a device its hub's account JWT leaves out neither sends
 * nor receives. Deliveries are simulator events, so one seed always gives one order.
 *
 * The topology modelled, and why (agent/nats/server-config.ts, agent/auth/accounts.ts, docs/cluster.md):
 *  - Every hub's replica is a client of its own hub's nats-server; a hub's process dying takes its
 *    server down with it (it is spawned with a parent-death signal), so nothing enters or leaves there.
 *  - A leaf's traffic enters the cluster through the one hub its leafnode link is up to. The vault
 *    account's permissions let a member publish to any peer's inbox (`….p.*.<self>`) and hear every
 *    announcement, and a hub forwards what one leafnode publishes to its other leafnodes and to its
 *    routes: leaf-to-leaf messages do pass through hubs (the engine only avoids sending them).
 *  - Hubs are a full mesh of routes, and NATS forwards a message one route hop only: a message that
 *    reached a hub over a route goes to that hub's clients and leafnodes, never on to a third hub.
 *    So two servers exchange messages exactly when both are up and the route between them is not cut;
 *    a cut route is not bridged by the other hubs (their replicas relay changes, which is the engine's
 *    doing, not the bus's).
 *  - Authorisation is per hub server: each applies the account JWTs pushed to it (the full resolver
 *    carries a push over the routes), and it is the server a leaf is linked to that admits or refuses
 *    that leaf's link. Routes carry whatever a server admitted.
 * A bus made without hubs is one server whose clients all hear each other (the transport contract).
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

/** The one server of a bus made without hubs. */
const LONE_SERVER = "(server)";

const routeKey = (a: PeerId, b: PeerId) => (a < b ? `${a}|${b}` : `${b}|${a}`);

export class SimBus {
  readonly #queue: EventQueue;
  readonly #rng: Prng;
  readonly #now: () => number;
  readonly #members = new Map<PeerId, TransportHandlers>();
  readonly #hubs: readonly PeerId[];
  /** The hub each leaf's leafnode link is up to; absent while it has none (its hub died, it redials). */
  readonly #linkedTo = new Map<PeerId, PeerId>();
  /** Routes cut between two hubs (routeKey). */
  readonly #routesCut = new Set<string>();
  /** Per hub server: the devices the account JWT it applied last leaves out. */
  readonly #refused = new Map<PeerId, Set<PeerId>>();
  /** Hubs whose process, and so whose nats-server, is down. */
  readonly hubsDown = new Set<PeerId>();
  /** Leaves whose network is down (they reach nobody; nobody reaches them). */
  readonly linkDown = new Set<PeerId>();
  /** Directed blocks: "a>b" means messages from a to b are lost. */
  readonly blocked = new Set<string>();
  faults: NetworkFaults = PERFECT_NETWORK;
  readonly stats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0 };
  #trace: (line: string) => void;

  constructor(
    queue: EventQueue,
    rng: Prng,
    now: () => number,
    trace: (line: string) => void,
    hubs: readonly PeerId[] = [],
  ) {
    this.#queue = queue;
    this.#rng = rng;
    this.#now = now;
    this.#trace = trace;
    this.#hubs = [...hubs];
    for (const hub of hubs) this.#refused.set(hub, new Set());
  }

  get hubs(): readonly PeerId[] {
    return this.#hubs;
  }

  isHub(node: PeerId): boolean {
    return this.#hubs.includes(node);
  }

  /** The server a node's messages enter and leave by, or undefined while it has none. */
  #serverOf(node: PeerId): string | undefined {
    if (this.#hubs.length === 0) return this.linkDown.has(node) ? undefined : LONE_SERVER;
    if (this.isHub(node)) return this.hubsDown.has(node) ? undefined : node;
    const hub = this.#linkedTo.get(node);
    if (hub === undefined || this.hubsDown.has(hub) || this.linkDown.has(node) || this.isRefused(node))
      return undefined;
    return hub;
  }

  /** Whether a message from one node to another would pass now, faults aside (a hub agent's heartbeat, say). */
  canPass(from: PeerId, to: PeerId): boolean {
    return this.#canPass(from, to);
  }

  #canPass(from: PeerId, to: PeerId): boolean {
    const a = this.#serverOf(from);
    const b = this.#serverOf(to);
    if (a === undefined || b === undefined) return false;
    if (a !== b && this.#routesCut.has(routeKey(a as PeerId, b as PeerId))) return false;
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
        // A link, route or server that went down while the message was in flight loses it.
        const handlers = this.#members.get(to);
        if (!handlers || !this.#canPass(from, to)) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        this.#trace(`d ${from}>${to} ${copy.length}`);
        handlers.onMessage(from, copy);
      });
    }
  }

  /** Tells a node a link of its server came back (NATS reconnect, a leafnode or route link up). */
  reconnected(node: PeerId): void {
    this.#members.get(node)?.onConnected?.();
  }

  /** The hub a leaf's link is up to, if any. */
  linkedTo(leaf: PeerId): PeerId | undefined {
    return this.#linkedTo.get(leaf);
  }

  /** A leaf's leafnode link came up to `hub`: both ends resynchronise (the hub's agent reads its server's log). */
  link(leaf: PeerId, hub: PeerId): void {
    if (!this.isHub(hub) || this.isHub(leaf)) throw new Error(`cannot link ${leaf} to ${hub}`);
    this.#linkedTo.set(leaf, hub);
    this.reconnected(leaf);
    this.reconnected(hub);
  }

  unlink(leaf: PeerId): void {
    this.#linkedTo.delete(leaf);
  }

  /** Leaves whose link is up to `hub`, in the order they linked. */
  leavesOf(hub: PeerId): PeerId[] {
    return [...this.#linkedTo].filter(([, h]) => h === hub).map(([leaf]) => leaf);
  }

  isRouteCut(a: PeerId, b: PeerId): boolean {
    return this.#routesCut.has(routeKey(a, b));
  }

  cutRoute(a: PeerId, b: PeerId): void {
    this.#routesCut.add(routeKey(a, b));
  }

  healRoute(a: PeerId, b: PeerId): void {
    this.#routesCut.delete(routeKey(a, b));
  }

  /** Hub servers a message published on `hub`'s server reaches now: itself and every hub routed to it. */
  serversReachedFrom(hub: PeerId): PeerId[] {
    if (this.hubsDown.has(hub)) return [];
    return this.#hubs.filter((h) => h === hub || (!this.hubsDown.has(h) && !this.isRouteCut(h, hub)));
  }

  /** The devices `hub`'s server refuses (its last applied account JWT leaves them out); mutable. */
  refusedBy(hub: PeerId): Set<PeerId> {
    const refused = this.#refused.get(hub);
    if (!refused) throw new Error(`${hub} is not a hub of this bus`);
    return refused;
  }

  /** Whether the hub this leaf's link is up to refuses it. */
  isRefused(leaf: PeerId): boolean {
    const hub = this.#linkedTo.get(leaf);
    return hub !== undefined && this.#refused.get(hub)?.has(leaf) === true;
  }

  transport(self: PeerId, messageBytesMax = 64 * 1024 * 1024): Transport {
    const members = this.#members;
    const send = (to: PeerId, message: Uint8Array) => this.#send(self, to, message);
    let mine: TransportHandlers | undefined;
    return {
      self,
      messageBytesMax,
      async start(handlers) {
        mine = handlers;
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
        // A replica stopped late (a hub left the placement) must not unplug the one opened after it.
        if (members.get(self) === mine) members.delete(self);
      },
    };
  }

  /** A crashed node vanishes from the bus without a goodbye. */
  detach(node: PeerId): void {
    this.#members.delete(node);
  }
}
