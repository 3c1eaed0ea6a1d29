/**
 * A perfect in-process bus: every message delivered once, in order, on a microtask. For unit tests
 * of the engine and the browser client; dst has its own bus with faults (dst/sim-bus.ts).
 */
import type { PeerId, Transport, TransportHandlers } from "./ports.js";

export class MemoryBus {
  readonly #members = new Map<PeerId, TransportHandlers>();

  transport(self: PeerId): Transport {
    const members = this.#members;
    const deliver = (to: PeerId, message: Uint8Array) => {
      const copy = message.slice();
      queueMicrotask(() => members.get(to)?.onMessage(self, copy));
    };
    return {
      self,
      messageBytesMax: 512 * 1024 * 1024,
      async start(handlers) {
        members.set(self, handlers);
      },
      send: (to, message) => deliver(to, message),
      broadcast(message) {
        for (const peer of members.keys()) if (peer !== self) deliver(peer, message);
      },
      async stop() {
        members.delete(self);
      },
    };
  }
}
