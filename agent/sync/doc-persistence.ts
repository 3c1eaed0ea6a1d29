/**
 * Keeping one vault document durable: incremental saves, compaction into one full save, the
 * binary contents a change names (stored before the change), and the changes waiting for their
 * save before they are reported.
 *
 * Rules it keeps:
 *  - a blob is durable before any stored change names it;
 *  - a save holds every change since the heads last stored, tracked here (saveSince), never
 *    Automerge's own "saved" mark: a full save made for a snapshot (A.save) moves that mark too,
 *    and the next saveIncremental would skip changes made since the last save, for good;
 *  - after a failed save the next one is a full save (a partly written frame may sit in the log);
 *  - a change is reported (onReport) only once it is stored; one whose save failed stays in the
 *    doc and is reported with the next save that succeeds.
 */
import * as A from "@automerge/automerge";
import type { DocStore, Log } from "./ports.js";
import type { BlobStore } from "../vault/store/blob-store.js";
import type { BlobSink, Doc } from "../vault/model/vault-doc.js";
import type { SnapshotCache } from "./snapshots.js";
import type { ChangeEvent } from "./doc-changes.js";
import type { PeerState } from "./peers.js";

export interface DocPersistenceConfig {
  store: DocStore;
  blobs: BlobStore;
  snapshots: SnapshotCache;
  log: Log;
  /** Incremental chunks before the store is compacted into one full save. */
  compactAfterChunks: number;
  /**
   * Heads of what the store already holds (the doc as loaded from it). Absent: nothing is known to
   * be stored, and the first save holds the whole doc (a duplicate of what was loaded, never a gap).
   */
  storedHeads?: A.Heads;
  /** Told about every change once it is stored. */
  onReport(event: ChangeEvent): void;
}

export class DocPersistence {
  readonly #cfg: DocPersistenceConfig;
  #chunksSinceCompact = 0;
  /** The last save failed: the next one is a full one. */
  #lastSaveFailed = false;
  /** The peer snapshot the doc was loaded from, not yet stored: those bytes are its save. */
  #loadedSnapshot: Uint8Array | undefined;
  /** Heads of what the store holds: each save holds what follows them. */
  #storedHeads: A.Heads;
  /** Binary contents of changes already in the doc, not yet in the blob store (a failed write, say). */
  readonly #pendingBlobs: BlobSink = new Map();
  /** Changes in the doc not yet stored, reported once they are. */
  #unreported: ChangeEvent[] = [];

  constructor(config: DocPersistenceConfig) {
    this.#cfg = config;
    this.#storedHeads = config.storedHeads ?? [];
  }

  /** Something in the doc is not stored yet: a failed save, or blobs still held. */
  get hasUnsaved(): boolean {
    return this.#lastSaveFailed || this.#pendingBlobs.size > 0;
  }

  get holdsBlobs(): boolean {
    return this.#pendingBlobs.size > 0;
  }

  /** The doc was loaded from a snapshot whose bytes are not stored yet (its view was built whole). */
  get loadedSnapshotUnsaved(): boolean {
    return this.#loadedSnapshot !== undefined;
  }

  /** The doc now is a load of `bytes`, a peer's snapshot: stored as they came, later saves hold what follows. */
  loadedFrom(bytes: Uint8Array, heads: A.Heads): void {
    this.#storedHeads = heads;
    this.#loadedSnapshot = bytes;
  }

  /** Binary contents of a change now in the doc, to be stored before the change itself. */
  holdBlobs(blobs: BlobSink): void {
    for (const [hash, bytes] of blobs) this.#pendingBlobs.set(hash, bytes);
  }

  /** Stores the held blobs, durably; throws at the first that fails (it stays held). */
  async flushBlobs(): Promise<void> {
    for (const [hash, bytes] of [...this.#pendingBlobs]) {
      try {
        await this.#cfg.blobs.put(hash, bytes);
      } catch (error) {
        this.#cfg.log.warn(
          { blob: hash.slice(0, 16), error: String(error) },
          "could not store a binary file's contents; the change naming it is saved once it can be (is the disk full?)",
        );
        throw error;
      }
      this.#pendingBlobs.delete(hash);
    }
  }

  /** A change now in the doc, reported with the save that stores it. */
  awaitSave(event: ChangeEvent): void {
    this.#unreported.push(event);
  }

  /** Reports every change waiting for its save, unless the doc holds something unstored. */
  reportIfSaved(): void {
    if (!this.hasUnsaved) this.reportStored();
  }

  /** Reports every change waiting for its save: call only once they are stored. */
  reportStored(): void {
    const events = this.#unreported;
    this.#unreported = [];
    for (const event of events) this.#cfg.onReport(event);
  }

  /** Stores what changed since the last save; throws (after logging) when the store fails. */
  async save(doc: Doc): Promise<void> {
    await this.flushBlobs();
    const snapshot = this.#loadedSnapshot;
    this.#loadedSnapshot = undefined;
    const chunk = A.saveSince(doc, this.#storedHeads);
    if (chunk.length === 0 && !this.#lastSaveFailed && snapshot === undefined) return;
    const full = this.#lastSaveFailed || this.#chunksSinceCompact >= this.#cfg.compactAfterChunks;
    this.#lastSaveFailed = true;
    try {
      if (full) await this.#replace(this.#cfg.snapshots.of(doc));
      else if (snapshot !== undefined) {
        await this.#replace(snapshot);
        if (chunk.length > 0) await this.#cfg.store.append(chunk);
      } else {
        await this.#cfg.store.append(chunk);
        this.#chunksSinceCompact++;
      }
    } catch (error) {
      this.#cfg.log.warn(
        { error: String(error) },
        "could not save the vault document; the next save is a full one (is the disk full?)",
      );
      throw error;
    }
    this.#markStored(doc);
  }

  /** Rewrites storage as one full save (history kept whole). Returns bytes before and after. */
  async compact(doc: Doc): Promise<{ beforeBytes: number; afterBytes: number }> {
    const beforeBytes = await this.#cfg.store.sizeBytes();
    await this.flushBlobs();
    await this.#replace(this.#cfg.snapshots.of(doc));
    this.#markStored(doc);
    this.reportStored();
    return { beforeBytes, afterBytes: await this.#cfg.store.sizeBytes() };
  }

  /** Writes the pair's sync state if it moved since the last write. */
  async saveSyncState(peer: PeerState): Promise<void> {
    if (!peer.syncStateUnsaved) return;
    peer.syncStateUnsaved = false;
    await this.#cfg.store.saveSyncState(peer.id, A.encodeSyncState(peer.sync));
  }

  async #replace(full: Uint8Array): Promise<void> {
    await this.#cfg.store.replace(full);
    this.#chunksSinceCompact = 0;
  }

  #markStored(doc: Doc): void {
    this.#lastSaveFailed = false;
    this.#storedHeads = A.getHeads(doc);
  }
}
