/**
 * Which vaults this hub of a cluster hosts a replica of: those whose placement (placement.ts, over
 * the hubs it hears) includes it. A vault entering its placement is hosted at once — the replica
 * opens from this hub's disk and syncs from the other replicas and the devices. One leaving it is
 * released only after a grace period: the hub that took it over (often one that just came back,
 * with a stale copy) catches up meanwhile from a replica that still holds everything, and a hub
 * that flaps does not make its vaults flap with it. A vault folder on the hub itself is always hosted.
 */
import { placeVault } from "./placement.js";
import type { Log } from "../sync/ports.js";

/** A replica placed elsewhere stays this long: enough for its successor to sync a large vault. */
export const REPLICA_HANDOVER_MS = 30_000;

export interface HubPlacementConfig {
  selfId: string;
  /** Replicas per vault (the top R of its rank among the live hubs). */
  replicas: number;
  vaultIds: () => Iterable<string>;
  liveHubs: () => string[];
  /** A vault folder on this hub: hosted whatever the placement says. */
  pinned: (vaultId: string) => boolean;
  hosted: () => Iterable<string>;
  host: (vaultId: string) => void;
  release: (vaultId: string) => Promise<void>;
  handoverMs?: number;
  log: Log;
}

export class HubPlacement {
  readonly #cfg: HubPlacementConfig;
  readonly #leaving = new Map<string, NodeJS.Timeout>();
  #active = false;

  constructor(config: HubPlacementConfig) {
    this.#cfg = config;
  }

  /** Starts deciding (once the hub has caught up with the cluster's catalogue). */
  start(): void {
    this.#active = true;
    this.update();
  }

  #placedHere(vaultId: string, live: string[]): boolean {
    return this.#cfg.pinned(vaultId) || placeVault(vaultId, live, this.#cfg.replicas).includes(this.#cfg.selfId);
  }

  /** The live hubs or the catalogue changed: host what is placed here, schedule the release of the rest. */
  update(): void {
    if (!this.#active) return;
    const live = this.#cfg.liveHubs();
    const hosted = new Set(this.#cfg.hosted());
    for (const vaultId of this.#cfg.vaultIds()) {
      if (!this.#placedHere(vaultId, live)) continue;
      const leaving = this.#leaving.get(vaultId);
      if (leaving) {
        clearTimeout(leaving);
        this.#leaving.delete(vaultId);
        this.#cfg.log.info({ vault: vaultId }, "vault placed here again; keeping its replica");
      }
      if (!hosted.has(vaultId)) {
        this.#cfg.log.info({ vault: vaultId, hubs: live.length }, "vault placed on this hub; hosting its replica");
        this.#cfg.host(vaultId);
      }
    }
    for (const vaultId of hosted) {
      if (this.#placedHere(vaultId, live) || this.#leaving.has(vaultId)) continue;
      const handoverMs = this.#cfg.handoverMs ?? REPLICA_HANDOVER_MS;
      this.#cfg.log.info(
        { vault: vaultId, handoverMs },
        "vault placed on other hubs; releasing its replica after the handover",
      );
      const timer = setTimeout(() => void this.#release(vaultId), handoverMs);
      timer.unref();
      this.#leaving.set(vaultId, timer);
    }
  }

  async #release(vaultId: string): Promise<void> {
    this.#leaving.delete(vaultId);
    if (!this.#active || this.#placedHere(vaultId, this.#cfg.liveHubs())) return;
    try {
      await this.#cfg.release(vaultId);
      this.#cfg.log.info({ vault: vaultId }, "released the replica of a vault placed on other hubs");
    } catch (error) {
      this.#cfg.log.warn({ vault: vaultId, error: String(error) }, "cannot release a replica");
    }
  }

  /** The hubs that should host `vaultId` now, as this hub sees the cluster. */
  placementOf(vaultId: string): string[] {
    return placeVault(vaultId, this.#cfg.liveHubs(), this.#cfg.replicas);
  }

  stop(): void {
    this.#active = false;
    for (const timer of this.#leaving.values()) clearTimeout(timer);
    this.#leaving.clear();
  }
}
