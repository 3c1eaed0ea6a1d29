/**
 * The Transport port over NATS for one vault: unicast on `…p.<to>.<from>`, broadcast on
 * `…announce`. Messages over the server's max_payload are chunked; the receiving side reassembles
 * with limits, and anything malformed is dropped (counted), never thrown into the engine.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { PeerId, Transport, TransportHandlers, Log } from "../sync/ports.js";
import { silentLog } from "../sync/ports.js";
import { Reassembler, toFrames } from "./chunking.js";
import { vaultAnnounceSubject, vaultAnnounceWildcard, vaultInboxWildcard, vaultPeerSubject, parsePeerSubject, parseAnnounceSubject, isPeerToken } from "./subjects.js";

export interface NatsTransportConfig {
  nc: NatsConnection;
  vaultId: string;
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
    const { nc, vaultId } = this.#cfg;
    this.#subs.push(
      nc.subscribe(vaultInboxWildcard(vaultId, this.self), {
        callback: (error, msg) => {
          if (error) return;
          const parsed = parsePeerSubject(msg.subject);
          if (!parsed || parsed.to !== this.self) return;
          this.#deliver(parsed.from, msg.data);
        },
      }),
      nc.subscribe(vaultAnnounceWildcard(vaultId), {
        callback: (error, msg) => {
          if (error) return;
          const parsed = parseAnnounceSubject(msg.subject);
          if (!parsed || parsed.from === this.self) return;
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
    this.#publish(vaultPeerSubject(this.#cfg.vaultId, to, this.self), message);
  }

  broadcast(message: Uint8Array): void {
    if (this.#stopped) return;
    this.#publish(vaultAnnounceSubject(this.#cfg.vaultId, this.self), message);
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

