/**
 * The cluster's moving parts around the bus (dst/sim-bus.ts has the routing): hubs dying and
 * coming back, leaves failing over between hubs, routes between hubs cut and healed, and account
 * JWT pushes reaching the hub servers they can reach. Every draw comes from the stream the caller
 * passes (a workload step's own), so leaving a step out changes no other step.
 *
 * What each event does, as the real parts do it:
 *  - A hub's process dies: its server goes with it, so every leaf linked to it loses its link and,
 *    its leafnode remote listing every hub (docs/cluster.md), redials another one a little later
 *    (`reconnect: 1` second and a TLS handshake).
 *  - A hub comes back: its routes to the live hubs come up (each hub's agent sees the route in its
 *    server's log and resynchronises), and leaves that found no hub meanwhile link to it.
 *  - A leaf's link to its hub is lost while the hub lives (its path to that hub broke): it redials
 *    and lands on another hub.
 *  - A route is cut: the two hubs' servers no longer exchange messages until it heals, when both
 *    hubs' agents resynchronise.
 *  - A hub leaves the cluster (a network partition around it): all its routes are cut at once while
 *    its leaves still reach it, so it hears no other hub and places every vault on itself, and
 *    rejoins when the routes heal.
 *  - A hub pushes the account JWT its catalogue entry makes (sim-catalogue.ts: when its replica
 *    applies authorized_keys, when it adopts a newer entry, when it settles); the full resolver carries the push over the routes to every hub routed to the
 *    pusher at that moment, and each applies it a little later. A server that misses a push keeps
 *    the JWT it had (also across its own restart: the resolver's directory is on disk) until a later
 *    push reaches it: the last push to arrive wins, as with nats-server's resolver.
 */
import type { PeerId } from "../agent/sync/ports.js";
import type { EventQueue } from "./event-queue.js";
import type { Prng } from "./random.js";
import type { SimBus } from "./sim-bus.js";

/** NATS applies a pushed account JWT a little after the hub sends it (DESIGN.md §3 has the range seen). */
export const AUTH_APPLY_MS = 50;
/** A leaf that lost its hub links to another after its reconnect delay (1 s) and a handshake. */
const FAILOVER_MIN_MS = 1_000;
const FAILOVER_MAX_MS = 3_000;
/** How long a cut route stays cut. */
const ROUTE_CUT_MIN_MS = 1_000;
const ROUTE_CUT_MAX_MS = 10_000;

export interface ClusterParts {
  bus: SimBus;
  queue: EventQueue;
  now: () => number;
  trace: (line: string) => void;
  /** The devices (every node that is not a hub), in node order. */
  devices: readonly PeerId[];
  /** The hub each device's link goes to first (its leafnode remote's first URL). */
  homes: ReadonlyMap<PeerId, PeerId>;
  /** A server re-admitted a device by a push from an entry read without its acknowledged removal. */
  onStaleReadmission?: (line: string) => void;
}

export class SimCluster {
  readonly #p: ClusterParts;
  /** Cluster faults that happened (a run's summary). */
  readonly stats = { hubCrashes: 0, routeCuts: 0, failovers: 0, isolations: 0, staleReadmissions: 0 };

  constructor(parts: ClusterParts) {
    this.#p = parts;
  }

  /** Links every leaf to its home hub, before any engine runs. */
  linkAll(): void {
    for (const leaf of this.#p.devices) this.#p.bus.link(leaf, this.#home(leaf));
  }

  #home(leaf: PeerId): PeerId {
    const home = this.#p.homes.get(leaf);
    if (home === undefined) throw new Error(`${leaf} has no home hub`);
    return home;
  }

  /** The hubs a leaf tries, in order: its home hub, then the others as listed. */
  #preference(leaf: PeerId): PeerId[] {
    const home = this.#home(leaf);
    return [home, ...this.#p.bus.hubs.filter((h) => h !== home)];
  }

  /** A hub's process died: its server is gone, and each of its leaves redials another hub. */
  hubDown(hub: PeerId, rng: Prng): void {
    const { bus } = this.#p;
    bus.hubsDown.add(hub);
    this.stats.hubCrashes++;
    const others = bus.hubs.filter((h) => h !== hub);
    for (const leaf of bus.leavesOf(hub)) {
      bus.unlink(leaf);
      if (others.length > 0) this.#redial(leaf, rng.pick(others), rng);
    }
  }

  #redial(leaf: PeerId, target: PeerId, rng: Prng): void {
    const at = this.#p.now() + rng.int(FAILOVER_MIN_MS, FAILOVER_MAX_MS);
    this.stats.failovers++;
    this.#p.trace(`leaf ${leaf} redials, aiming at ${target}`);
    this.#p.queue.push(at, `failover ${leaf} to ${target}`, () => this.#arrive(leaf, target));
  }

  /** A redialling leaf links to `target`, or, if that hub is down, the first live one it tries. */
  #arrive(leaf: PeerId, target: PeerId): void {
    const { bus } = this.#p;
    if (bus.linkedTo(leaf) !== undefined) return; // a hub that came back took it first
    const live = (h: PeerId) => !bus.hubsDown.has(h);
    const hub = live(target) ? target : this.#preference(leaf).find(live);
    if (hub === undefined) return; // no hub is up: the next one to come back takes it (hubUp)
    this.#p.trace(`leaf ${leaf} links to ${hub}`);
    bus.link(leaf, hub);
  }

  /** A hub is back (its engine already booted): routes up, and leaves without a hub link to it. */
  hubUp(hub: PeerId): void {
    const { bus } = this.#p;
    bus.hubsDown.delete(hub);
    bus.reconnected(hub);
    for (const other of bus.hubs)
      if (other !== hub && !bus.hubsDown.has(other) && !bus.isRouteCut(hub, other)) bus.reconnected(other);
    for (const leaf of this.#p.devices) if (bus.linkedTo(leaf) === undefined) this.#arrive(leaf, hub);
  }

  /** A leaf's link to its live hub is lost: it redials and lands on another hub. */
  failover(leaf: PeerId, rng: Prng): void {
    const { bus } = this.#p;
    const from = bus.linkedTo(leaf);
    const others = bus.hubs.filter((h) => h !== from);
    if (from === undefined || others.length === 0) return;
    bus.unlink(leaf);
    this.#p.trace(`leaf ${leaf} loses its link to ${from}`);
    this.#redial(leaf, rng.pick(others), rng);
  }

  /** The route between two hubs is cut for a while. */
  cutRoute(rng: Prng): void {
    const { bus, queue } = this.#p;
    if (bus.hubs.length < 2) return;
    const a = rng.pick(bus.hubs);
    const b = rng.pick(bus.hubs.filter((h) => h !== a));
    const until = this.#p.now() + rng.int(ROUTE_CUT_MIN_MS, ROUTE_CUT_MAX_MS);
    bus.cutRoute(a, b);
    this.stats.routeCuts++;
    this.#p.trace(`route ${a}-${b} cut`);
    queue.push(until, `route ${a}-${b} heals`, () => this.#healRoute(a, b));
  }

  /** One hub's routes are all cut for a while: it is out of the cluster, then rejoins. */
  isolateHub(rng: Prng): void {
    const { bus, queue } = this.#p;
    if (bus.hubs.length < 2) return;
    const hub = rng.pick(bus.hubs);
    const until = this.#p.now() + rng.int(ROUTE_CUT_MIN_MS, ROUTE_CUT_MAX_MS);
    const others = bus.hubs.filter((h) => h !== hub && !bus.isRouteCut(hub, h));
    for (const other of others) bus.cutRoute(hub, other);
    this.stats.isolations++;
    this.#p.trace(`hub ${hub} cut off from the cluster`);
    queue.push(until, `hub ${hub} rejoins the cluster`, () => {
      for (const other of others) this.#healRoute(hub, other);
    });
  }

  #healRoute(a: PeerId, b: PeerId): void {
    const { bus } = this.#p;
    if (!bus.isRouteCut(a, b)) return;
    bus.healRoute(a, b);
    if (bus.hubsDown.has(a) || bus.hubsDown.has(b)) return; // the route comes up with the hub (hubUp)
    bus.reconnected(a);
    bus.reconnected(b);
  }

  /** The heal: every route back, every leaf without a hub linked to the first live one it tries. */
  heal(): void {
    const { bus } = this.#p;
    for (const a of bus.hubs) for (const b of bus.hubs) if (a < b) bus.healRoute(a, b);
    for (const leaf of this.#p.devices) {
      if (bus.linkedTo(leaf) === undefined) this.#arrive(leaf, this.#home(leaf));
    }
  }

  /**
   * `hub`'s replica pushes an account JWT listing `listed`: every server routed to it applies it
   * shortly. `stale`: listed devices whose acknowledged removal the pushing copy lacks (counted when
   * the push re-admits one).
   */
  pushAccount(hub: PeerId, listed: ReadonlySet<PeerId>, stale: ReadonlySet<PeerId> = new Set()): void {
    const reached = this.#p.bus.serversReachedFrom(hub);
    this.#p.queue.push(this.#p.now() + AUTH_APPLY_MS, `apply authorized_keys from ${hub}`, () => {
      for (const server of reached) if (!this.#p.bus.hubsDown.has(server)) this.#apply(server, listed, hub, stale);
    });
  }

  #apply(server: PeerId, listed: ReadonlySet<PeerId>, pusher: PeerId, stale: ReadonlySet<PeerId>): void {
    const { bus, trace } = this.#p;
    const refused = bus.refusedBy(server);
    for (const device of this.#p.devices) {
      if (!listed.has(device) && !refused.has(device)) {
        refused.add(device);
        trace(`auth ${device} refused by ${server}`);
      } else if (listed.has(device) && refused.has(device)) {
        refused.delete(device);
        trace(`auth ${device} admitted by ${server}`);
        if (stale.has(device)) {
          this.stats.staleReadmissions++;
          const line = `auth ${device} re-admitted by ${server} from ${pusher}'s entry, read without its removal`;
          trace(line);
          this.#p.onStaleReadmission?.(line);
        }
        // Its leaf link is admitted again on its next redial, and both ends resynchronise.
        if (bus.linkedTo(device) === server) bus.link(device, server);
      }
    }
  }
}
