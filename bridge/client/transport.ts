/**
 * The Transport port over a bridge (browser-ready): the same at-most-once contract as the NATS
 * transport (agent/sync/transport-contract.ts), so the agent's own SyncEngine runs unchanged on
 * top of it. It reconnects with exponential backoff and jitter, and stops for good on an auth,
 * pin or MITM failure (reported through `onError`), since the same key would be refused again.
 */
import type { PeerId, Transport, TransportHandlers } from "../../agent/sync/ports.js";
import { CHUNK_FRAME_BYTES, MESSAGE_BYTES_MAX } from "./frames.js";
import { Reassembler, toFrames } from "../../agent/nats/chunking.js";
import { peerIdOf } from "./handshake.js";
import { BridgeError, openSession, type Session, type SessionOptions } from "./session.js";

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export interface BridgeTransportOptions extends SessionOptions {
  backoff?: Partial<BackoffOptions>;
  /** Every failure, also the ones retried; `error.retry` false means reconnecting stopped. */
  onError?: (error: BridgeError) => void;
  /** Connection state changes, for a UI. */
  onState?: (state: "connecting" | "ready" | "offline" | "stopped") => void;
  /** Deliveries are dropped while more than this many bytes wait to be sent (at-most-once). */
  sendBufferBytesMax?: number;
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 30_000 };
const DEFAULT_SEND_BUFFER_BYTES_MAX = 64 * 1024 * 1024;

export class BridgeTransport implements Transport {
  readonly self: PeerId;
  readonly messageBytesMax = MESSAGE_BYTES_MAX;
  readonly #options: BridgeTransportOptions;
  readonly #reassembler = new Reassembler({ messageBytesMax: MESSAGE_BYTES_MAX });
  #messageId = Math.floor(Math.random() * 2 ** 32);
  #handlers: TransportHandlers | undefined;
  #session: Session | undefined;
  #stopped = false;
  #stoppedBy: BridgeError | undefined;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly stats = { connects: 0, sent: 0, received: 0, dropped: 0 };

  constructor(options: BridgeTransportOptions) {
    this.#options = options;
    this.self = peerIdOf(options.key.publicKey) as PeerId;
  }

  /** The hub's hello of the current (or last) session: vault id and name, hub key. */
  get hello() {
    return this.#session?.hello;
  }

  get connected(): boolean {
    return this.#session !== undefined;
  }

  /** Why this transport stopped reconnecting for good (an auth, pin or MITM failure), if it did. */
  get stoppedBy(): BridgeError | undefined {
    return this.#stoppedBy;
  }

  /** Connects once; rejects with the BridgeError of the first attempt (no retry before the first success). */
  async start(handlers: TransportHandlers): Promise<void> {
    if (this.#handlers) throw new Error("BridgeTransport already started");
    this.#handlers = handlers;
    await this.#connect();
  }

  async #connect(): Promise<void> {
    this.#options.onState?.("connecting");
    const session = await openSession(this.#options, {
      onData: (frame) => {
        if (frame.op !== "deliver" || this.#stopped) return;
        const whole = this.#reassembler.push(frame.from, frame.payload, Date.now());
        if (!whole) return;
        this.stats.received++;
        try {
          this.#handlers?.onMessage(frame.from as PeerId, whole.slice());
        } catch {
          // the engine's problem, never the socket's
        }
      },
      onClose: (error) => this.#lost(error),
    });
    if (this.#stopped) {
      session.close();
      return;
    }
    this.#session = session;
    this.#attempt = 0;
    this.stats.connects++;
    this.#options.onState?.("ready");
    if (this.stats.connects > 1) this.#handlers?.onConnected?.();
  }

  #lost(error: BridgeError): void {
    this.#session = undefined;
    if (this.#stopped) return;
    this.#handlers?.onDisconnected?.();
    this.#options.onError?.(error);
    if (!error.retry) {
      this.#stopped = true;
      this.#stoppedBy = error;
      this.#options.onState?.("stopped");
      return;
    }
    this.#options.onState?.("offline");
    this.#schedule();
  }

  #schedule(): void {
    const { initialMs, maxMs } = { ...DEFAULT_BACKOFF, ...this.#options.backoff };
    const base = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt, 20));
    const delay = base / 2 + Math.random() * (base / 2);
    this.#attempt++;
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      this.#connect().catch((error: unknown) => {
        const failure = error instanceof BridgeError ? error : new BridgeError("network", String(error));
        this.#lost(failure);
      });
    }, delay);
  }

  send(to: PeerId, message: Uint8Array): void {
    this.#out((payload) => this.#session?.send({ op: "send", to, payload }), message);
  }

  broadcast(message: Uint8Array): void {
    this.#out((payload) => this.#session?.send({ op: "broadcast", payload }), message);
  }

  #out(send: (payload: Uint8Array) => void, message: Uint8Array): void {
    const session = this.#session;
    if (
      !session ||
      this.#stopped ||
      message.length > this.messageBytesMax ||
      session.bufferedAmount() > (this.#options.sendBufferBytesMax ?? DEFAULT_SEND_BUFFER_BYTES_MAX)
    ) {
      this.stats.dropped++;
      return;
    }
    try {
      // toFrames copies, so the caller may reuse its buffer at once.
      for (const frame of toFrames(message, CHUNK_FRAME_BYTES, this.#messageId++ >>> 0)) send(frame);
      this.stats.sent++;
    } catch {
      this.stats.dropped++; // an invalid peer id or a closing socket: the message is lost
    }
  }

  async stop(): Promise<void> {
    if (this.#stopped && !this.#session) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#session?.close();
    this.#session = undefined;
    this.#options.onState?.("stopped");
  }
}
