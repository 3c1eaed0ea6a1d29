import type { PeerId } from "../model/peer-id.js";

/**
 * Durable storage of one vault document. A promise that resolves means durable: a crash after
 * that point must not lose the bytes. Implementations: disk-store.ts, memory-store.ts and dst's
 * simulated store. Contract tests: store-contract.ts.
 */
export interface DocStore {
  /** Every stored chunk (a full save first, then incremental saves), in write order. */
  load(): Promise<Uint8Array[]>;
  /** Append one incremental save. */
  append(chunk: Uint8Array): Promise<void>;
  /** Atomically replace everything with one full save (compaction). */
  replace(full: Uint8Array): Promise<void>;
  /** Bytes currently used on storage. */
  sizeBytes(): Promise<number>;
  /** Persisted Automerge sync state for one peer, so a restart does not resend everything. */
  loadSyncState(peer: PeerId): Promise<Uint8Array | undefined>;
  saveSyncState(peer: PeerId, state: Uint8Array): Promise<void>;
}
