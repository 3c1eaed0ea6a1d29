/**
 * The Transport port over NATS for one vault: unicast on `…p.<to>.<from>`, broadcast on
 * `…announce`. Messages over the server's max_payload are chunked; the receiving side reassembles
 * with limits, and anything malformed is dropped (counted), never thrown into the engine.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { PeerId, Transport, TransportHandlers, Log } from "../sync/ports.js";
import { silentLog } from "../sync/ports.js";
import { Reassembler, toFrames } from "./chunking.js";
import { vaultPrefix, busAnnounceSubject, busPeerSubject, busInboxWildcard, parseBusSubject, isPeerToken } from "./subjects.js";

export interface NatsTransportConfig {
  nc: NatsConnection;
  /** The vault whose bus (`es.v1.vault.<id>.…`) this transport uses. */
  vaultId?: string;
  /** Or another bus of the same shape under this prefix (e.g. the notify document's); exactly one of the two. */
  subjectPrefix?: string;
  self: PeerId;
  log?: Log;
  /** Largest whole message (after reassembly) accepted from a peer. */
  messageBytesMax?: number;
  /** Clock for partial-message expiry (injected so tests can drive it). */
  nowMs?: () => number;
}

/** Room left in each frame for NATS headers and our chunk header. */
const FRAME_SLACK_BYTES = 1024;

export class NatsTransport implements Transport {
  readonly self: PeerId;
  readonly messageBytesMax: number;
  readonly #cfg: NatsTransportConfig;
  readonly #log: Log;
  readonly #reassembler: Reassembler;
  readonly #subs: Subscription[] = [];
  readonly #prefix: string;
  #handlers: TransportHandlers | undefined;
  #messageId = 0;
  #stopped = false;
  readonly stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 };

  constructor(config: NatsTransportConfig) {
    this.#cfg = config;
    this.self = config.self;
    this.#log = config.log ?? silentLog;
    this.messageBytesMax = config.messageBytesMax ?? 256 * 1024 * 1024;
    this.#reassembler = new Reassembler({ messageBytesMax: this.messageBytesMax });
    if ((config.vaultId === undefined) === (config.subjectPrefix === undefined)) throw new TypeError("NatsTransport needs exactly one of vaultId and subjectPrefix");
    this.#prefix = config.subjectPrefix ?? vaultPrefix(config.vaultId as string);
  }

  get #frameBytesMax(): number {
    const maxPayload = this.#cfg.nc.info?.max_payload ?? 1024 * 1024;
    return Math.max(4096, maxPayload - FRAME_SLACK_BYTES);
  }

  get #now(): number {
    return this.#cfg.nowMs?.() ?? Date.now();
  }

  async start(handlers: TransportHandlers): Promise<void> {
    this.#handlers = handlers;
    const { nc } = this.#cfg;
    const prefix = this.#prefix;
    this.#subs.push(
      nc.subscribe(busInboxWildcard(prefix, this.self), {
        callback: (error, msg) => {
          if (error) return;
          const parsed = parseBusSubject(prefix, msg.subject);
          if (parsed?.kind !== "p" || parsed.to !== this.self) return;
          this.#deliver(parsed.from, msg.data);
        },
      }),
      nc.subscribe(`${prefix}.announce.*`, {
        callback: (error, msg) => {
          if (error) return;
          const parsed = parseBusSubject(prefix, msg.subject);
          if (parsed?.kind !== "announce" || parsed.from === this.self) return;
          this.#deliver(parsed.from, msg.data);
        },
      }),
    );
    await nc.flush();
    void this.#watchStatus();
  }

  #deliver(from: string, frame: Uint8Array): void {
    if (this.#stopped) return;
    this.stats.framesIn++;
    this.stats.bytesIn += frame.length;
    const whole = this.#reassembler.push(from, frame, this.#now);
    if (whole) this.#handlers?.onMessage(from as PeerId, whole);
  }

  async #watchStatus(): Promise<void> {
    for await (const status of this.#cfg.nc.status()) {
      if (this.#stopped) return;
      if (status.type === "reconnect") this.#handlers?.onConnected?.();
      if (status.type === "disconnect") this.#handlers?.onDisconnected?.();
    }
  }

  send(to: PeerId, message: Uint8Array): void {
    if (this.#stopped || !isPeerToken(to)) return;
    this.#publish(busPeerSubject(this.#prefix, to, this.self), message);
  }

  broadcast(message: Uint8Array): void {
    if (this.#stopped) return;
    this.#publish(busAnnounceSubject(this.#prefix, this.self), message);
  }

  #publish(subject: string, message: Uint8Array): void {
    if (message.length > this.messageBytesMax) {
      this.#log.warn({ bytes: message.length }, "message larger than the transport allows; not sent");
      return;
    }
    try {
      for (const frame of toFrames(message, this.#frameBytesMax, ++this.#messageId)) {
        this.#cfg.nc.publish(subject, frame);
        this.stats.framesOut++;
        this.stats.bytesOut += frame.length;
      }
    } catch (error) {
      // Closed or draining connection: at-most-once means the message is simply lost.
      this.#log.debug({ error: String(error) }, "publish failed");
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const sub of this.#subs) sub.unsubscribe();
  }
}

