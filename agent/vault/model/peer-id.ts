/**
 * A peer on a vault's bus: the device's NATS user nkey (`U…`) in production, any token in dst.
 * Defined at the bottom because the document stores key each peer's saved sync state by it, and
 * the stores sit below the sync engine that talks to peers.
 */
export type PeerId = string & { readonly __peerId: true };
export const asPeerId = (raw: string): PeerId => raw as PeerId;
