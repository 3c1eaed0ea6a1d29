/**
 * Messages larger than the server's max_payload travel as numbered chunks. Pure: bytes in,
 * frames out, and a Reassembler that drops malformed, oversized, duplicate or stale frames rather
 * than throwing — frames come from the network and are untrusted.
 *
 *   whole:  [u8 1][u8 0] payload
 *   chunk:  [u8 1][u8 1][u32 messageId][u16 index][u16 count][u32 totalBytes] payload
 */
const VERSION = 1;
const WHOLE_HEADER = 2;
const CHUNK_HEADER = 14;
export const CHUNK_HEADER_BYTES = CHUNK_HEADER;

export interface ReassemblerLimits {
  /** Largest whole message accepted. */
  messageBytesMax: number;
  /** Partial messages kept per sender at once; the oldest is dropped beyond this. */
  inFlightPerSenderMax: number;
  /** A partial message not completed within this is dropped. */
  partialTtlMs: number;
  /** Chunks per message (count field). */
  chunksMax: number;
}

export const DEFAULT_LIMITS: ReassemblerLimits = { messageBytesMax: 256 * 1024 * 1024, inFlightPerSenderMax: 4, partialTtlMs: 60_000, chunksMax: 65_535 };

/** Splits `message` into frames no larger than `frameBytesMax`. */
export function toFrames(message: Uint8Array, frameBytesMax: number, messageId: number): Uint8Array[] {
  if (message.length + WHOLE_HEADER <= frameBytesMax) {
    const frame = new Uint8Array(WHOLE_HEADER + message.length);
    frame[0] = VERSION;
    frame[1] = 0;
    frame.set(message, WHOLE_HEADER);
    return [frame];
  }
  const body = frameBytesMax - CHUNK_HEADER;
  if (body <= 0) throw new RangeError(`frame size ${frameBytesMax} leaves no room for data`);
  const count = Math.ceil(message.length / body);
  if (count > 65_535) throw new RangeError(`message of ${message.length} bytes needs more than 65535 chunks`);
  const frames: Uint8Array[] = [];
  for (let index = 0; index < count; index++) {
    const part = message.subarray(index * body, Math.min(message.length, (index + 1) * body));
    const frame = new Uint8Array(CHUNK_HEADER + part.length);
    const view = new DataView(frame.buffer);
    frame[0] = VERSION;
    frame[1] = 1;
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

export class Reassembler {
  readonly #limits: ReassemblerLimits;
  readonly #partials = new Map<string, Map<number, PartialMessage>>();
  dropped = 0;

  constructor(limits: Partial<ReassemblerLimits> = {}) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Returns a whole message when `frame` completes one, else undefined. */
  push(sender: string, frame: Uint8Array, nowMs: number): Uint8Array | undefined {
    if (frame.length < WHOLE_HEADER || frame[0] !== VERSION) return this.#drop();
    if (frame[1] === 0) return frame.length - WHOLE_HEADER <= this.#limits.messageBytesMax ? frame.subarray(WHOLE_HEADER) : this.#drop();
    if (frame[1] !== 1 || frame.length < CHUNK_HEADER) return this.#drop();
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const id = view.getUint32(2);
    const index = view.getUint16(6);
    const count = view.getUint16(8);
    const total = view.getUint32(10);
    if (count < 2 || count > this.#limits.chunksMax || index >= count || total > this.#limits.messageBytesMax) return this.#drop();
    const bySender = this.#partials.get(sender) ?? new Map<number, PartialMessage>();
    this.#partials.set(sender, bySender);
    this.#expire(bySender, nowMs);
    let partial: PartialMessage | undefined = bySender.get(id);
    if (partial === undefined) {
      if (bySender.size >= this.#limits.inFlightPerSenderMax) {
        const oldest = [...bySender.entries()].sort((a, b) => a[1].startedMs - b[1].startedMs)[0];
        bySender.delete(oldest[0]);
        this.dropped++;
      }
      partial = { parts: new Array(count), received: 0, bytes: 0, total, startedMs: nowMs };
      bySender.set(id, partial);
    }
    if (partial.parts.length !== count || partial.total !== total) return this.#drop();
    if (partial.parts[index] !== undefined) return undefined; // duplicate
    const body = frame.slice(CHUNK_HEADER);
    if (partial.bytes + body.length > total) {
      bySender.delete(id);
      return this.#drop();
    }
    partial.parts[index] = body;
    partial.received++;
    partial.bytes += body.length;
    if (partial.received < count) return undefined;
    bySender.delete(id);
    if (partial.bytes !== total) return this.#drop();
    const whole = new Uint8Array(total);
    let at = 0;
    for (const part of partial.parts as Uint8Array[]) {
      whole.set(part, at);
      at += part.length;
    }
    return whole;
  }

  #expire(bySender: Map<number, PartialMessage>, nowMs: number): void {
    for (const [id, partial] of bySender) {
      if (nowMs - partial.startedMs > this.#limits.partialTtlMs) {
        bySender.delete(id);
        this.dropped++;
      }
    }
  }

  #drop(): undefined {
    this.dropped++;
    return undefined;
  }

  forget(sender: string): void {
    this.#partials.delete(sender);
  }
}
