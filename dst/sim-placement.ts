/**
 * Vault placement across the simulated hubs, as the hub agent decides it (agent/hub/placement.ts is
 * the function both use): every hub hears the other hubs' heartbeats over the cluster, its live set
 * is itself plus the hubs it heard lately, and it hosts the vault iff it is in
 * `placeVault(vault, liveSet, replicas)`. Each hub decides alone from its own view, so during a cut
 * or right after a restart two views may differ and more (or fewer) than R hubs host for a while.
 *
 * What the model does, and why:
 *  - Heartbeats are messages between hub agents: one passes when the bus would carry a message from
 *    one hub to the other (both servers up, route not cut, no partition) and the fault level's drop
 *    draw lets it through. Their delays are not modelled: a heartbeat late by a second is one of
 *    the next few, and a hub only drops another after several missed ones.
 *  - A hub that restarts has heard nobody yet: its view is itself alone until the next heartbeat.
 *  - Entering the placement opens the replica (the simulation boots it from the hub's own disk);
 *    leaving it starts a grace period, after which the replica stops (its disk copy stays). Entering
 *    again within the grace keeps the running replica.
 *  - A crash forgets everything: the restarted hub decides afresh.
 * Every draw comes from the stream given (the heartbeats' own), so other streams do not shift.
 */
import { placeVault } from "../agent/hub/placement.js";
import type { PeerId } from "../agent/sync/ports.js";
import type { EventQueue } from "./event-queue.js";
import type { Prng } from "./random.js";

/** How often each hub agent publishes a heartbeat to the others. */
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** A hub not heard from for this long leaves the hearer's live set (three missed heartbeats). */
export const HUB_SILENT_AFTER_MS = 3_000;
/** A replica outside the placement keeps running this long (the agent's grace), then stops. */
export const PLACEMENT_GRACE_MS = 30_000;

export interface PlacementParts {
  queue: EventQueue;
  now: () => number;
  trace: (line: string) => void;
  rng: Prng;
  hubs: readonly PeerId[];
  vaultId: string;
  replicas: number;
  /** Whether the hub's process (agent and server) is up. */
  isUp: (hub: PeerId) => boolean;
  /** Whether a message from one hub's agent would reach the other's now (routes, partitions). */
  canHear: (from: PeerId, to: PeerId) => boolean;
  /** Heartbeat drop chance per mille (the fault level's). */
  dropPerMille: () => number;
  /** The hub entered the placement: open its replica (unless one still runs in its grace). */
  enter: (hub: PeerId) => void;
  /** The hub's grace is over and it is still outside the placement: stop its replica. */
  stop: (hub: PeerId) => void;
  /** `to` heard `from`'s heartbeat (which carries its catalogue digest, sim-catalogue.ts). */
  heard?: (from: PeerId, to: PeerId) => void;
}

interface HubState {
  /** When this hub last heard each other hub. */
  heard: Map<PeerId, number>;
  /** In the placement by this hub's own view. */
  hosting: boolean;
  /** Bumped on every crash and every change of `hosting`: a grace timer of an older one does nothing. */
  epoch: number;
}

export class SimPlacement {
  readonly #p: PlacementParts;
  readonly #state = new Map<PeerId, HubState>();
  /** Hubs that entered the placement after the start (took the vault over), with when. */
  readonly takeovers: { hub: PeerId; at: number }[] = [];
  readonly stats = { enters: 0, leaves: 0, stops: 0 };

  constructor(parts: PlacementParts) {
    this.#p = parts;
    for (const hub of parts.hubs) this.#state.set(hub, { heard: new Map(), hosting: false, epoch: 0 });
  }

  /** The cluster as it stood before the run: every hub has heard every other just now. */
  startSettled(): PeerId[] {
    const now = this.#p.now();
    for (const [hub, state] of this.#state) {
      for (const other of this.#p.hubs) if (other !== hub) state.heard.set(other, now);
      state.hosting = this.placed(hub);
    }
    return this.#p.hubs.filter((hub) => this.#must(hub).hosting);
  }

  /** Itself and the hubs it heard within HUB_SILENT_AFTER_MS, in hub order. */
  view(hub: PeerId): PeerId[] {
    const state = this.#must(hub);
    const now = this.#p.now();
    return this.#p.hubs.filter((h) => {
      if (h === hub) return true;
      const at = state.heard.get(h);
      return at !== undefined && now - at <= HUB_SILENT_AFTER_MS;
    });
  }

  /** Whether the hub is in the vault's placement by its own view. */
  placed(hub: PeerId): boolean {
    return placeVault(this.#p.vaultId, this.view(hub), this.#p.replicas).includes(hub);
  }

  hosting(hub: PeerId): boolean {
    return this.#must(hub).hosting;
  }

  /** Every live hub publishes one heartbeat; each live hub then decides again. */
  heartbeat(): void {
    const { hubs, isUp, canHear, rng, now } = this.#p;
    const drop = this.#p.dropPerMille();
    for (const from of hubs) {
      if (!isUp(from)) continue;
      for (const to of hubs) {
        if (to === from || !isUp(to) || !canHear(from, to)) continue;
        // Drawn per pair whatever happens next, so one pair's fate does not shift another's.
        if (!rng.chance(drop, 1000)) {
          this.#must(to).heard.set(from, now());
          this.#p.heard?.(from, to);
        }
      }
    }
    for (const hub of hubs) if (isUp(hub)) this.decide(hub);
  }

  /** The hub's process died: it hears nothing and hosts nothing until it restarts. */
  crashed(hub: PeerId): void {
    const state = this.#must(hub);
    state.heard.clear();
    state.hosting = false;
    state.epoch++;
  }

  /**
   * The hub's process is back, having heard nobody yet: decides on that view. Returns whether it
   * hosts the vault; the caller opens the replica (before the hub's routes come up).
   */
  restarted(hub: PeerId): boolean {
    const state = this.#must(hub);
    state.heard.clear();
    state.hosting = this.placed(hub);
    state.epoch++;
    if (state.hosting) this.#entered(hub);
    return state.hosting;
  }

  #entered(hub: PeerId): void {
    this.stats.enters++;
    this.takeovers.push({ hub, at: this.#p.now() });
    this.#p.trace(`placement ${hub} enters (view ${this.view(hub).join(",")})`);
  }

  /** Applies the hub's current view: enters or leaves the placement (a leave starts the grace). */
  decide(hub: PeerId): void {
    const state = this.#must(hub);
    const placed = this.placed(hub);
    if (placed === state.hosting) return;
    state.hosting = placed;
    state.epoch++;
    if (placed) {
      this.#entered(hub);
      this.#p.enter(hub);
      return;
    }
    const { trace, queue, now } = this.#p;
    trace(`placement ${hub} leaves (view ${this.view(hub).join(",")})`);
    this.stats.leaves++;
    const epoch = state.epoch;
    queue.push(now() + PLACEMENT_GRACE_MS, `grace over ${hub}`, () => {
      if (state.epoch !== epoch || !this.#p.isUp(hub)) return;
      this.stats.stops++;
      this.#p.stop(hub);
    });
  }

  #must(hub: PeerId): HubState {
    const state = this.#state.get(hub);
    if (!state) throw new Error(`${hub} is not a hub of this placement`);
    return state;
  }
}
