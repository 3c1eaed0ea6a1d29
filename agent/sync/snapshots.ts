/**
 * Full saves of the doc (snapshots), made once per state of the doc: a clone gets one instead of
 * Automerge's sync messages, and a compaction or a full save writes the same bytes.
 */
import * as A from "@automerge/automerge";
import type { Clock } from "./ports.js";
import type { Doc } from "../vault/model/vault-doc.js";
import { sameHeads } from "./heads.js";

/**
 * A snapshot made ahead of need waits this many times as long as the last one took, so a busy
 * vault spends at most a tenth of its time on them.
 */
const READY_SNAPSHOT_BACKOFF_FACTOR = 10;
/**
 * A snapshot made ahead of need also waits for the doc to have been quiet this many times as long
 * as the last one took: the save holds the engine, and an edit arriving meanwhile waits for it, so
 * a big vault's snapshot waits for a real pause in the editing, not a gap between two saves.
 */
const READY_SNAPSHOT_QUIET_FACTOR = 10;

export class SnapshotCache {
  /** The last snapshot, by the heads it holds: every clone of an unchanged vault gets the same bytes. */
  #cached: { heads: A.Heads; bytes: Uint8Array } | undefined;
  /** No snapshot made ahead of need before this time (keepReady). */
  #nextReadyMs = Number.NEGATIVE_INFINITY;
  /** How long the last snapshot made ahead of need took (clock ms). */
  #lastReadyTookMs = 0;
  #made = 0;

  /** Snapshots made (a load's bytes taken as one are not counted). */
  get made(): number {
    return this.#made;
  }

  /** A full save of `doc` as it is now. */
  of(doc: Doc): Uint8Array {
    const heads = A.getHeads(doc);
    if (!this.has(heads)) {
      this.#cached = { heads, bytes: A.save(doc) };
      this.#made++;
    }
    return this.#cached!.bytes;
  }

  has(heads: A.Heads): boolean {
    return this.#cached !== undefined && sameHeads(this.#cached.heads, heads);
  }

  /** The doc was loaded from `bytes`: they are a save of what it holds. */
  adopt(heads: A.Heads, bytes: Uint8Array): void {
    this.#cached = { heads, bytes };
  }

  /**
   * Makes the snapshot ahead of need once the doc has been quiet for `quietMs`, so the next clone
   * gets it at once instead of waiting for the save. `now` is when the tick began.
   */
  keepReady(doc: Doc, now: number, quiet: { sinceMs: number; quietMs: number | undefined }, clock: Clock): void {
    if (quiet.quietMs === undefined || now < this.#nextReadyMs) return;
    if (now - quiet.sinceMs < Math.max(quiet.quietMs, READY_SNAPSHOT_QUIET_FACTOR * this.#lastReadyTookMs)) return;
    const heads = A.getHeads(doc);
    if (heads.length === 0 || this.has(heads)) return;
    this.of(doc);
    const done = clock.now();
    this.#lastReadyTookMs = done - now;
    this.#nextReadyMs = done + READY_SNAPSHOT_BACKOFF_FACTOR * this.#lastReadyTookMs;
  }
}
