/**
 * A sync message carrying an entry over INLINE_ENTRY_BYTES_MAX is not applied at all: Automerge
 * changes are hash-chained, so the change cannot be dropped from the message alone, and once in
 * the doc it would be stored here and relayed to every device. Its author's later changes build
 * on it and are refused with it; no honest agent writes one (a text that large becomes a blob).
 * The peer offers the change again on every exchange, so each refusal is logged once per peer and
 * change.
 */
import type { Log, PeerId } from "./ports.js";
import type { OversizedChange } from "../vault/model/entry-limits.js";
import { INLINE_ENTRY_BYTES_MAX } from "../vault/model/schema.js";

/** Refused (peer, change) pairs logged at most: past this, refusals are only counted. */
const REFUSALS_LOGGED_MAX = 1000;

export class OversizeRefusals {
  readonly #log: Log;
  /** `peer change-hash` of every refusal already logged. */
  readonly #logged = new Set<string>();

  constructor(log: Log) {
    this.#log = log;
  }

  note(from: PeerId, change: OversizedChange): void {
    const key = `${from} ${change.hash}`;
    if (this.#logged.has(key) || this.#logged.size >= REFUSALS_LOGGED_MAX) return;
    this.#logged.add(key);
    this.#log.warn(
      { peer: from, change: change.hash, actor: change.actor, bytes: change.bytes, max: INLINE_ENTRY_BYTES_MAX },
      "refused a sync message: a change in it carries an entry over the inline entry limit; nothing in it is applied, nor any later change of that peer built on it",
    );
  }
}
