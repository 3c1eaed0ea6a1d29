/**
 * The hub cluster's catalogue of the vault, as the hub agent keeps and gossips it
 * (agent/hub/cluster-catalogue.ts, catalogue-entry.ts, hub-authority.ts): every hub enforces one
 * entry — the authorized_keys text, its version `{atMs, hash}` and the document heads the text was
 * read at — and pushes the account JWT from that entry, never from its replica's document directly.
 *
 * What the model does, and why:
 *  - Gossip: each heartbeat a hub hears (sim-placement.ts) carries the sender's digest; a hearer
 *    whose entry's version differs catches up with one request/reply exchange with the sender, which
 *    passes when the bus would carry both messages and the drop draws (this stream's) let them
 *    through; it then adopts the sender's entry if that is newer (later atMs, tie → larger hash) and
 *    pushes it. A hub that applies keys itself says hello at once (`announce`), as the agent does.
 *  - Settling: a restarted hub pushes nothing until it has caught up with the first hub it hears
 *    (or heard one in step with it), or heard none for SETTLE_MS; then it pushes its entry.
 *  - Applying: a replica's document change is applied only if the document holds the enforced
 *    entry's heads or the entry is older than HEADS_GUARD_MS (by the hub's own clock, as the agent
 *    reads Date.now); atMs is `max(now, old + 1)` by that clock.
 *  - The entry is in vaults.json, written whole: a crash keeps the last one saved.
 *  - A lone hub (no cluster configured) is settled at once, as the agent without a catalogue is.
 */
import { createHash } from "node:crypto";
import type * as A from "@automerge/automerge";
import type { PeerId } from "../agent/sync/ports.js";
import type { EventQueue } from "./event-queue.js";
import type { Prng } from "./random.js";
import { parseAuthorizedKeys } from "./authorized-keys.js";

/** A starting hub that hears no other in this long acts on what it has (the agent's SETTLE_MS). */
export const SETTLE_MS = 5_000;
/** An entry enforced this long ago yields to any document (the agent's HEADS_GUARD_MS). */
export const HEADS_GUARD_MS = 60_000;
/** One request and its reply between two hub agents. */
export const CATCH_UP_MS = 20;

export interface CatalogueEntry {
  text: string;
  listed: ReadonlySet<PeerId>;
  atMs: number;
  hash: string;
  heads: A.Heads;
  /** Tags of the removal writes the document held when the text was read (the model's bookkeeping, not gossiped). */
  covers: ReadonlySet<string>;
}

export interface CatalogueParts {
  queue: EventQueue;
  now: () => number;
  /** The hub's own clock (skewed), which stamps atMs and judges an entry's age. */
  hubNow: (hub: PeerId) => number;
  trace: (line: string) => void;
  rng: Prng;
  hubs: readonly PeerId[];
  isUp: (hub: PeerId) => boolean;
  canHear: (from: PeerId, to: PeerId) => boolean;
  dropPerMille: () => number;
  /** The hub pushes the account JWT its entry makes. */
  push: (hub: PeerId, entry: CatalogueEntry) => void;
}

interface HubCatalogue {
  entry: CatalogueEntry;
  settled: boolean;
  /** Bumped on every crash and restart: a settle timer or catch-up of an older life does nothing. */
  epoch: number;
  syncing: Set<PeerId>;
}

const hashOf = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16);

export function isNewer(a: CatalogueEntry, b: CatalogueEntry): boolean {
  return a.atMs !== b.atMs ? a.atMs > b.atMs : a.hash > b.hash;
}

export class SimCatalogue {
  readonly #p: CatalogueParts;
  readonly #hubs = new Map<PeerId, HubCatalogue>();
  readonly stats = { adopted: 0, skipped: 0, appliedPastGuard: 0, catchUpsLost: 0 };
  /** Rule 3 of the agent (no push before settling); switched off only to reproduce what it fixes. */
  holdUntilSettled = true;

  constructor(parts: CatalogueParts, text: string, heads: A.Heads, atMs: number) {
    this.#p = parts;
    const entry = makeEntry(text, atMs, heads, new Set());
    for (const hub of parts.hubs) this.#hubs.set(hub, { entry, settled: true, epoch: 0, syncing: new Set() });
  }

  entry(hub: PeerId): CatalogueEntry {
    return this.#must(hub).entry;
  }

  get #clustered(): boolean {
    return this.#p.hubs.length > 1;
  }

  /**
   * The hub's replica document changed: enforce its authorized_keys unless the document is behind
   * the entry in force (hub-authority.ts applyAuthorizedKeys). `covers` is only asked when applied.
   */
  applyFromDoc(
    hub: PeerId,
    text: string | undefined,
    doc: { heads: A.Heads; hasHeads: (h: A.Heads) => boolean },
    covers: () => Set<string>,
  ): void {
    const state = this.#must(hub);
    const old = state.entry;
    if (text === undefined || text === old.text) return;
    const clock = this.#p.hubNow(hub);
    if (!doc.hasHeads(old.heads)) {
      if (clock - old.atMs <= HEADS_GUARD_MS) {
        this.stats.skipped++;
        this.#p.trace(`catalogue ${hub} skips its doc's keys: it lacks the heads of the entry in force`);
        return;
      }
      this.stats.appliedPastGuard++;
      this.#p.trace(
        `catalogue ${hub} applies its doc's keys without the entry's heads: the entry is older than the guard`,
      );
    }
    state.entry = makeEntry(text, Math.max(clock, old.atMs + 1), doc.heads, covers());
    this.#p.trace(`catalogue ${hub} applies keys ${state.entry.atMs}:${state.entry.hash}`);
    this.#pushIfSettled(hub);
    this.announce(hub);
  }

  /** The hub says hello now: every hub that hears it compares digests. */
  announce(hub: PeerId): void {
    if (!this.#clustered) return;
    const drop = this.#p.dropPerMille();
    for (const to of this.#p.hubs) {
      if (to === hub || !this.#p.isUp(hub) || !this.#p.isUp(to) || !this.#p.canHear(hub, to)) continue;
      if (!this.#p.rng.chance(drop, 1000)) this.heard(hub, to);
    }
  }

  /** `to` heard `from`'s hello (a heartbeat or an announce). */
  heard(from: PeerId, to: PeerId): void {
    const mine = this.#must(to);
    const theirs = this.#must(from).entry;
    if (theirs.atMs === mine.entry.atMs && theirs.hash === mine.entry.hash) return this.#settle(to, "in step");
    if (mine.syncing.has(from)) return;
    mine.syncing.add(from);
    const epoch = mine.epoch;
    const { queue, now, rng, canHear, isUp, dropPerMille } = this.#p;
    queue.push(now() + CATCH_UP_MS, `catalogue ${to} catches up with ${from}`, () => {
      if (mine.epoch !== epoch) return;
      mine.syncing.delete(from);
      const drop = dropPerMille();
      const lost = rng.chance(drop, 1000) || rng.chance(drop, 1000);
      if (!isUp(from) || !isUp(to) || !canHear(to, from) || !canHear(from, to) || lost) {
        this.stats.catchUpsLost++;
        return;
      }
      const offered = this.#must(from).entry;
      if (isNewer(offered, mine.entry)) {
        mine.entry = offered;
        this.stats.adopted++;
        this.#p.trace(`catalogue ${to} adopts ${from}'s keys ${offered.atMs}:${offered.hash}`);
        this.#pushIfSettled(to);
      }
      this.#settle(to, `caught up with ${from}`);
    });
  }

  /** The hub's process died: not settled, nothing in flight survives. */
  crashed(hub: PeerId): void {
    const state = this.#must(hub);
    state.settled = false;
    state.epoch++;
    state.syncing.clear();
  }

  /**
   * The hub's agent is back and connected to its server (routes up): it settles on the first hub it
   * catches up with, or alone after SETTLE_MS; a lone hub at once.
   */
  restarted(hub: PeerId): void {
    const state = this.#must(hub);
    state.epoch++;
    state.syncing.clear();
    state.settled = false;
    if (!this.#clustered) return this.#settle(hub, "alone");
    if (!this.holdUntilSettled) this.#p.push(hub, state.entry);
    const epoch = state.epoch;
    this.#p.queue.push(this.#p.now() + SETTLE_MS, `catalogue ${hub} settle timer`, () => {
      if (state.epoch === epoch && this.#p.isUp(hub)) this.#settle(hub, "no other hub heard");
    });
  }

  #settle(hub: PeerId, why: string): void {
    const state = this.#must(hub);
    if (state.settled) return;
    state.settled = true;
    this.#p.trace(`catalogue ${hub} settled (${why})`);
    this.#p.push(hub, state.entry);
  }

  #pushIfSettled(hub: PeerId): void {
    const state = this.#must(hub);
    if (state.settled || !this.holdUntilSettled) this.#p.push(hub, state.entry);
  }

  #must(hub: PeerId): HubCatalogue {
    const state = this.#hubs.get(hub);
    if (!state) throw new Error(`${hub} is not a hub of this catalogue`);
    return state;
  }
}

function makeEntry(text: string, atMs: number, heads: A.Heads, covers: ReadonlySet<string>): CatalogueEntry {
  return { text, listed: parseAuthorizedKeys(text), atMs, hash: hashOf(text), heads: [...heads], covers };
}
