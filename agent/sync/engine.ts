/**
 * The sans-IO sync engine for one vault on one node. Events come in (a local batch of file
 * operations, a message from a peer, a (re)connect, a tick); messages go out through the Transport,
 * bytes go to the DocStore, and `onChange` tells the folder binding which paths to write.
 *
 * All inbound work runs through one serial queue, so the engine is a plain state machine:
 * the order of events alone decides the outcome, which is what makes dst replays exact.
 *
 * Invariants (kept by #afterDocChange, the one place the doc is replaced):
 *  - every doc change is appended to the store before it is reported as saved (`change` resolves);
 *  - after every doc change each known peer is offered a sync message;
 *  - conflicts involving this device are resolved before the change is reported;
 *  - nothing depends on one message arriving: announcements repeat every `announceIntervalMs`,
 *    and an announce whose heads differ from ours restarts the pairwise sync with that peer;
 *  - a peer that told us it holds nothing gets one snapshot (a full save) of our doc instead of
 *    Automerge's sync messages, once per state of our doc until the pair restarts (#sendSnapshot).
 */
import * as A from "@automerge/automerge";
import { decodeMessage, encodeMessage } from "./messages.js";
import { buggify, plantedBugs } from "./buggify.js";
import type { Clock, DocStore, Log, PeerId, Transport } from "./ports.js";
import { silentLog } from "./ports.js";
import { applyFileOps, applyFileOpsAt, blobOf, isReady, listStored, readStored, type BlobSink, type Doc, type FileOp } from "../vault/model/vault-doc.js";
import type { VaultDoc } from "../vault/model/schema.js";
import { normaliseVaultPath } from "../vault/paths.js";
import { BlobRefs } from "../vault/model/blob-refs.js";
import { MemoryBlobStore, type BlobStore } from "./blob-port.js";
import { BlobFetcher, blobChunkBytesFor, type BlobNeed } from "./blob-fetch.js";
import { resolveConflicts, type MergeOutcome } from "../vault/model/merge.js";
import { bucketsTouched, rebuildView, viewIsStale } from "../vault/model/view-check.js";
import { oversizedChangeInSyncMessage, oversizedInlineEntry, type OversizedChange } from "../vault/model/entry-limits.js";
import { INLINE_ENTRY_BYTES_MAX } from "../vault/model/schema.js";

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
  /** How often `tick` re-announces our heads (recovers from lost messages). */
  announceIntervalMs?: number;
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
   * synced with offers sync to hubs only: with a hub, leaf-to-leaf messages are refused by NATS
   * anyway (and would be N² work). A device no hub has answered (a bridge client whose messages
   * the hub's NATS does not carry, say) keeps syncing with anyone it hears.
   */
  hub?: boolean;
  /**
   * Keep a snapshot (#sendSnapshot) ready once the doc has not changed for this long, so the next
   * clone gets it at once instead of waiting for the save (~0.35 s at 10,000 files). Hubs set it;
   * unset: a snapshot is made when a clone asks.
   */
  snapshotWhenQuietMs?: number;
  /**
   * Heads of what `store` already holds, when `doc` was loaded from it without Automerge's saved
   * mark (loadDoc with markSaved: false): saves then hold only what follows these heads.
   */
  storedHeads?: A.Heads;
}

export interface ChangeEvent {
  origin: "local" | "remote";
  /** Paths whose revision changed (created, edited or deleted). */
  paths: string[];
  /** Conflicts resolved as part of this change. */
  merges: MergeOutcome[];
  heads: A.Heads;
  /** Heads before the change: `A.getChangesMetaSince(doc, before)` lists what arrived. */
  before: A.Heads;
}

interface PeerState {
  sync: A.SyncState;
  lastHeardMs: number;
  dirty: boolean;
  /** Its last announcement said it is a hub's replica. */
  hub: boolean;
  /** A hub that has sent us sync messages: it hears us, so the other devices can go through it. */
  hearsUs: boolean;
  /** Our heads when we last sent it a snapshot (#sendSnapshot); cleared when the pair restarts. */
  snapshotSentFor?: A.Heads;
}

/** Refused (peer, change) pairs logged at most: a peer resends a refused change on every exchange. */
const REFUSALS_LOGGED_MAX = 1000;

const DEFAULTS = { announceIntervalMs: 2_000, peerTimeoutMs: 30_000, compactAfterChunks: 500, blobBytesMax: 16 * 1024 * 1024 };

export class SyncEngine {
  readonly #cfg: SyncEngineConfig & typeof DEFAULTS;
  readonly #log: Log;
  readonly #peers = new Map<PeerId, PeerState>();
  #doc: Doc;
  #queue: Promise<void> = Promise.resolve();
  #lastAnnounceMs = Number.NEGATIVE_INFINITY;
  #chunksSinceCompact = 0;
  /** A save failed: the next save is a full one (see #persist). */
  #unsaved = false;
  /** The peer snapshot the doc was loaded from, not yet stored: those bytes are its save (#persist). */
  #loadedSnapshot: Uint8Array | undefined;
  /**
   * Heads of what the store holds, once the doc came from a snapshot. Automerge's own "saved" mark
   * is empty after a load, and moving it (saveIncremental) re-encodes every change — 40 MB and
   * ~300 ms at 10,000 files, thrown away. Undefined: Automerge's mark is right.
   */
  #storedHeads: A.Heads | undefined;
  /** The last snapshot we made, by our heads: every clone of an unchanged vault gets the same bytes. */
  #snapshotCache: { heads: A.Heads; bytes: Uint8Array } | undefined;
  #lastDocChangeMs = Number.NEGATIVE_INFINITY;
  /** No snapshot made ahead of need before this time (#keepSnapshotReady). */
  #nextReadySnapshotMs = Number.NEGATIVE_INFINITY;
  /**
   * Binary contents of changes already in the doc, not yet in the blob store (its write failed):
   * every save stores them first, so no stored change names a blob this device lacks.
   */
  readonly #pendingBlobs: BlobSink = new Map();
  /** Changes in the doc whose store failed: reported (onChange) once a later save succeeds. */
  #unreported: ChangeEvent[] = [];
  #stopped = false;
  readonly #blobs: BlobStore;
  readonly #blobRefs = new BlobRefs();
  readonly #fetcher: BlobFetcher;
  /** `peer change-hash` of every refused change already logged (#refuseOversized). */
  readonly #refusalsLogged = new Set<string>();
  #stats = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0, dropped: 0, merges: 0, lastSyncMs: 0, snapshotsMade: 0, changesRefused: 0 };

  constructor(config: SyncEngineConfig) {
    this.#cfg = { ...DEFAULTS, ...config };
    this.#log = config.log ?? silentLog;
    this.#doc = config.doc;
    this.#storedHeads = config.storedHeads;
    this.#blobs = config.blobs ?? new MemoryBlobStore();
    const transport = config.transport;
    this.#fetcher = new BlobFetcher({
      store: this.#blobs,
      send: (to, message) => this.#count(message) && transport.send(to, message),
      broadcast: (message) => this.#count(message) && transport.broadcast(message),
      clock: config.clock,
      log: this.#log,
      chunkBytes: blobChunkBytesFor(transport.messageBytesMax, config.blobChunkBytes),
      blobBytesMax: this.#cfg.blobBytesMax,
      mayServe: (hash) => this.#blobRefs.update(this.#doc).has(hash),
      digest: config.digest,
      warnOverLimit: config.hub === true,
      onStored: (hash) => this.#onBlobStored(hash),
    });
  }

  /** The store of binary contents (read a binary file's bytes from here by its `blob` hash). */
  get blobs(): BlobStore {
    return this.#blobs;
  }

  /** Blob hashes the current files reference that are not here yet (being fetched). */
  get missingBlobs(): string[] {
    return this.#fetcher.missing;
  }

  get doc(): Doc {
    return this.#doc;
  }

  get self(): PeerId {
    return this.#cfg.self;
  }

  /** The vault's fixed identity (SyncEngineConfig.vault). */
  get vault(): VaultIdentity | undefined {
    return this.#cfg.vault;
  }

  get peers(): PeerId[] {
    return [...this.#peers.keys()].sort();
  }

  /** True when `peer` has told us heads equal to ours and the pair's shared heads are ours: nothing left to exchange. */
  convergedWith(peer: PeerId): boolean {
    const state = this.#peers.get(peer);
    if (state === undefined) return false;
    const ours = A.getHeads(this.#doc);
    return sameHeads(ours, state.sync.theirHeads ?? []) && sameHeads(ours, state.sync.sharedHeads);
  }

  /** Peers this engine currently knows and whether each is in step with us. */
  peerInfo(): { peer: PeerId; lastHeardMs: number; converged: boolean }[] {
    return this.peers.map((peer) => ({ peer, lastHeardMs: this.#peers.get(peer)!.lastHeardMs, converged: this.convergedWith(peer) }));
  }

  get stats() {
    return { ...this.#stats, ...this.#fetcher.stats, peers: this.#peers.size };
  }

  /** Hands one message to the engine, as the transport does; resolves once it is processed. */
  receive(from: PeerId, message: Uint8Array): Promise<void> {
    return this.#enqueue(() => this.#onMessage(from, message));
  }

  async start(): Promise<void> {
    await this.#cfg.transport.start({
      onMessage: (from, message) => void this.receive(from, message),
      onConnected: () => this.#enqueue(async () => this.#onConnected()),
      onDisconnected: () => this.#log.info({}, "transport disconnected"),
    });
    this.#announce();
    // Blobs the doc references but the store lacks (a clone, a crash that lost an unsynced blob).
    await this.#enqueue(() => this.#fetcher.want(blobNeeds(this.#doc, listStored(this.#doc).keys())));
  }

  /** Applies local file operations; resolves once they are durable (or immediately if nothing changed). */
  change(ops: readonly FileOp[], message?: string): Promise<string[]> {
    return this.#enqueue(async () => {
      const before = A.getHeads(this.#doc);
      const blobs: BlobSink = new Map();
      const next = applyFileOps(this.#doc, ops, { time: this.#cfg.clock.now(), by: this.#cfg.self, message, blobs, digest: this.#cfg.digest });
      if (next === this.#doc) return [];
      // The ops name every path the change can touch: no diff of the doc (it decodes every file's text).
      await this.#afterDocChange(next, before, "local", undefined, blobs, [...new Set(ops.map((op) => normaliseVaultPath(op.path)))].sort());
      return ops.map((op) => op.path);
    });
  }

  /** Local operations based on an older doc state (see applyFileOpsAt): merged, never overwriting. */
  changeAt(baseHeads: A.Heads, ops: readonly FileOp[], message?: string): Promise<string[]> {
    return this.#enqueue(async () => {
      const before = A.getHeads(this.#doc);
      const blobs: BlobSink = new Map();
      const next = applyFileOpsAt(this.#doc, baseHeads, ops, { time: this.#cfg.clock.now(), by: this.#cfg.self, message, blobs, digest: this.#cfg.digest });
      if (next === this.#doc) return [];
      await this.#afterDocChange(next, before, "local", undefined, blobs);
      return ops.map((op) => op.path);
    });
  }

  /**
   * Runs any other local doc mutation (labels, restore) through the same queue and invariants.
   * Binary contents it creates go into `blobs` and are stored before the change.
   */
  update(mutate: (doc: Doc, nowMs: number, blobs: BlobSink) => Doc): Promise<void> {
    return this.#enqueue(async () => {
      const before = A.getHeads(this.#doc);
      const blobs: BlobSink = new Map();
      const next = mutate(this.#doc, this.#cfg.clock.now(), blobs);
      if (next === this.#doc) return;
      await this.#afterDocChange(next, before, "local", undefined, blobs);
    });
  }

  /** Periodic work: re-announce, forget silent peers, persist sync states. */
  tick(): Promise<void> {
    return this.#enqueue(async () => {
      const now = this.#cfg.clock.now();
      if (this.#hasUnsaved()) await this.#persist().then(() => this.#reportStored(), () => {}); // still failing: the next tick tries again
      if (now - this.#lastAnnounceMs >= this.#cfg.announceIntervalMs) this.#announce();
      this.#fetcher.tick();
      this.#keepSnapshotReady(now);
      for (const [peer, state] of this.#peers) {
        if (now - state.lastHeardMs > this.#cfg.peerTimeoutMs) {
          await this.#persistSyncState(peer, state);
          this.#peers.delete(peer);
          this.#log.info({ peer }, "peer silent, forgotten");
        }
      }
    });
  }

  /** Rewrites storage as one full save (history kept whole). Returns bytes before and after. */
  compact(): Promise<{ beforeBytes: number; afterBytes: number }> {
    return this.#enqueue(async () => {
      const beforeBytes = await this.#cfg.store.sizeBytes();
      await this.#flushBlobs();
      await this.#cfg.store.replace(this.#snapshot());
      this.#chunksSinceCompact = 0;
      this.#unsaved = false;
      if (this.#storedHeads) this.#storedHeads = A.getHeads(this.#doc);
      this.#reportStored();
      return { beforeBytes, afterBytes: await this.#cfg.store.sizeBytes() };
    });
  }

  /**
   * Deletes every stored blob that no revision anywhere in the doc's history references (a binary
   * ingested just before a crash lost its change, say). Blobs of overwritten or deleted files stay:
   * restore-at and labels still need them. Runs in the queue, so no ingest is half done meanwhile.
   */
  collectBlobs(): Promise<{ blobsRemoved: number; blobBytesRemoved: number; blobsKept: number }> {
    return this.#enqueue(async () => {
      const result = { blobsRemoved: 0, blobBytesRemoved: 0, blobsKept: 0 };
      if (!isReady(this.#doc)) return result; // a clone still arriving references nothing yet
      const referenced = this.#blobRefs.update(this.#doc);
      for (const hash of await this.#blobs.list()) {
        if (referenced.has(hash)) {
          result.blobsKept++;
          continue;
        }
        const size = (await this.#blobs.sizeOf(hash)) ?? 0;
        if (await this.#blobs.delete(hash)) {
          result.blobsRemoved++;
          result.blobBytesRemoved += size;
        }
      }
      if (result.blobsRemoved > 0) this.#log.info(result, "removed blobs no revision references");
      return result;
    });
  }

  /** Waits until every queued event is processed (and thus every change stored). */
  flush(): Promise<void> {
    return this.#enqueue(async () => {});
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    await this.flush();
    if (this.#hasUnsaved()) await this.#enqueue(() => this.#persist());
    this.#reportStored();
    this.#stopped = true;
    for (const [peer, state] of this.#peers) await this.#persistSyncState(peer, state);
    await this.#cfg.transport.stop();
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => (this.#stopped ? (undefined as T) : work()));
    this.#queue = run.then(
      () => undefined,
      (error: unknown) => this.#log.warn({ error: String(error) }, "sync engine event failed"),
    );
    return run;
  }

  async #onMessage(from: PeerId, frame: Uint8Array): Promise<void> {
    if (from === this.#cfg.self) return;
    if (this.#cfg.isPeerAllowed && !this.#cfg.isPeerAllowed(from)) return this.#drop(from, "peer not allowed");
    const message = decodeMessage(frame);
    if (message === undefined) return this.#drop(from, "malformed frame");
    this.#stats.messagesIn++;
    this.#stats.bytesIn += frame.length;
    const peer = await this.#peer(from);
    peer.lastHeardMs = this.#cfg.clock.now();
    if (message.type === "announce") {
      peer.hub = message.hub === true;
      return this.#onAnnounce(from, peer, message.heads);
    }
    if (message.type === "blob-want" || message.type === "blob") return this.#fetcher.onMessage(from, message);
    if (message.type === "snapshot") return this.#onSnapshot(from, peer, message.data);
    await this.#onSync(from, peer, message.data);
  }

  #drop(from: PeerId, reason: string): void {
    this.#stats.dropped++;
    this.#log.warn({ peer: from, reason }, "dropped message");
  }

  #onAnnounce(from: PeerId, peer: PeerState, theirHeads: string[]): void {
    const ours = A.getHeads(this.#doc);
    if (sameHeads(ours, theirHeads) || !this.#offersTo(peer)) return;
    // Their heads differ: whatever was in flight may be lost; start this pair's exchange afresh.
    if (!plantedBugs.noResyncOnReconnect) this.#restart(peer);
    this.#sendSync(from, peer);
  }

  /** Starts a pair's exchange afresh: what was in flight (a snapshot included) may be lost. */
  #restart(peer: PeerState): void {
    peer.sync = A.decodeSyncState(A.encodeSyncState(peer.sync));
    peer.snapshotSentFor = undefined;
  }

  async #onSync(from: PeerId, peer: PeerState, data: Uint8Array): Promise<void> {
    const oversized = oversizedChangeInSyncMessage(data);
    if (oversized !== undefined) return this.#refuseOversized(from, oversized);
    const before = A.getHeads(this.#doc);
    let next: Doc;
    try {
      [next, peer.sync] = A.receiveSyncMessage(this.#doc, peer.sync, data);
    } catch (error) {
      return this.#drop(from, `bad sync message: ${String(error)}`);
    }
    peer.dirty = true;
    if (peer.hub) peer.hearsUs = true;
    this.#stats.lastSyncMs = this.#cfg.clock.now();
    if (sameHeads(before, A.getHeads(next))) {
      this.#doc = next;
      this.#sendSync(from, peer);
      return;
    }
    await this.#afterDocChange(next, before, "remote", from);
    if (!this.#offersTo(peer)) this.#sendSync(from, peer); // it spoke to us: answer, even if not a hub
  }

  /**
   * A sync message carrying an entry over INLINE_ENTRY_BYTES_MAX is not applied at all: Automerge
   * changes are hash-chained, so the change cannot be dropped from the message alone, and once in
   * the doc it would be stored here and relayed to every device. Its author's later changes build
   * on it and are refused with it; no honest agent writes one (a text that large becomes a blob).
   * Logged once per peer and change: the peer offers it again on every exchange.
   */
  #refuseOversized(from: PeerId, change: OversizedChange): void {
    this.#stats.dropped++;
    this.#stats.changesRefused++;
    const key = `${from} ${change.hash}`;
    if (this.#refusalsLogged.has(key) || this.#refusalsLogged.size >= REFUSALS_LOGGED_MAX) return;
    this.#refusalsLogged.add(key);
    this.#log.warn(
      { peer: from, change: change.hash, actor: change.actor, bytes: change.bytes, max: INLINE_ENTRY_BYTES_MAX },
      "refused a sync message: a change in it carries an entry over the inline entry limit; nothing in it is applied, nor any later change of that peer built on it",
    );
  }

  /**
   * A peer's full save, sent because we told it we hold nothing. Loading it costs about half of
   * applying the same doc as a sync message (Automerge patches its JS view change by change there;
   * a load builds it in one go: 10,000 files, ~0.6 s against ~1.5 s), and its bytes are our save.
   * With anything in the doc already it is ignored: the pairwise exchange carries the rest.
   */
  async #onSnapshot(from: PeerId, peer: PeerState, data: Uint8Array): Promise<void> {
    if (A.getHeads(this.#doc).length > 0) return this.#sendSync(from, peer);
    let next: Doc;
    try {
      // A load builds the view in one go, so it cannot be stale like a patched one (view-check.ts).
      next = A.load<VaultDoc>(data, { actor: A.getActorId(this.#doc) as A.ActorId });
    } catch (error) {
      return this.#drop(from, `bad snapshot: ${String(error)}`);
    }
    if (A.getHeads(next).length === 0) return this.#drop(from, "empty snapshot");
    const oversized = oversizedInlineEntry(next);
    if (oversized !== undefined) return this.#drop(from, `snapshot holds ${oversized.path} of ${oversized.size} bytes, over the inline entry limit`);
    this.#storedHeads = A.getHeads(next); // stored as it came (#persist); later saves hold what follows
    // Afresh on our side too: our state says the pair shares nothing, and only a message from the
    // peer after our next one moves its shared heads to the snapshot's (see convergedWith).
    peer.sync = A.initSyncState();
    peer.dirty = true;
    if (peer.hub) peer.hearsUs = true;
    this.#stats.lastSyncMs = this.#cfg.clock.now();
    this.#loadedSnapshot = data;
    this.#snapshotCache = { heads: A.getHeads(next), bytes: data }; // what we loaded is a save of what we hold
    await this.#afterDocChange(next, [], "remote", from);
    if (!this.#offersTo(peer)) this.#sendSync(from, peer);
  }

  /** Whether we offer sync to this peer unasked: once a hub syncs with us, only to hubs. */
  #offersTo(peer: PeerState): boolean {
    if (this.#cfg.hub || peer.hub) return true;
    for (const other of this.#peers.values()) if (other.hub && other.hearsUs) return false;
    return true;
  }

  /**
   * The single place the doc advances: resolve, store, report, offer to every peer. `blobs` holds
   * the binary contents the change names; they are stored before the change is. `knownPaths`: every
   * path the change can have touched, when the caller knows them (a local batch of file ops).
   */
  async #afterDocChange(next: Doc, before: A.Heads, origin: "local" | "remote", from?: PeerId, blobs: BlobSink = new Map(), knownPaths?: string[]): Promise<void> {
    // Adopted before anything below can fail: Automerge has made the previous state read-only, so
    // an engine left holding it refused every later change (dst seed 0x2369: a failed blob write on
    // a local change left a device unable to apply any sync message, forever).
    this.#doc = next;
    this.#lastDocChangeMs = this.#cfg.clock.now();
    this.#holdBlobs(blobs);
    const touched = { identity: false };
    let paths = knownPaths ?? changedPaths(next, before, touched);
    if (origin === "remote" && (touched.identity || (before.length === 0 && this.#metaDiffers(next)))) this.#ignoredIdentityChange(from);
    // A doc just loaded from a snapshot has a view built whole, not patched: nothing to check (~170 ms).
    const patched = origin === "remote" && this.#loadedSnapshot === undefined;
    if (patched && viewIsStale(next, bucketsToCheck(next, before))) {
      // Found by dst (seeds 0x13a6, 0x139d): Automerge 3.5's incrementally patched view can miss a
      // file or show a stale revision after a sync message; its diff then misses the path too, so
      // every bucket the new changes wrote into is compared (view-check.ts). Rebuilding is rare and
      // makes every reader see the truth.
      this.#log.warn({ paths: paths.length }, "automerge view out of step with its backend; rebuilt");
      next = rebuildView(next);
      this.#doc = next;
      paths = changedPaths(next, before);
    }
    let merges: MergeOutcome[] = [];
    if (isReady(next)) {
      const resolutionBlobs: BlobSink = new Map();
      const resolved = resolveConflicts(next, paths, { me: this.#cfg.self, time: this.#cfg.clock.now(), blobs: resolutionBlobs });
      this.#holdBlobs(resolutionBlobs);
      next = resolved.doc;
      this.#doc = next;
      merges = resolved.outcomes;
      this.#stats.merges += merges.length;
      if (merges.length > 0) paths = changedPaths(next, before);
    }
    // A remote change is relayed before our own fsync: a hub forwards without waiting for its disk,
    // saving one fsync per hop of leaf → hub → leaf, and the author already stored it. A change
    // made here is stored first: offered earlier, a crash could leave it on a peer but not here,
    // and this device's next edit of the file (re-read from disk) would then look concurrent with
    // its own lost change and become a conflict (seen in the SIGKILL trials). Either way a change
    // is reported (onChange, change() resolving, dst's no-lost-write check) only once stored, so
    // the folder binding's index never names heads the stored doc lacks.
    const offer = () => {
      for (const [peer, state] of this.#peers) if (this.#offersTo(state)) this.#sendSync(peer, state);
      if (origin === "local" || merges.length > 0) this.#announce();
    };
    this.#unreported.push({ origin, paths, merges, heads: A.getHeads(next), before });
    if (origin === "remote") {
      // A resolution made here may name new blobs: stored before it is offered, unless that fails
      // (then the save below fails too, and the next tick tries both again).
      if (this.#pendingBlobs.size > 0) await this.#flushBlobs().catch(() => {});
      offer();
    }
    try {
      await this.#persist();
      if (origin === "local") offer();
      this.#reportStored();
    } finally {
      // Even when the save failed (the change stays in the doc and is saved on a later tick).
      await this.#fetcher.want(blobNeeds(next, paths), from);
    }
  }

  /** A clone's first doc already holds a `meta` unlike the identity it was opened with. */
  #metaDiffers(doc: Doc): boolean {
    const id = this.#cfg.vault?.id;
    return id !== undefined && isReady(doc) && String(doc.meta?.vaultId) !== id;
  }

  /**
   * A remote change rewrote `meta`. It stays in the doc (later changes build on it) but nothing
   * reads it: the identity is the one this engine was opened with (SyncEngineConfig.vault).
   */
  #ignoredIdentityChange(from: PeerId | undefined): void {
    this.#log.warn(
      { peer: from, vault: this.#cfg.vault?.id, name: this.#cfg.vault?.name },
      "ignored a change to the vault's identity fields (meta): they are fixed at init, and this device keeps the id and name it was opened with",
    );
  }

  /**
   * Tells the listener about every change now stored. A change whose save failed stays in the doc
   * (the next tick saves it whole) and is reported then: found by dst (seed 0x1967), a hub whose
   * disk was full while authorized_keys re-added a device never applied the new keys, and a
   * device never wrote the files of a remote change that arrived during the failure.
   */
  #reportStored(): void {
    const events = this.#unreported;
    this.#unreported = [];
    for (const event of events) this.#cfg.onChange?.(event);
  }

  /** Binary contents of a change now in the doc, to be stored before the change itself (#persist). */
  #holdBlobs(blobs: BlobSink): void {
    for (const [hash, bytes] of blobs) this.#pendingBlobs.set(hash, bytes);
  }

  /** Stores the held blobs, durably; throws at the first that fails (it stays held). */
  async #flushBlobs(): Promise<void> {
    for (const [hash, bytes] of [...this.#pendingBlobs]) {
      try {
        await this.#blobs.put(hash, bytes);
      } catch (error) {
        this.#log.warn({ blob: hash.slice(0, 16), error: String(error) }, "could not store a binary file's contents; the change naming it is saved once it can be (is the disk full?)");
        throw error;
      }
      this.#pendingBlobs.delete(hash);
    }
  }

  /** Something in the doc is not stored yet: a failed save, or blobs still held. */
  #hasUnsaved(): boolean {
    return this.#unsaved || this.#pendingBlobs.size > 0;
  }

  /** A fetched blob is here: the files that show it can now be written. */
  async #onBlobStored(hash: string): Promise<void> {
    const paths: string[] = [];
    for (const [path, rev] of listStored(this.#doc)) if (blobOf(rev) === hash) paths.push(path);
    if (paths.length === 0) return;
    const heads = A.getHeads(this.#doc);
    this.#unreported.push({ origin: "remote", paths: paths.sort(), merges: [], heads, before: heads });
    // Reported now unless the doc holds a change whose save failed: then with it, once it is stored.
    if (!this.#hasUnsaved()) this.#reportStored();
  }

  /** Counts an outgoing blob message; true so it chains into the send. */
  #count(frame: Uint8Array): true {
    this.#stats.messagesOut++;
    this.#stats.bytesOut += frame.length;
    return true;
  }

  /**
   * Stores what changed since the last save. saveIncremental hands out each change once, so after a
   * failed append (disk full, I/O error) the next save must be a full one: appending the next chunk
   * alone would skip the lost one for good (and a partly written frame may sit in the log).
   */
  async #persist(): Promise<void> {
    await this.#flushBlobs(); // binary contents are durable before any stored change names them
    const snapshot = this.#loadedSnapshot;
    this.#loadedSnapshot = undefined;
    const chunk = this.#storedHeads ? A.saveSince(this.#doc, this.#storedHeads) : A.saveIncremental(this.#doc);
    if (chunk.length === 0 && !this.#unsaved && snapshot === undefined) return;
    const full = this.#unsaved || this.#chunksSinceCompact >= this.#cfg.compactAfterChunks;
    this.#unsaved = true;
    try {
      if (full) {
        await this.#cfg.store.replace(this.#snapshot());
        this.#chunksSinceCompact = 0;
      } else if (snapshot !== undefined) {
        // The doc was loaded from these bytes (#onSnapshot); what came after them follows in the log.
        await this.#cfg.store.replace(snapshot);
        this.#chunksSinceCompact = 0;
        if (chunk.length > 0) await this.#cfg.store.append(chunk);
      } else {
        await this.#cfg.store.append(chunk);
        this.#chunksSinceCompact++;
      }
    } catch (error) {
      this.#log.warn({ error: String(error) }, "could not save the vault document; the next save is a full one (is the disk full?)");
      throw error;
    }
    this.#unsaved = false;
    if (this.#storedHeads) this.#storedHeads = A.getHeads(this.#doc);
  }

  async #onConnected(): Promise<void> {
    this.#log.info({}, "transport connected: resynchronising");
    if (!plantedBugs.noResyncOnReconnect) {
      for (const state of this.#peers.values()) this.#restart(state);
      for (const [peer, state] of this.#peers) if (this.#offersTo(state)) this.#sendSync(peer, state);
    }
    this.#announce();
    this.#fetcher.reconnected();
  }

  #announce(): void {
    this.#lastAnnounceMs = this.#cfg.clock.now();
    if (buggify("engine.announce.skip")) return;
    this.#cfg.transport.broadcast(this.#announcement());
  }

  #announcement(): Uint8Array {
    return encodeMessage({ type: "announce", heads: A.getHeads(this.#doc).slice(0, 256), ready: isReady(this.#doc), hub: this.#cfg.hub });
  }

  #sendSync(to: PeerId, peer: PeerState): void {
    if (peer.sync.theirHeads?.length === 0 && A.getHeads(this.#doc).length > 0) return this.#sendSnapshot(to, peer);
    this.#sendSyncMessage(to, peer);
  }

  #sendSyncMessage(to: PeerId, peer: PeerState): void {
    const [state, message] = A.generateSyncMessage(this.#doc, peer.sync);
    peer.sync = state;
    if (message === null) return;
    peer.dirty = true;
    this.#send(to, encodeMessage({ type: "sync", data: message }));
  }

  #send(to: PeerId, frame: Uint8Array): void {
    if (buggify("engine.send.drop")) return;
    this.#stats.messagesOut++;
    this.#stats.bytesOut += frame.length;
    this.#cfg.transport.send(to, frame);
  }

  /**
   * The peer told us it holds nothing (a clone): it gets our whole doc as one save instead of
   * Automerge's sync messages — cheaper to load (#onSnapshot), and sent once: a clone and its hub
   * both open the exchange, and Automerge answered each of the clone's two opening messages with
   * the whole doc (2 × 0.9 MB at 10,000 files). Our state for the pair starts afresh, so the
   * clone's next message (its new heads) gets an answer and both sides see they are in step. A
   * lost snapshot is sent again after the clone's next announcement restarts the pair.
   */
  #sendSnapshot(to: PeerId, peer: PeerState): void {
    const heads = A.getHeads(this.#doc);
    if (peer.snapshotSentFor && sameHeads(peer.snapshotSentFor, heads)) return;
    const frame = encodeMessage({ type: "snapshot", data: this.#snapshot() });
    // Too big for one message: Automerge's sync messages carry it, in parts.
    if (frame.length > this.#cfg.transport.messageBytesMax) return this.#sendSyncMessage(to, peer);
    peer.snapshotSentFor = heads;
    peer.sync = A.initSyncState();
    peer.dirty = true;
    this.#send(to, frame);
  }

  /** A full save of the doc as it is now, made once per state of the doc. */
  #snapshot(): Uint8Array {
    const heads = A.getHeads(this.#doc);
    if (!this.#hasSnapshotOf(heads)) {
      this.#snapshotCache = { heads, bytes: A.save(this.#doc) };
      this.#stats.snapshotsMade++;
    }
    return this.#snapshotCache!.bytes;
  }

  #hasSnapshotOf(heads: A.Heads): boolean {
    return this.#snapshotCache !== undefined && sameHeads(this.#snapshotCache.heads, heads);
  }

  /**
   * Makes the snapshot ahead of need once the doc has been quiet (snapshotWhenQuietMs). A busy vault
   * pays at most a tenth of the time for it: the next one waits ten times as long as this one took.
   */
  #keepSnapshotReady(now: number): void {
    const quietMs = this.#cfg.snapshotWhenQuietMs;
    if (quietMs === undefined || now - this.#lastDocChangeMs < quietMs || now < this.#nextReadySnapshotMs) return;
    const heads = A.getHeads(this.#doc);
    if (heads.length === 0 || this.#hasSnapshotOf(heads)) return;
    this.#snapshot();
    const done = this.#cfg.clock.now();
    this.#nextReadySnapshotMs = done + 10 * (done - now);
  }

  async #peer(id: PeerId): Promise<PeerState> {
    const known = this.#peers.get(id);
    if (known) return known;
    const stored = await this.#cfg.store.loadSyncState(id).catch(() => undefined);
    let sync = A.initSyncState();
    if (stored) {
      try {
        sync = A.decodeSyncState(stored);
      } catch {
        this.#log.warn({ peer: id }, "stored sync state unreadable; starting afresh");
      }
      // After a crash the state may name changes the stored doc never kept (saved just before the
      // kill, the doc not yet): the peer would then never resend them and the two would stall apart.
      if (!A.hasHeads(this.#doc, sync.sharedHeads)) {
        this.#log.warn({ peer: id }, "stored sync state names changes this device does not have (after a crash?); starting afresh");
        sync = A.initSyncState();
      }
    }
    const state: PeerState = { sync, lastHeardMs: this.#cfg.clock.now(), dirty: false, hub: false, hearsUs: false };
    this.#peers.set(id, state);
    this.#log.info({ peer: id }, "peer seen");
    // A hub introduces itself to every new peer at once, so a leaf stops offering sync to other
    // leaves without waiting for the next periodic announcement.
    if (this.#cfg.hub) this.#cfg.transport.send(id, this.#announcement());
    return state;
  }

  async #persistSyncState(peer: PeerId, state: PeerState): Promise<void> {
    if (!state.dirty) return;
    state.dirty = false;
    await this.#cfg.store.saveSyncState(peer, A.encodeSyncState(state.sync));
  }
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sortedB = [...b].sort();
  return [...a].sort().every((h, i) => h === sortedB[i]);
}

/**
 * Paths under `files` touched between `before` and the doc's current heads; `touched.identity` is
 * set when `meta` changed too.
 */
function changedPaths(doc: Doc, before: A.Heads, touched?: { identity: boolean }): string[] {
  // From nothing (a clone's first sync) every file changed; diffing would build a patch holding
  // the content of every file (10,000 files: ~0.3 s) only to read the paths from it.
  if (before.length === 0) return isReady(doc) ? Object.values(doc.files).flatMap((bucket) => Object.keys(bucket)).sort() : [];
  const paths = new Set<string>();
  for (const patch of A.diff(doc, before, A.getHeads(doc))) {
    if (patch.path[0] === "meta" && touched) touched.identity = true;
    else if (patch.path[0] === "files" && patch.path.length >= 3) paths.add(String(patch.path[2]));
    else if (patch.path[0] === "files" && patch.path.length === 2 && patch.action === "put") {
      // A whole bucket arrived (first sync of a clone): every file in it changed.
      for (const path of Object.keys(doc.files[String(patch.path[1])] ?? {})) paths.add(path);
    }
  }
  return [...paths].sort();
}

/** Blob-backed revisions among `paths` (current state), to check against the store. */
function blobNeeds(doc: Doc, paths: Iterable<string>): BlobNeed[] {
  const needs: BlobNeed[] = [];
  for (const path of paths) {
    const rev = readStored(doc, path);
    const hash = blobOf(rev);
    if (hash !== undefined && rev !== undefined) needs.push({ hash, size: rev.size });
  }
  return needs;
}

/**
 * The buckets a remote change can have patched wrongly (view-check.ts); undefined = all of them.
 * From an empty doc (a clone) every bucket is new: checking all is cheaper than listing 10,000
 * changes first (~340 ms) only to find there are too many to decode.
 */
function bucketsToCheck(next: Doc, before: A.Heads): Set<string> | undefined {
  return before.length === 0 ? undefined : bucketsTouched(next, A.getChangesSince(next, before));
}
