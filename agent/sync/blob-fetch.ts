/**
 * Fetching binary contents by hash over the vault's bus (sans-IO, driven by the engine's queue).
 *
 *   want:  a revision whose blob is not here → `blob-want` to the peer the change came from; on
 *          every tick the still-missing ones are asked of every peer again, with exponential
 *          backoff, since the bus is at-most-once and that peer may not have it either.
 *   serve: a `blob-want` is answered from the local store in `blob` chunks, only for hashes the
 *          doc's history references (`mayServe`) — never arbitrary store contents.
 *   reassemble: chunks are accepted only for wanted hashes whose total equals the size the doc
 *          declares; complete bytes are checked against the hash, stored durably, then reported.
 */
import { encodeMessage, BLOB_HEADER_BYTES, BLOB_WANT_MAX, type WireMessage } from "./messages.js";
import type { BlobStore } from "../vault/store/blob-store.js";
import type { Clock, Log, PeerId } from "./ports.js";
import { sha256Hex } from "../vault/model/bytes.js";

/** Blobs at most for which peers wait on us (each entry a handful of peer ids). */
const OWED_MAX = 1024;
/** Over-limit blobs logged at most (each once). */
const OVER_LIMIT_LOGGED_MAX = 1024;

export interface BlobNeed {
  hash: string;
  size: number;
}

export interface BlobFetchConfig {
  store: BlobStore;
  send(to: PeerId, message: Uint8Array): void;
  broadcast(message: Uint8Array): void;
  clock: Clock;
  log: Log;
  /** Bytes of blob data per `blob` message (kept below the transport's messageBytesMax). */
  chunkBytes: number;
  /** Largest blob wanted, served or reassembled (the vault's file size limit). */
  blobBytesMax: number;
  /** Whether the doc's history references `hash` (only those are served). */
  mayServe(hash: string): boolean;
  /** A wanted blob arrived, verified and durable. */
  onStored(hash: string): Promise<void>;
  /** First re-ask delay; doubles per attempt up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** A reassembly with no chunk for this long is dropped (its blob is asked for again). */
  stallMs?: number;
  /** Bytes held in reassembly buffers at most (one blob is always allowed). */
  incomingBytesMax?: number;
  /** Blobs asked for and not yet here, at most (flow control); and their bytes (one blob is always allowed). */
  inflightMax?: number;
  inflightBytesMax?: number;
  /** Blob bytes sent in answer to one `blob-want` at most (a well-behaved peer asks for less). */
  serveBytesMax?: number;
  /** Hex SHA-256 (the agent passes Node's native one; the default is portable). */
  digest?: (bytes: Uint8Array) => string;
  /**
   * Warn about a blob not fetched for its size (a hub: nothing else says so there). A device's
   * folder binding already says it once per file, so there this is a debug line.
   */
  warnOverLimit?: boolean;
}

interface Wanted {
  size: number;
  /** Re-asks so far (the backoff exponent). */
  attempts: number;
  /** When to ask (again). */
  nextAskMs: number;
  asked: boolean;
  lastAskMs: number;
}

interface Incoming {
  from: PeerId;
  bytes: Uint8Array;
  offsets: Set<number>;
  received: number;
  lastMs: number;
}

export class BlobFetcher {
  readonly #cfg: Required<BlobFetchConfig>;
  readonly #wanted = new Map<string, Wanted>();
  readonly #incoming = new Map<string, Incoming>();
  /**
   * Peers that asked for a blob we are still fetching ourselves (a hub relaying a leaf's new
   * attachment): served the moment it arrives instead of at their next retry.
   */
  readonly #owed = new Map<string, Set<PeerId>>();
  readonly #overLimitLogged = new Set<string>();
  #stats = { blobsIn: 0, blobBytesIn: 0, blobsOut: 0, blobBytesOut: 0, blobsRejected: 0 };

  constructor(config: BlobFetchConfig) {
    this.#cfg = {
      retryMinMs: 2_000,
      retryMaxMs: 60_000,
      stallMs: 30_000,
      incomingBytesMax: 64 * 1024 * 1024,
      inflightMax: BLOB_WANT_MAX,
      inflightBytesMax: 32 * 1024 * 1024,
      serveBytesMax: 64 * 1024 * 1024,
      warnOverLimit: false,
      ...config,
      digest: config.digest ?? sha256Hex,
    };
  }

  get stats() {
    return { ...this.#stats, blobsWanted: this.#wanted.size };
  }

  /** Hashes still missing here. */
  get missing(): string[] {
    return [...this.#wanted.keys()].sort();
  }

  /** Records what the doc now references but the store lacks, and asks `from` (or everyone) for it. */
  async want(needs: readonly BlobNeed[], from?: PeerId): Promise<void> {
    const now = this.#cfg.clock.now();
    for (const { hash, size } of needs) {
      if (this.#wanted.has(hash)) continue;
      if (size > this.#cfg.blobBytesMax) {
        this.#overLimit(hash, size);
        continue;
      }
      if (await this.#cfg.store.has(hash)) continue;
      this.#wanted.set(hash, { size, attempts: 0, nextAskMs: now, asked: false, lastAskMs: 0 });
    }
    this.#askDue(from);
  }

  /**
   * A blob whose declared size is over the limit is never asked for, so never stored, served or
   * relayed (a chunk must add up to the declared size, and serving checks the stored length).
   */
  #overLimit(hash: string, size: number): void {
    if (this.#overLimitLogged.has(hash) || this.#overLimitLogged.size >= OVER_LIMIT_LOGGED_MAX) return;
    this.#overLimitLogged.add(hash);
    const line = this.#cfg.warnOverLimit ? this.#cfg.log.warn : this.#cfg.log.debug;
    line.call(
      this.#cfg.log,
      { blob: hash.slice(0, 16), size, max: this.#cfg.blobBytesMax },
      "not fetching a binary file's contents: larger than the blob limit here",
    );
  }

  /** Re-asks every peer for what is overdue; drops stalled reassemblies. */
  tick(): void {
    const now = this.#cfg.clock.now();
    for (const [hash, incoming] of this.#incoming)
      if (now - incoming.lastMs > this.#cfg.stallMs) this.#incoming.delete(hash);
    this.#askDue();
  }

  /** The link came back: whatever was in flight is lost; ask everyone at once. */
  reconnected(): void {
    this.#incoming.clear();
    const now = this.#cfg.clock.now();
    for (const wanted of this.#wanted.values()) {
      wanted.nextAskMs = now;
      wanted.lastAskMs = Number.NEGATIVE_INFINITY;
    }
    this.tick();
  }

  /**
   * Asks for the blobs that are due (never asked, or past their retry time), but keeps at most
   * `inflightMax` blobs / `inflightBytesMax` bytes asked-for and not yet here: a clone of a
   * vault with a thousand images must not make its peer send them all at once (the bus would drop
   * most of it). Each blob that completes makes room for the next at once. A blob counts as in
   * flight while it arrives or for `retryMinMs` after it was asked for: one that no peer has (its
   * writer is offline) waits for its retry without holding a slot, and a re-asked blob goes to the
   * back of the line, so unavailable blobs never starve available ones.
   */
  #askDue(to?: PeerId): void {
    const now = this.#cfg.clock.now();
    const inFlight = (hash: string, wanted: Wanted) =>
      this.#incoming.has(hash) || (wanted.asked && now - wanted.lastAskMs < this.#cfg.retryMinMs);
    let count = 0;
    let bytes = 0;
    for (const [hash, wanted] of this.#wanted) {
      if (!inFlight(hash, wanted)) continue;
      count++;
      bytes += wanted.size;
    }
    const due: [string, Wanted][] = [];
    for (const [hash, wanted] of this.#wanted) {
      if (inFlight(hash, wanted) || (wanted.asked && wanted.nextAskMs > now)) continue;
      if (count >= this.#cfg.inflightMax || (count > 0 && bytes + wanted.size > this.#cfg.inflightBytesMax)) break;
      if (wanted.asked) wanted.attempts++;
      wanted.asked = true;
      wanted.lastAskMs = now;
      wanted.nextAskMs =
        now + Math.min(this.#cfg.retryMaxMs, this.#cfg.retryMinMs * 2 ** Math.min(wanted.attempts, 20));
      count++;
      bytes += wanted.size;
      due.push([hash, wanted]);
    }
    for (const [hash, wanted] of due) {
      this.#wanted.delete(hash); // to the back of the line
      this.#wanted.set(hash, wanted);
    }
    this.#ask(
      due.map(([hash]) => hash),
      to,
    );
  }

  async onMessage(from: PeerId, message: Extract<WireMessage, { type: "blob-want" | "blob" }>): Promise<void> {
    if (message.type === "blob-want") return this.#serve(from, message.hashes);
    await this.#onChunk(from, message);
  }

  #ask(hashes: readonly string[], to?: PeerId): void {
    for (let start = 0; start < hashes.length; start += BLOB_WANT_MAX) {
      const frame = encodeMessage({ type: "blob-want", hashes: hashes.slice(start, start + BLOB_WANT_MAX) });
      if (to !== undefined) this.#cfg.send(to, frame);
      else this.#cfg.broadcast(frame);
    }
  }

  async #serve(to: PeerId, hashes: readonly string[]): Promise<void> {
    let budget = this.#cfg.serveBytesMax;
    for (const hash of hashes) {
      if (!this.#cfg.mayServe(hash)) continue;
      const bytes = await this.#cfg.store.get(hash);
      if (bytes === undefined) {
        if (this.#wanted.has(hash) && this.#owed.size < OWED_MAX)
          this.#owed.set(hash, (this.#owed.get(hash) ?? new Set()).add(to));
        continue;
      }
      if (bytes.length > this.#cfg.blobBytesMax) continue;
      if (bytes.length > budget && budget < this.#cfg.serveBytesMax) break; // the rest: when asked again
      budget -= bytes.length;
      const step = this.#cfg.chunkBytes;
      let offset = 0;
      do {
        const chunk = bytes.subarray(offset, offset + step);
        this.#cfg.send(to, encodeMessage({ type: "blob", hash, offset, total: bytes.length, chunk }));
        offset += chunk.length;
      } while (offset < bytes.length);
      this.#stats.blobsOut++;
      this.#stats.blobBytesOut += bytes.length;
    }
  }

  async #onChunk(from: PeerId, message: Extract<WireMessage, { type: "blob" }>): Promise<void> {
    const { hash, offset, total, chunk } = message;
    const wanted = this.#wanted.get(hash);
    if (wanted === undefined || total !== wanted.size) return; // unsolicited, or not the size the doc says
    const now = this.#cfg.clock.now();
    let incoming = this.#incoming.get(hash);
    if (incoming !== undefined && incoming.from !== from) {
      if (now - incoming.lastMs <= this.#cfg.stallMs) return; // another peer is already sending it
      incoming = undefined;
    }
    if (incoming === undefined) {
      if (this.#incoming.size > 0 && this.#bufferedBytes() + total > this.#cfg.incomingBytesMax) return; // asked again later
      incoming = { from, bytes: new Uint8Array(total), offsets: new Set(), received: 0, lastMs: now };
      this.#incoming.set(hash, incoming);
    }
    incoming.lastMs = now;
    if (incoming.offsets.has(offset)) return; // a duplicate
    incoming.offsets.add(offset);
    incoming.bytes.set(chunk, offset);
    incoming.received += chunk.length;
    if (incoming.received < total) return;
    this.#incoming.delete(hash);
    if (incoming.received !== total || this.#cfg.digest(incoming.bytes) !== hash) {
      this.#stats.blobsRejected++;
      this.#cfg.log.warn({ peer: from, blob: hash }, "blob bytes from a peer do not match their hash; asking again");
      return;
    }
    await this.#cfg.store.put(hash, incoming.bytes);
    this.#wanted.delete(hash);
    this.#stats.blobsIn++;
    this.#stats.blobBytesIn += total;
    const owed = this.#owed.get(hash);
    this.#owed.delete(hash);
    for (const peer of owed ?? []) await this.#serve(peer, [hash]);
    this.#askDue(from); // room for the next: the peer that just sent one likely has more
    await this.#cfg.onStored(hash);
  }

  #bufferedBytes(): number {
    let sum = 0;
    for (const incoming of this.#incoming.values()) sum += incoming.bytes.length;
    return sum;
  }
}

/**
 * Blob data bytes per message for a transport whose messages hold at most `messageBytesMax`
 * (at least 1: an offline engine's null transport carries nothing anyway).
 */
export const blobChunkBytesFor = (messageBytesMax: number, preferred = 256 * 1024): number =>
  Math.max(1, Math.min(preferred, messageBytesMax - BLOB_HEADER_BYTES));
