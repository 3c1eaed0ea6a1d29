/** How a SyncEngine is set up: its identity, its ports, and the limits and intervals it keeps. */
import type * as A from "@automerge/automerge";
import type { Clock, DocStore, Log, PeerId, Transport } from "./ports.js";
import type { BlobStore } from "../vault/store/blob-store.js";
import type { Doc } from "../vault/model/vault-doc.js";
import type { ChangeEvent } from "./doc-changes.js";

/** The vault an engine syncs, as it was opened (its config.toml) or hosted (the hub's registration). */
export interface VaultIdentity {
  id: string;
  name: string;
}

export interface SyncEngineConfig {
  /** This node's peer id (also `by` on every revision it writes). */
  self: PeerId;
  /**
   * The vault's fixed identity: everything that routes by vault id asks the engine for this, never
   * the document's `meta`, which a member can rewrite (schema.ts VaultMeta). Unset in tests and dst.
   */
  vault?: VaultIdentity;
  doc: Doc;
  store: DocStore;
  transport: Transport;
  clock: Clock;
  log?: Log;
  /** Called after every doc change; remote changes are what the folder binding materialises. */
  onChange?: (event: ChangeEvent) => void;
  /** Defence in depth beside NATS permissions: messages from a peer this refuses are dropped. */
  isPeerAllowed?: (peer: PeerId) => boolean;
  /**
   * How soon `tick` announces heads the vault has not heard from us (recovers from lost messages);
   * unchanged heads are re-announced at a doubling interval up to `announceIntervalMaxMs`
   * (announce-schedule.ts).
   */
  announceIntervalMs?: number;
  /** Longest gap between two announcements; well below `peerTimeoutMs`, so one lost announcement is not silence. */
  announceIntervalMaxMs?: number;
  /** A peer not heard from for this long is forgotten (its sync state stays persisted). */
  peerTimeoutMs?: number;
  /** Incremental chunks before the store is compacted into one full save. */
  compactAfterChunks?: number;
  /** Where binary contents live (default: in memory only — the agent passes its disk store). */
  blobs?: BlobStore;
  /** Largest blob fetched or served: the vault's file size limit. */
  blobBytesMax?: number;
  /** Blob data bytes per `blob` message (default 256 KiB, always below the transport's limit). */
  blobChunkBytes?: number;
  /** Hex SHA-256 used to check fetched blobs (default: the portable one; the agent passes Node's). */
  digest?: (bytes: Uint8Array) => string;
  /**
   * This engine is a hub's full replica. It says so in its announcements, and a device a hub has
   * synced with offers sync to hubs only (PeerTable.offersTo).
   */
  hub?: boolean;
  /**
   * Keep a snapshot (#sendSnapshot) ready once the doc has not changed for this long, so the next
   * clone gets it at once instead of waiting for the save. Hubs set it; unset: a snapshot is made
   * when a clone asks.
   */
  snapshotWhenQuietMs?: number;
  /**
   * Heads of what `store` already holds (`doc` as loaded from it): saves hold what follows them.
   * Unset: the first save holds the whole doc (doc-persistence.ts).
   */
  storedHeads?: A.Heads;
}

/** What an unset option means (each option's comment says what it does). */
export const ENGINE_DEFAULTS = {
  announceIntervalMs: 2_000,
  announceIntervalMaxMs: 10_000,
  peerTimeoutMs: 30_000,
  compactAfterChunks: 500,
  blobBytesMax: 16 * 1024 * 1024,
};
