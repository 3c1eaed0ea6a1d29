/**
 * The sync core's ports: everything it needs from the outside world is passed in through these
 * interfaces, so the same engine runs in the agent (real clock, NATS, disk) and in dst/ (simulated
 * clock, bus and disk, all driven from one seed). Nothing under agent/sync may import fs, net,
 * timers, Date.now or Math.random — lint enforces it.
 */

import type { PeerId } from "../vault/model/peer-id.js";

// The vault's model and stores sit below the sync core and may not import it (a lint rule keeps
// that order), so the types they share with it are defined there and offered here beside the
// ports only the core uses.
export { asPeerId, type PeerId } from "../vault/model/peer-id.js";
export type { DocStore } from "../vault/store/doc-store.js";
export type { BlobStore } from "../vault/store/blob-store.js";

/** Milliseconds since the Unix epoch, as the node believes it (dst gives every node its own skew). */
export interface Clock {
  now(): number;
}

/** Deterministic randomness. `u32()` returns an integer in [0, 2^32). No floats in decisions. */
export interface Random {
  u32(): number;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
}

/** What a transport hands to the engine. */
export interface TransportHandlers {
  /** A whole message from `from` (the transport reassembles chunks and drops incomplete ones). */
  onMessage(from: PeerId, message: Uint8Array): void;
  /** The link came (back) up: the engine resynchronises from heads. */
  onConnected?(): void;
  /** The link went down; messages sent meanwhile are lost (at-most-once). */
  onDisconnected?(): void;
}

/**
 * A vault's message bus, at-most-once: a message is delivered whole or not at all, possibly
 * duplicated or reordered. The engine must never depend on any one message arriving.
 * Contract tests: agent/sync/transport-contract.ts (real NATS and the dst bus both pass it).
 */
export interface Transport {
  /** This end's id, as other peers see it in `from`. */
  readonly self: PeerId;
  /** Largest message `send`/`broadcast` accept, in bytes (chunking below this is the transport's job). */
  readonly messageBytesMax: number;
  /** Start delivering to `handlers`. */
  start(handlers: TransportHandlers): Promise<void>;
  /** Unicast to one peer. Never throws for a lost or unknown peer: the message is simply lost. */
  send(to: PeerId, message: Uint8Array): void;
  /** To every other peer of the vault (announcements). */
  broadcast(message: Uint8Array): void;
  /** Stop delivering; idempotent. */
  stop(): Promise<void>;
}

/** Structured logging without a logger dependency in the core. */
export interface Log {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {} };
