/**
 * Messages larger than the server's max_payload travel as numbered chunks. Pure: bytes in,
 * frames out, and a Reassembler that drops malformed, oversized, duplicate or stale frames rather
 * than throwing — frames come from the network and are untrusted. Big-endian header:
 *
 *   whole:  [u8 version=1][u8 kind=0] payload
 *   chunk:  [u8 version=1][u8 kind=1][u32 messageId][u16 index][u16 count][u32 totalBytes] payload
 *
 * Every chunk but the last carries the same number of payload bytes; the Reassembler only needs
 * the sum to equal totalBytes.
 */
const VERSION = 1;
const KIND_WHOLE = 0;
const KIND_CHUNK = 1;
const WHOLE_HEADER = 2;
const CHUNK_HEADER = 14;
export const WHOLE_HEADER_BYTES = WHOLE_HEADER;
export const CHUNK_HEADER_BYTES = CHUNK_HEADER;
/** The u16 count field. */
export const CHUNKS_PER_MESSAGE_MAX = 65_535;

export interface ReassemblerLimits {
  /** Largest whole message accepted. */
  messageBytesMax: number;
  /** Partial messages kept per sender at once; the oldest is dropped beyond this. */
  inFlightPerSenderMax: number;
  /** Senders with partial messages at once; the stalest sender's partials are dropped beyond this. */
  sendersMax: number;
  /** Bytes held in partial messages over all senders; the oldest partials are dropped beyond this. */
  bufferedBytesMax: number;
  /** A partial message not completed within this (by the caller's clock) is dropped. */
  partialTtlMs: number;
  /** Chunks per message (count field). */
  chunksMax: number;
}

export const DEFAULT_LIMITS: ReassemblerLimits = {
  messageBytesMax: 256 * 1024 * 1024,
  inFlightPerSenderMax: 4,
  sendersMax: 1024,
  // Two largest messages at once: a hub can take one big snapshot while another is in flight.
  bufferedBytesMax: 512 * 1024 * 1024,
  partialTtlMs: 60_000,
  chunksMax: CHUNKS_PER_MESSAGE_MAX,
};

/** Splits `message` into frames no larger than `frameBytesMax`. Programmer errors throw RangeError. */
export function toFrames(message: Uint8Array, frameBytesMax: number, messageId: number): Uint8Array[] {
  if (!Number.isInteger(frameBytesMax) || frameBytesMax <= CHUNK_HEADER)
    throw new RangeError(`frame size ${frameBytesMax} leaves no room for data`);
  if (message.length + WHOLE_HEADER <= frameBytesMax) {
    const frame = new Uint8Array(WHOLE_HEADER + message.length);
    frame[0] = VERSION;
    frame[1] = KIND_WHOLE;
    frame.set(message, WHOLE_HEADER);
    return [frame];
  }
  const body = frameBytesMax - CHUNK_HEADER;
  const count = Math.ceil(message.length / body);
  if (count > CHUNKS_PER_MESSAGE_MAX)
    throw new RangeError(`message of ${message.length} bytes needs more than ${CHUNKS_PER_MESSAGE_MAX} chunks`);
  if (message.length > 0xffff_ffff) throw new RangeError(`message of ${message.length} bytes is over 4 GiB`);
  const frames: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const part = message.subarray(index * body, Math.min(message.length, (index + 1) * body));
    const frame = new Uint8Array(CHUNK_HEADER + part.length);
    const view = new DataView(frame.buffer);
    frame[0] = VERSION;
    frame[1] = KIND_CHUNK;
    view.setUint32(2, messageId >>> 0);
    view.setUint16(6, index);
    view.setUint16(8, count);
    view.setUint32(10, message.length);
    frame.set(part, CHUNK_HEADER);
    frames.push(frame);
  }
  return frames;
}

interface PartialMessage {
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
  total: number;
  startedMs: number;
}

/** Why frames were dropped, for metrics and tests. */
export interface ReassemblerDrops {
  malformed: number;
  oversized: number;
  inconsistent: number;
  evicted: number;
  expired: number;
  duplicate: number;
}

export class Reassembler {
  readonly #limits: ReassemblerLimits;
  /** sender → messageId → partial. Map order is insertion order: the first sender is the stalest. */
  readonly #partials = new Map<string, Map<number, PartialMessage>>();
  #bufferedBytes = 0;
  #lastSweepMs = Number.NEGATIVE_INFINITY;
  readonly drops: ReassemblerDrops = {
    malformed: 0,
    oversized: 0,
    inconsistent: 0,
    evicted: 0,
    expired: 0,
    duplicate: 0,
  };

  constructor(limits: Partial<ReassemblerLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
    for (const [key, value] of Object.entries(this.#limits)) {
      if (!Number.isInteger(value) || value < 1)
        throw new RangeError(`reassembler limit ${key} must be a positive integer, got ${value}`);
    }
  }

  /** Frames dropped for any reason. */
  get dropped(): number {
    const d = this.drops;
    return d.malformed + d.oversized + d.inconsistent + d.evicted + d.expired + d.duplicate;
  }

  /** Bytes held in partial messages. */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Partial messages held, over all senders. */
  get partialMessages(): number {
    let n = 0;
    for (const bySender of this.#partials.values()) n += bySender.size;
    return n;
  }

  /** Returns a whole message when `frame` completes one, else undefined. Never throws. */
  push(sender: string, frame: Uint8Array, nowMs: number): Uint8Array | undefined {
    if (frame.length < WHOLE_HEADER || frame[0] !== VERSION) return this.#drop("malformed");
    if (frame[1] === KIND_WHOLE)
      return frame.length - WHOLE_HEADER <= this.#limits.messageBytesMax
        ? frame.subarray(WHOLE_HEADER)
        : this.#drop("oversized");
    if (frame[1] !== KIND_CHUNK || frame.length < CHUNK_HEADER) return this.#drop("malformed");
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const id = view.getUint32(2);
    const index = view.getUint16(6);
    const count = view.getUint16(8);
    const total = view.getUint32(10);
    const body = frame.length - CHUNK_HEADER;
    if (count < 2 || index >= count || body === 0 || body > total) return this.#drop("malformed");
    if (count > this.#limits.chunksMax || total > this.#limits.messageBytesMax) return this.#drop("oversized");
    this.#sweep(nowMs);
    const partial = this.#partialFor(sender, id, count, total, nowMs);
    if (partial.parts.length !== count || partial.total !== total) return this.#drop("inconsistent");
    if (partial.parts[index] !== undefined) return this.#drop("duplicate");
    if (partial.bytes + body > total) {
      this.#remove(sender, id);
      return this.#drop("inconsistent");
    }
    if (!this.#makeRoom(body, partial)) {
      this.#remove(sender, id);
      return this.#drop("evicted");
    }
    partial.parts[index] = frame.slice(CHUNK_HEADER); // a copy: the network buffer is not ours to keep
    partial.received++;
    partial.bytes += body;
    this.#bufferedBytes += body;
    if (partial.received < count) return undefined;
    this.#remove(sender, id);
    if (partial.bytes !== total) return this.#drop("inconsistent");
    const whole = new Uint8Array(total);
    let at = 0;
    for (const part of partial.parts as Uint8Array[]) {
      whole.set(part, at);
      at += part.length;
    }
    return whole;
  }

  /** Drops partial messages older than the time to live. push() calls it too. */
  expire(nowMs: number): void {
    for (const [sender, bySender] of [...this.#partials]) {
      for (const [id, partial] of [...bySender]) {
        if (nowMs - partial.startedMs > this.#limits.partialTtlMs) {
          this.#remove(sender, id);
          this.drops.expired++;
        }
      }
    }
  }

  /** Forgets a sender's partial messages (it left, or restarted). */
  forget(sender: string): void {
    for (const id of [...(this.#partials.get(sender)?.keys() ?? [])]) this.#remove(sender, id);
  }

  #sweep(nowMs: number): void {
    // A full sweep at most four times per time to live keeps push() O(1) on average.
    if (nowMs - this.#lastSweepMs < this.#limits.partialTtlMs / 4) return;
    this.#lastSweepMs = nowMs;
    this.expire(nowMs);
  }

  #partialFor(sender: string, id: number, count: number, total: number, nowMs: number): PartialMessage {
    let bySender = this.#partials.get(sender);
    const existing = bySender?.get(id);
    if (existing) return existing;
    if (!bySender) {
      if (this.#partials.size >= this.#limits.sendersMax) {
        const stalest = this.#partials.keys().next().value as string;
        this.drops.evicted += this.#partials.get(stalest)?.size ?? 0;
        this.forget(stalest);
      }
      bySender = new Map();
      this.#partials.set(sender, bySender);
    } else if (bySender.size >= this.#limits.inFlightPerSenderMax) {
      let oldest: [number, PartialMessage] | undefined;
      for (const entry of bySender) if (!oldest || entry[1].startedMs < oldest[1].startedMs) oldest = entry;
      if (oldest) {
        this.#remove(sender, oldest[0]);
        this.drops.evicted++;
      }
      bySender = this.#partials.get(sender) ?? new Map<number, PartialMessage>();
      this.#partials.set(sender, bySender);
    }
    const partial: PartialMessage = {
      parts: new Array<Uint8Array | undefined>(count),
      received: 0,
      bytes: 0,
      total,
      startedMs: nowMs,
    };
    bySender.set(id, partial);
    return partial;
  }

  /** Evicts the oldest other partials until `bytes` more fit; false if even that is not enough. */
  #makeRoom(bytes: number, keep: PartialMessage): boolean {
    while (this.#bufferedBytes + bytes > this.#limits.bufferedBytesMax) {
      let oldest: { sender: string; id: number; startedMs: number } | undefined;
      for (const [sender, bySender] of this.#partials) {
        for (const [id, p] of bySender)
          if (p !== keep && (!oldest || p.startedMs < oldest.startedMs))
            oldest = { sender, id, startedMs: p.startedMs };
      }
      if (!oldest) return false;
      this.#remove(oldest.sender, oldest.id);
      this.drops.evicted++;
    }
    return true;
  }

  #remove(sender: string, id: number): void {
    const bySender = this.#partials.get(sender);
    const partial = bySender?.get(id);
    if (!bySender || !partial) return;
    this.#bufferedBytes -= partial.bytes;
    bySender.delete(id);
    if (bySender.size === 0) this.#partials.delete(sender);
  }

  #drop(reason: keyof ReassemblerDrops): undefined {
    this.drops[reason]++;
    return undefined;
  }
}
