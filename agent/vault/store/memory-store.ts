import type { DocStore } from "./doc-store.js";
import type { PeerId } from "../model/peer-id.js";

/**
 * A DocStore in memory: for unit tests, dst and the browser client. It copies bytes in and out, as
 * a store on disk does by nature, so a caller that reuses a buffer cannot change what is stored.
 */
export class MemoryStore implements DocStore {
  chunks: Uint8Array[] = [];
  readonly syncStates = new Map<PeerId, Uint8Array>();

  async load(): Promise<Uint8Array[]> {
    return this.chunks.map((chunk) => chunk.slice());
  }
  async append(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk.slice());
  }
  async replace(full: Uint8Array): Promise<void> {
    this.chunks = [full.slice()];
  }
  async sizeBytes(): Promise<number> {
    return this.chunks.reduce((sum, c) => sum + c.length, 0);
  }
  async loadSyncState(peer: PeerId): Promise<Uint8Array | undefined> {
    return this.syncStates.get(peer)?.slice();
  }
  async saveSyncState(peer: PeerId, state: Uint8Array): Promise<void> {
    this.syncStates.set(peer, state.slice());
  }
}
