/**
 * The Transport port over NATS for one vault: unicast on `…p.<to>.<from>`, broadcast on
 * `…announce.<from>` (the sender is always the last token, so permissions can pin it). Messages
 * over the server's max_payload are chunked; the receiving side reassembles with limits, and
 * anything malformed is dropped (counted), never thrown into the engine — nor is anything the
 * engine throws allowed back into the NATS client's read loop.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { randomInt } from "node:crypto";
import type { PeerId, Transport, TransportHandlers, Log } from "../sync/ports.js";
import { silentLog } from "../sync/ports.js";
import { Reassembler, toFrames, type ReassemblerDrops, type ReassemblerLimits } from "./chunking.js";
import { DropLog, type DropLogLimits } from "./drop-log.js";
import {
  vaultPrefix,
  busAnnounceSubject,
  busPeerSubject,
  busInboxWildcard,
  parseBusSubject,
  isPeerToken,
} from "./subjects.js";

export interface NatsTransportConfig {
  nc: NatsConnection;
  /** The vault whose bus (`es.v1.vault.<id>.…`) this transport uses. */
  vaultId?: string;
  /** Or another bus of the same shape under this prefix (e.g. the notify document's); exactly one of the two. */
  subjectPrefix?: string;
  self: PeerId;
  log?: Log;
  /** Largest whole message (after reassembly) accepted from a peer or sent (default 256 MiB). */
  messageBytesMax?: number;
  /** Further reassembly limits (in-flight messages per peer, buffered bytes, time to live). */
  reassembly?: Partial<Omit<ReassemblerLimits, "messageBytesMax">>;
  /** Clock for partial-message expiry (injected so tests can drive it). */
  nowMs?: () => number;
  /** How often dropped frames are logged per peer (default: one line per peer per 10 s). */
  dropLog?: Partial<DropLogLimits>;
}

/** Room left in each frame below max_payload: our 14-byte chunk header, and then some. */
const FRAME_SLACK_BYTES = 1024;
const FRAME_BYTES_MIN = 4096;
const DEFAULT_MESSAGE_BYTES_MAX = 256 * 1024 * 1024;
/** Whole messages at least this large are logged at debug level (clone and catch-up profiling). */
const LARGE_MESSAGE_BYTES = 64 * 1024;

export class NatsTransport implements Transport {
  readonly self: PeerId;
  readonly messageBytesMax: number;
  readonly #cfg: NatsTransportConfig;
  readonly #log: Log;
  readonly #reassembler: Reassembler;
  readonly #dropLog: DropLog;
  readonly #subs: Subscription[] = [];
  readonly #prefix: string;
  #status: { stop?: () => void } | undefined;
  #handlers: TransportHandlers | undefined;
  // Random start: a restarted peer must not reuse ids its old partial messages still hold.
  #messageId = randomInt(0, 2 ** 32);
  #stopped = false;
  readonly stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0, handlerErrors: 0, sendDropped: 0 };

  constructor(config: NatsTransportConfig) {
    if ((config.vaultId === undefined) === (config.subjectPrefix === undefined))
      throw new TypeError("NatsTransport needs exactly one of vaultId and subjectPrefix");
    if (!isPeerToken(config.self))
      throw new RangeError(`invalid peer id for a subject: ${JSON.stringify(config.self)}`);
    this.#cfg = config;
    this.self = config.self;
    this.#log = config.log ?? silentLog;
    this.messageBytesMax = config.messageBytesMax ?? DEFAULT_MESSAGE_BYTES_MAX;
    this.#reassembler = new Reassembler({ ...config.reassembly, messageBytesMax: this.messageBytesMax });
    this.#dropLog = new DropLog(this.#log, config.dropLog);
    this.#prefix = config.subjectPrefix ?? vaultPrefix(config.vaultId as string);
  }

  /** Frames dropped by reassembly, by reason. */
  get drops() {
    return { ...this.#reassembler.drops };
  }

  /** Each frame fits the connected server's max_payload (1 MiB by default). */
  get frameBytesMax(): number {
    const maxPayload = this.#cfg.nc.info?.max_payload ?? 1024 * 1024;
    return Math.max(FRAME_BYTES_MIN, maxPayload - FRAME_SLACK_BYTES);
  }

  get #now(): number {
    return this.#cfg.nowMs?.() ?? Date.now();
  }

  async start(handlers: TransportHandlers): Promise<void> {
    if (this.#handlers) throw new Error("NatsTransport already started");
    this.#handlers = handlers;
    const { nc } = this.#cfg;
    const prefix = this.#prefix;
    const onFrame = (error: Error | null, msg: Msg) => {
      if (error || this.#stopped) return;
      const parsed = parseBusSubject(prefix, msg.subject);
      if (parsed?.kind === "p" && parsed.to === this.self) this.#deliver(msg.subject, parsed.from, msg.data);
      else if (parsed?.kind === "announce" && parsed.from !== this.self)
        this.#deliver(msg.subject, parsed.from, msg.data);
    };
    this.#subs.push(
      nc.subscribe(busInboxWildcard(prefix, this.self), { callback: onFrame }),
      nc.subscribe(`${prefix}.announce.*`, { callback: onFrame }),
    );
    // The server has our interest once flush resolves: nothing sent to us after start() is lost to a race.
    await nc.flush();
    void this.#watchStatus();
  }

  /**
   * A link beyond our own NATS connection came back (the leaf→hub leafnode link, a cluster
   * route): the engine resynchronises as after a reconnect. The agent wires this to the
   * supervisor's link events.
   */
  linkUp(): void {
    if (!this.#stopped) this.#call(() => this.#handlers?.onConnected?.());
  }

  #deliver(subject: string, from: string, frame: Uint8Array): void {
    this.stats.framesIn++;
    this.stats.bytesIn += frame.length;
    const droppedBefore = this.#reassembler.dropped;
    const before = droppedBefore === 0 ? undefined : { ...this.#reassembler.drops };
    const now = this.#now;
    const whole = this.#reassembler.push(from, frame, now);
    if (this.#reassembler.dropped !== droppedBefore) this.#noteDrops(subject, from, before, now);
    if (whole === undefined) return;
    if (whole.length >= LARGE_MESSAGE_BYTES)
      this.#log.debug({ peer: from, bytes: whole.length }, "large message reassembled");
    this.#call(() => this.#handlers?.onMessage(from as PeerId, whole));
  }

  /** Logs (rate-limited, per peer) the frames this push dropped, by reason. */
  #noteDrops(subject: string, from: string, before: ReassemblerDrops | undefined, now: number): void {
    const after = this.#reassembler.drops;
    for (const reason of Object.keys(after) as Array<keyof ReassemblerDrops>) {
      const count = after[reason] - (before?.[reason] ?? 0);
      if (count > 0) this.#dropLog.note(subject, from, reason, count, now);
    }
  }

  /** Runs an engine callback; a throw there is logged, never left to break the NATS read loop. */
  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.stats.handlerErrors++;
      this.#log.warn({ error: String(error) }, "transport handler threw; message dropped");
    }
  }

  async #watchStatus(): Promise<void> {
    const status = this.#cfg.nc.status();
    this.#status = status as { stop?: () => void };
    for await (const s of status) {
      if (this.#stopped) return;
      if (s.type === "reconnect") this.#call(() => this.#handlers?.onConnected?.());
      if (s.type === "disconnect") this.#call(() => this.#handlers?.onDisconnected?.());
    }
  }

  send(to: PeerId, message: Uint8Array): void {
    if (this.#stopped) return;
    if (!isPeerToken(to)) {
      this.stats.sendDropped++;
      return;
    }
    this.#publish(busPeerSubject(this.#prefix, to, this.self), message);
  }

  broadcast(message: Uint8Array): void {
    if (this.#stopped) return;
    this.#publish(busAnnounceSubject(this.#prefix, this.self), message);
  }

  #publish(subject: string, message: Uint8Array): void {
    if (message.length > this.messageBytesMax) {
      this.stats.sendDropped++;
      this.#log.warn(
        { bytes: message.length, max: this.messageBytesMax },
        "message larger than the transport allows; not sent",
      );
      return;
    }
    try {
      for (const frame of toFrames(message, this.frameBytesMax, this.#messageId++)) {
        this.#cfg.nc.publish(subject, frame);
        this.stats.framesOut++;
        this.stats.bytesOut += frame.length;
      }
    } catch (error) {
      // Closed or draining connection: at-most-once means the message is simply lost.
      this.stats.sendDropped++;
      this.#log.debug({ error: String(error) }, "publish failed");
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#status?.stop?.(); // ends #watchStatus now rather than at the next status event
    for (const sub of this.#subs) {
      try {
        sub.unsubscribe();
      } catch {
        // already closed with its connection
      }
    }
  }
}
