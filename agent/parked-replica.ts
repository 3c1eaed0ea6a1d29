/**
 * What a hub does with a vault's traffic while that vault's replica is unloaded (its document not
 * in memory): the pure rules, apart from the transport and the disk (replica.ts applies them).
 *
 * An unloaded replica still answers for the vault in the cheapest way that keeps the devices'
 * routing as it was: it announces the heads it saved, as its engine did, so devices keep treating
 * it as their hub and a device in step with it has nothing to send. Any message that needs the
 * document — a sync or snapshot, a blob request, an announcement of other heads (a device with
 * new changes, a clone that holds nothing) — wakes the replica, and waits in a bounded queue
 * until the document is loaded and its engine takes the queue over, in arrival order.
 */
import { decodeMessage, encodeMessage, ANNOUNCE_HEADS_MAX } from "./sync/messages.js";
import { sameHeads } from "./sync/heads.js";
import type { PeerId } from "./sync/ports.js";

/** What an unloaded replica does with one message. */
export const ParkedVerdict = {
  /** An announcement of the heads we saved: the sender is in step, nothing to load for. */
  inStep: "in-step",
  /** It needs the document: queue it and load. */
  wake: "wake",
  /** Not a message of the wire format: dropped, as the engine would. */
  malformed: "malformed",
} as const;
export type ParkedVerdict = (typeof ParkedVerdict)[keyof typeof ParkedVerdict];

export function parkedVerdict(message: Uint8Array, savedHeads: readonly string[]): ParkedVerdict {
  const decoded = decodeMessage(message);
  if (decoded === undefined) return ParkedVerdict.malformed;
  if (decoded.type === "announce" && sameHeads([...savedHeads], decoded.heads)) return ParkedVerdict.inStep;
  return ParkedVerdict.wake;
}

/**
 * A loaded replica is busy with anything but announcements of the heads it holds and its own
 * announcements: those flow every few seconds from every online device, in step or not.
 */
export function isIdleTraffic(message: Uint8Array, heads: readonly string[]): boolean {
  return parkedVerdict(message, heads) === ParkedVerdict.inStep;
}

/** Our own announcement, as the engine would send it (SyncEngine #announcement). */
export function parkedAnnouncement(heads: readonly string[], ready: boolean, hub: boolean): Uint8Array {
  return encodeMessage({ type: "announce", heads: heads.slice(0, ANNOUNCE_HEADS_MAX), ready, hub });
}

/** True for an announcement frame (type byte 1), without decoding it: the cheap test on every send. */
export const isAnnouncementFrame = (message: Uint8Array) => message.length >= 2 && message[1] === 1;

export interface ParkedQueueLimits {
  /** Messages held while the document loads. */
  messagesMax: number;
  /** Their bytes together (a clone's first sync is small; a device's catch-up may be large). */
  bytesMax: number;
}

/**
 * Messages held for the engine that is loading. Past either limit the oldest go first: they are
 * the ones a device's periodic announcement and the resynchronisation after it recover (every
 * exchange restarts from heads, DESIGN §4), and the newest are the likeliest still to matter.
 */
export class ParkedQueue {
  readonly #limits: ParkedQueueLimits;
  #items: { from: PeerId; message: Uint8Array }[] = [];
  #bytes = 0;
  dropped = 0;

  constructor(limits: ParkedQueueLimits) {
    this.#limits = limits;
  }

  get length(): number {
    return this.#items.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(from: PeerId, message: Uint8Array): void {
    this.#items.push({ from, message });
    this.#bytes += message.length;
    while (
      this.#items.length > 1 &&
      (this.#items.length > this.#limits.messagesMax || this.#bytes > this.#limits.bytesMax)
    ) {
      const oldest = this.#items.shift()!;
      this.#bytes -= oldest.message.length;
      this.dropped++;
    }
  }

  /** Everything held, oldest first; the queue is empty afterwards. */
  take(): { from: PeerId; message: Uint8Array }[] {
    const items = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return items;
  }
}
