/**
 * A hosted vault's transport that outlives the replica's engines. It is started once, when the hub
 * starts hosting the vault, and keeps the vault's subscriptions for as long as the hub hosts it:
 * the engine of a loaded replica borrows it (`lend`), and while no engine holds it — the replica
 * unloaded, or loading — every message goes to `whileParked` instead, so none is lost between an
 * engine stopping and the next one starting (parked-replica.ts decides what to do with each).
 */
import type { PeerId, Transport, TransportHandlers } from "./sync/ports.js";

export interface ParkedHandlers {
  onMessage(from: PeerId, message: Uint8Array): void;
  /** The link came back while no engine listened (the replica re-announces itself). */
  onConnected(): void;
}

export interface TrafficObserver {
  /** Every whole message in, engine or not. */
  received(from: PeerId, message: Uint8Array): void;
  /** Every message an engine sent. */
  sent(message: Uint8Array): void;
}

export class ReplicaTransport {
  readonly #inner: Transport;
  readonly #parked: ParkedHandlers;
  readonly #observer: TrafficObserver;
  #borrower: { handlers?: TransportHandlers } | undefined;

  constructor(inner: Transport, parked: ParkedHandlers, observer: TrafficObserver) {
    this.#inner = inner;
    this.#parked = parked;
    this.#observer = observer;
  }

  start(): Promise<void> {
    return this.#inner.start({
      onMessage: (from, message) => {
        this.#observer.received(from, message);
        const handlers = this.#borrower?.handlers;
        if (handlers) handlers.onMessage(from, message);
        else this.#parked.onMessage(from, message);
      },
      onConnected: () => {
        const handlers = this.#borrower?.handlers;
        if (handlers) handlers.onConnected?.();
        else this.#parked.onConnected();
      },
      onDisconnected: () => this.#borrower?.handlers?.onDisconnected?.(),
    });
  }

  /**
   * A Transport for one engine. Its `start` hands the engine, before any later message, the
   * messages `backlog` gives (those that arrived while no engine listened); its `stop` returns the
   * vault's traffic to the parked handlers (unless a later engine borrowed it meanwhile).
   */
  lend(backlog: () => { from: PeerId; message: Uint8Array }[]): Transport {
    const borrower: { handlers?: TransportHandlers } = {};
    const inner = this.#inner;
    const observer = this.#observer;
    return {
      self: inner.self,
      messageBytesMax: inner.messageBytesMax,
      start: async (handlers) => {
        this.#borrower = borrower;
        // Synchronously, before the NATS client can deliver another message: the order holds.
        for (const { from, message } of backlog()) handlers.onMessage(from, message);
        borrower.handlers = handlers;
      },
      send(to, message) {
        observer.sent(message);
        inner.send(to, message);
      },
      broadcast(message) {
        observer.sent(message);
        inner.broadcast(message);
      },
      stop: async () => this.#return(borrower),
    };
  }

  /** From now on messages go to the parked handlers, even before the borrowing engine has stopped. */
  park(): void {
    this.#borrower = undefined;
  }

  #return(borrower: { handlers?: TransportHandlers }): void {
    if (this.#borrower === borrower) this.#borrower = undefined;
  }

  /** Our own announcement while parked. */
  broadcast(message: Uint8Array): void {
    this.#inner.broadcast(message);
  }

  send(to: PeerId, message: Uint8Array): void {
    this.#inner.send(to, message);
  }

  stop(): Promise<void> {
    this.#borrower = undefined;
    return this.#inner.stop();
  }
}
