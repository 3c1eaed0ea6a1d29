import type { DocStore, PeerId } from "../../sync/ports.js";

/** A DocStore in memory: for unit tests, dst and the browser client. */
export class MemoryStore implements DocStore {
  chunks: Uint8Array[] = [];
  readonly syncStates = new Map<PeerId, Uint8Array>();

  async load(): Promise<Uint8Array[]> {
    return [...this.chunks];
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
    return this.syncStates.get(peer);
  }
  async saveSyncState(peer: PeerId, state: Uint8Array): Promise<void> {
    this.syncStates.set(peer, state.slice());
  }
}
