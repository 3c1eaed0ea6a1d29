/**
 * When an engine re-announces its heads. Every device announces to the whole vault, so with N
 * devices the bus carries N² deliveries per round: at a fixed 2 s that was most of what an idle
 * device and a hub spent (docs/performance-notes.md §5). An announcement is only news when our
 * heads moved; repeating unchanged heads only recovers a lost message or keeps a peer from
 * forgetting us. So unchanged heads are re-announced with a doubling interval, from `baseMs` up to
 * `maxMs`; heads nobody on the bus has heard from us yet are due `baseMs` after the last
 * announcement, as before. Heads a hub broadcast to everyone (a push) are already known on the bus.
 */
import type * as A from "@automerge/automerge";
import { sameHeads } from "./heads.js";

export class AnnounceSchedule {
  readonly #baseMs: number;
  readonly #maxMs: number;
  #intervalMs: number;
  #lastMs = Number.NEGATIVE_INFINITY;
  /** Heads the vault's bus has last heard from us (or from a hub, for everyone). */
  #knownHeads: A.Heads | undefined;

  constructor(baseMs: number, maxMs: number) {
    this.#baseMs = baseMs;
    this.#maxMs = Math.max(baseMs, maxMs);
    this.#intervalMs = baseMs;
  }

  /** Whether a periodic announcement of `heads` is due at `nowMs`. */
  isDue(nowMs: number, heads: A.Heads): boolean {
    return nowMs - this.#lastMs >= (this.#known(heads) ? this.#intervalMs : this.#baseMs);
  }

  /** We announced `heads` at `nowMs`: the same heads again wait twice as long next time. */
  announced(nowMs: number, heads: A.Heads): void {
    this.#intervalMs = this.#known(heads) ? Math.min(this.#intervalMs * 2, this.#maxMs) : this.#baseMs;
    this.#lastMs = nowMs;
    this.#knownHeads = heads;
  }

  /**
   * A hub broadcast `heads` to every peer and we hold exactly them: the bus knows them, so they
   * need no announcement of ours soon. The backoff goes on where it was.
   */
  heardOnBus(heads: A.Heads): void {
    this.#knownHeads = heads;
  }

  #known(heads: A.Heads): boolean {
    return this.#knownHeads !== undefined && sameHeads(heads, this.#knownHeads);
  }

  /** The link came back: messages may have been lost, so the next rounds are at the base interval. */
  reset(): void {
    this.#intervalMs = this.#baseMs;
    this.#knownHeads = undefined;
  }
}
