import type { PeerId, Transport } from "./ports.js";

/** A transport with no peers: offline commands run the engine for its invariants, not for sync. */
export function nullTransport(self: PeerId): Transport {
  return {
    self,
    messageBytesMax: 0,
    async start() {},
    send() {},
    broadcast() {},
    async stop() {},
  };
}
