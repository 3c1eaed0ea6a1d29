/**
 * The sans-IO sync engine for one vault on one node. Events come in (a local batch of file
 * operations, a message from a peer, a (re)connect, a tick); messages go out through the Transport,
 * bytes go to the DocStore (doc-persistence.ts), and `onChange` tells the folder binding which paths
 * to write.
 *
 * All inbound work runs through one serial queue, so the engine is a plain state machine: the
 * order of events alone decides the outcome, which is what makes dst replays exact. Each event
 * updates state — the doc (only through #replaceDoc), the peers (peers.ts), what is due — and
 * then #evaluate decides what to send. A change is applied by #applyChange, in this order:
 * resolve conflicts, relay (a remote change), store, offer (a local change), report.
 */
import * as A from "@automerge/automerge";
import { ANNOUNCE_HEADS_MAX, decodeMessage, encodeMessage } from "./messages.js";
import { buggify, plantedBugs } from "./buggify.js";
import type { Log, PeerId } from "./ports.js";
import { silentLog } from "./ports.js";
import {
  applyFileOps,
  applyFileOpsAt,
  blobOf,
  isReady,
  listStored,
  pathsOfOps,
  type BlobSink,
  type Doc,
  type FileOp,
} from "../vault/model/vault-doc.js";
import type { VaultDoc } from "../vault/model/schema.js";
import { BlobRefs } from "../vault/model/blob-refs.js";
import { MemoryBlobStore, type BlobStore } from "../vault/store/blob-store.js";
import { BlobFetcher, blobChunkBytesFor } from "./blob-fetch.js";
import { deleteUnreferencedBlobs, type BlobCollection } from "./blob-collect.js";
import { resolveConflicts, type MergeOutcome } from "../vault/model/merge.js";
import {
  oversizedChange,
  oversizedChangeInSyncMessage,
  oversizedInlineEntry,
  type OversizedChange,
} from "../vault/model/entry-limits.js";
import { OversizeRefusals } from "./oversize-refusals.js";
import { sameHeads } from "./heads.js";
import {
  PeerTable,
  SyncDue,
  inStep,
  noteAnnouncement,
  noteHeardHeads,
  noteSyncFrom,
  restartExchange,
  restoredSyncState,
  snapshotAlreadySent,
  type PeerState,
} from "./peers.js";
import { DocPersistence } from "./doc-persistence.js";
import { SnapshotCache } from "./snapshots.js";
import { blobNeeds, changedPaths, rebuiltIfStale, type ChangeEvent } from "./doc-changes.js";
import { ENGINE_DEFAULTS, type SyncEngineConfig, type VaultIdentity } from "./engine-config.js";
import { PushMode, pushFrame, pushModeOf } from "./change-push.js";
import { AnnounceSchedule } from "./announce-schedule.js";

export type { ChangeEvent } from "./doc-changes.js";
export type { SyncEngineConfig, VaultIdentity } from "./engine-config.js";

type Origin = ChangeEvent["origin"];

export class SyncEngine {
  readonly #cfg: SyncEngineConfig & typeof ENGINE_DEFAULTS;
  readonly #log: Log;
  readonly #peers: PeerTable;
  #doc: Doc;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  readonly #announcements: AnnounceSchedule;
  #lastDocChangeMs = Number.NEGATIVE_INFINITY;
  /** Our heads are due to be broadcast (#evaluate). */
  #announceDue = false;
  /** New peers a hub introduces itself to (#evaluate). */
  #introductionsDue: PeerId[] = [];
  readonly #snapshots = new SnapshotCache();
  readonly #persistence: DocPersistence;
  readonly #blobs: BlobStore;
  readonly #blobRefs = new BlobRefs();
  readonly #fetcher: BlobFetcher;
  readonly #refusals: OversizeRefusals;
  #stats = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    dropped: 0,
    merges: 0,
    lastSyncMs: 0,
    changesRefused: 0,
  };

  constructor(config: SyncEngineConfig) {
    this.#cfg = { ...ENGINE_DEFAULTS, ...config };
    this.#log = config.log ?? silentLog;
    this.#doc = config.doc;
    this.#peers = new PeerTable(config.hub === true);
    this.#announcements = new AnnounceSchedule(this.#cfg.announceIntervalMs, this.#cfg.announceIntervalMaxMs);
    this.#blobs = config.blobs ?? new MemoryBlobStore();
    this.#refusals = new OversizeRefusals(this.#log);
    this.#persistence = new DocPersistence({
      store: config.store,
      blobs: this.#blobs,
      snapshots: this.#snapshots,
      log: this.#log,
      compactAfterChunks: this.#cfg.compactAfterChunks,
      storedHeads: config.storedHeads,
      onReport: (event) => this.#cfg.onChange?.(event),
    });
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
    return this.#peers.ids();
  }

  /** True when `peer` has told us heads equal to ours and the pair's shared heads are ours: nothing left to exchange. */
  convergedWith(peer: PeerId): boolean {
    const state = this.#peers.get(peer);
    return state !== undefined && inStep(state, A.getHeads(this.#doc));
  }

  /** Peers this engine currently knows and whether each is in step with us. */
  peerInfo(): { peer: PeerId; lastHeardMs: number; converged: boolean }[] {
    return this.peers.map((peer) => ({
      peer,
      lastHeardMs: this.#peers.get(peer)!.lastHeardMs,
      converged: this.convergedWith(peer),
    }));
  }

  get stats() {
    const { changesRefused, ...counts } = this.#stats;
    return {
      ...counts,
      snapshotsMade: this.#snapshots.made,
      changesRefused,
      ...this.#fetcher.stats,
      peers: this.#peers.size,
    };
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
    this.#announceDue = true;
    this.#evaluate();
    // Blobs the doc references but the store lacks (a clone, a crash that lost an unsynced blob).
    await this.#enqueue(() => this.#fetcher.want(blobNeeds(this.#doc, listStored(this.#doc).keys())));
  }

  /** Applies local file operations; resolves once they are durable (or immediately if nothing changed). */
  change(ops: readonly FileOp[], message?: string): Promise<string[]> {
    // The ops name every path the change can touch, so no diff of the doc (it decodes every file's text).
    return this.#changeLocally(
      (doc, time, blobs) =>
        applyFileOps(doc, ops, { time, by: this.#cfg.self, message, blobs, digest: this.#cfg.digest }),
      ops,
      () => pathsOfOps(ops),
    );
  }

  /** Local operations based on an older doc state (see applyFileOpsAt): merged, never overwriting. */
  changeAt(baseHeads: A.Heads, ops: readonly FileOp[], message?: string): Promise<string[]> {
    return this.#changeLocally(
      (doc, time, blobs) =>
        applyFileOpsAt(doc, baseHeads, ops, { time, by: this.#cfg.self, message, blobs, digest: this.#cfg.digest }),
      ops,
    );
  }

  /**
   * Runs any other local doc mutation (labels, restore) through the same queue and invariants.
   * Binary contents it creates go into `blobs` and are stored before the change.
   */
  async update(mutate: (doc: Doc, nowMs: number, blobs: BlobSink) => Doc): Promise<void> {
    await this.#changeLocally(mutate, []);
  }

  /** Periodic work: re-announce, forget silent peers, persist sync states. */
  tick(): Promise<void> {
    return this.#enqueue(async () => {
      const now = this.#cfg.clock.now();
      if (this.#persistence.hasUnsaved) {
        await this.#persistence.save(this.#doc).then(
          () => this.#persistence.reportStored(),
          () => {}, // logged by save; the next tick tries again
        );
      }
      if (this.#announcements.isDue(now, A.getHeads(this.#doc))) this.#announceDue = true;
      this.#evaluate();
      this.#fetcher.tick();
      this.#snapshots.keepReady(
        this.#doc,
        now,
        { sinceMs: this.#lastDocChangeMs, quietMs: this.#cfg.snapshotWhenQuietMs },
        this.#cfg.clock,
      );
      for (const peer of [...this.#peers.all()]) {
        if (now - peer.lastHeardMs <= this.#cfg.peerTimeoutMs) continue;
        await this.#persistence.saveSyncState(peer);
        this.#peers.forget(peer.id);
        this.#log.info({ peer: peer.id }, "peer silent, forgotten");
      }
    });
  }

  /** Rewrites storage as one full save (history kept whole). Returns bytes before and after. */
  compact(): Promise<{ beforeBytes: number; afterBytes: number }> {
    return this.#enqueue(() => this.#persistence.compact(this.#doc));
  }

  /**
   * Deletes every stored blob that no revision anywhere in the doc's history references (a binary
   * ingested just before a crash lost its change, say). Blobs of overwritten or deleted files stay:
   * restore-at and labels still need them. Runs in the queue, so no ingest is half done meanwhile.
   */
  collectBlobs(): Promise<BlobCollection> {
    return this.#enqueue(async () => {
      if (!isReady(this.#doc)) return { blobsRemoved: 0, blobBytesRemoved: 0, blobsKept: 0 }; // a clone still arriving references nothing yet
      return deleteUnreferencedBlobs(this.#blobs, this.#blobRefs.update(this.#doc), this.#log);
    });
  }

  /** Waits until every queued event is processed (and thus every change stored). */
  flush(): Promise<void> {
    return this.#enqueue(async () => {});
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    await this.flush();
    if (this.#persistence.hasUnsaved) await this.#enqueue(() => this.#persistence.save(this.#doc));
    this.#persistence.reportStored();
    this.#stopped = true;
    for (const peer of this.#peers.all()) await this.#persistence.saveSyncState(peer);
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

  /**
   * The one place that decides what goes out. Every event updates state and ends here; an event
   * that waits for the disk midway (a remote change is relayed before it is stored) comes here
   * before and after the wait. Invariants:
   *  - nothing is due once it returns: every due message is sent (or dropped by a fault) now;
   *  - a hub introduces itself to a new peer first, so a leaf learns at once whom to offer sync to;
   *  - a peer gets a sync message only when one is due, and an `offer` only if we offer sync to it
   *    unasked: once a hub hears a device, the device offers to hubs only (PeerTable.offersTo);
   *  - a peer that told us it holds nothing gets our whole doc as one snapshot, once per state of
   *    our doc until the pair restarts (#sendSnapshot);
   *  - a local change is due to peers only once stored (#applyChange), so no peer holds a change of
   *    ours this device could lose in a crash;
   *  - our heads are broadcast after the sync messages of the same event.
   */
  #evaluate(): void {
    for (const id of this.#introductionsDue.splice(0)) this.#cfg.transport.send(id, this.#announcement());
    const due: [PeerState, SyncDue][] = [];
    for (const peer of this.#peers.all()) {
      if (peer.due !== SyncDue.none) due.push([peer, peer.due]);
      peer.due = SyncDue.none;
    }
    for (const [peer, why] of due) if (this.#shouldSend(peer, why)) this.#sendSync(peer);
    if (this.#announceDue) {
      this.#announceDue = false;
      this.#announce();
    }
  }

  #shouldSend(peer: PeerState, why: SyncDue): boolean {
    switch (why) {
      case SyncDue.none:
        return false;
      case SyncDue.answer:
        return true;
      case SyncDue.offer:
        return this.#peers.offersTo(peer);
      case SyncDue.answerUnlessRelayed:
        return !this.#peers.offersTo(peer);
    }
  }

  /** Our doc changed: every peer we offer sync to unasked is due a message. */
  #offerToAll(): void {
    for (const peer of this.#peers.all()) peer.due = SyncDue.offer;
  }

  /** The one place the doc is replaced. */
  #replaceDoc(next: Doc): void {
    this.#doc = next;
  }

  async #onMessage(from: PeerId, frame: Uint8Array): Promise<void> {
    if (from === this.#cfg.self) return;
    if (this.#cfg.isPeerAllowed && !this.#cfg.isPeerAllowed(from)) return this.#drop(from, "peer not allowed");
    const message = decodeMessage(frame);
    if (message === undefined) return this.#drop(from, "malformed frame");
    this.#stats.messagesIn++;
    this.#stats.bytesIn += frame.length;
    const peer = await this.#admit(from);
    this.#evaluate(); // a new peer is an event of its own: a hub's introduction precedes anything else it gets
    peer.lastHeardMs = this.#cfg.clock.now();
    switch (message.type) {
      case "blob-want":
      case "blob":
        return this.#fetcher.onMessage(from, message);
      case "announce":
        this.#onAnnounce(peer, message.heads, message.hub === true);
        break;
      case "changes":
        await this.#onChanges(peer, message.heads, message.allHeads, message.changes);
        break;
      case "snapshot":
        await this.#onSnapshot(peer, message.data);
        break;
      case "sync":
        await this.#onSync(peer, message.data);
        break;
    }
    this.#evaluate();
  }

  /** The peer's state, made (with its stored sync state) the first time we hear it. */
  async #admit(id: PeerId): Promise<PeerState> {
    const known = this.#peers.get(id);
    if (known) return known;
    const sync = await restoredSyncState(this.#cfg.store, id, this.#doc, this.#log);
    const peer = this.#peers.add(id, sync, this.#cfg.clock.now());
    this.#log.info({ peer: id }, "peer seen");
    // A hub introduces itself to every new peer at once, so a leaf stops offering sync to other
    // leaves without waiting for the next periodic announcement. A device a hub hears does too: it
    // offers sync to hubs only, so a device the hub cannot hear (a bridge client on this device's
    // NATS) must learn our heads to ask us, and our broadcasts of unchanged heads are seconds apart.
    if (this.#cfg.hub || this.#peers.hubHearsUs()) this.#introductionsDue.push(id);
    return peer;
  }

  #drop(from: PeerId, reason: string): void {
    this.#stats.dropped++;
    this.#log.warn({ peer: from, reason }, "dropped message");
  }

  #onAnnounce(peer: PeerState, theirHeads: string[], announcedHub: boolean): void {
    noteAnnouncement(peer, announcedHub);
    noteHeardHeads(peer, theirHeads, theirHeads.length < ANNOUNCE_HEADS_MAX);
    if (sameHeads(A.getHeads(this.#doc), theirHeads) || !this.#peers.offersTo(peer)) return;
    // Their heads differ: whatever was in flight may be lost; start this pair's exchange afresh.
    if (!plantedBugs.noResyncOnReconnect) restartExchange(peer);
    peer.due = SyncDue.offer;
  }

  async #onConnected(): Promise<void> {
    this.#log.info({}, "transport connected: resynchronising");
    this.#announcements.reset();
    if (!plantedBugs.noResyncOnReconnect) {
      for (const peer of this.#peers.all()) restartExchange(peer);
      this.#offerToAll();
    }
    this.#announceDue = true;
    this.#evaluate();
    this.#fetcher.reconnected();
  }

  async #onSync(peer: PeerState, data: Uint8Array): Promise<void> {
    const oversized = oversizedChangeInSyncMessage(data);
    if (oversized !== undefined) return this.#refuseOversized(peer.id, oversized);
    const before = A.getHeads(this.#doc);
    let next: Doc;
    try {
      [next, peer.sync] = A.receiveSyncMessage(this.#doc, peer.sync, data);
    } catch (error) {
      return this.#drop(peer.id, `bad sync message: ${String(error)}`);
    }
    noteSyncFrom(peer);
    if (peer.sync.theirHeads) noteHeardHeads(peer, peer.sync.theirHeads, true);
    this.#stats.lastSyncMs = this.#cfg.clock.now();
    if (sameHeads(before, A.getHeads(next))) {
      this.#replaceDoc(next);
      peer.due = SyncDue.answer;
      return;
    }
    const mode = await this.#applyChange(next, before, "remote", peer.id);
    // A push leaves the sender out (it has the change), so its sync message gets its answer here.
    peer.due = mode === PushMode.none ? SyncDue.answerUnlessRelayed : SyncDue.answer;
  }

  /**
   * Changes a peer pushed (change-push.ts). Applied when we hold what they build on; otherwise, or
   * when the sender holds more than it pushed, the pairwise exchange with it repairs the gap.
   */
  async #onChanges(peer: PeerState, theirHeads: string[], allHeads: boolean, changes: Uint8Array[]): Promise<void> {
    const oversized = oversizedChange(changes);
    if (oversized !== undefined) return this.#refuseOversized(peer.id, oversized);
    const before = A.getHeads(this.#doc);
    let next: Doc;
    try {
      [next] = A.applyChanges(this.#doc, changes);
    } catch (error) {
      return this.#drop(peer.id, `bad pushed changes: ${String(error)}`);
    }
    this.#stats.lastSyncMs = this.#cfg.clock.now();
    if (sameHeads(before, A.getHeads(next))) this.#replaceDoc(next);
    else await this.#applyChange(next, before, "remote", peer.id);
    if (A.hasHeads(this.#doc, theirHeads)) {
      noteHeardHeads(peer, theirHeads, allHeads);
      // A hub's push went to every peer: heads equal to it need no announcement of ours soon.
      if (peer.role.kind === "hub" && allHeads && sameHeads(A.getHeads(this.#doc), theirHeads))
        this.#announcements.heardOnBus(theirHeads);
      return;
    }
    // A push we could not take whole (its parents are missing here) or a sender ahead of it.
    if (!plantedBugs.noResyncOnReconnect) restartExchange(peer);
    peer.due = SyncDue.answer;
  }

  /** Counted and logged (once per peer and change), never applied: see oversize-refusals.ts. */
  #refuseOversized(from: PeerId, change: OversizedChange): void {
    this.#stats.dropped++;
    this.#stats.changesRefused++;
    this.#refusals.note(from, change);
  }

  /**
   * A peer's full save, sent because we told it we hold nothing. Loading it is cheaper than
   * applying the same doc as a sync message (Automerge patches its JS view change by change there;
   * a load builds it in one go), and its bytes are our save. With anything in the doc already it
   * is ignored: the pairwise exchange carries the rest.
   */
  async #onSnapshot(peer: PeerState, data: Uint8Array): Promise<void> {
    if (A.getHeads(this.#doc).length > 0) {
      peer.due = SyncDue.answer;
      return;
    }
    let next: Doc;
    try {
      next = A.load<VaultDoc>(data, { actor: A.getActorId(this.#doc) as A.ActorId });
    } catch (error) {
      return this.#drop(peer.id, `bad snapshot: ${String(error)}`);
    }
    if (A.getHeads(next).length === 0) return this.#drop(peer.id, "empty snapshot");
    const oversized = oversizedInlineEntry(next);
    if (oversized !== undefined)
      return this.#drop(
        peer.id,
        `snapshot holds ${oversized.path} of ${oversized.size} bytes, over the inline entry limit`,
      );
    this.#persistence.loadedFrom(data, A.getHeads(next));
    this.#snapshots.adopt(A.getHeads(next), data);
    noteHeardHeads(peer, A.getHeads(next), true);
    // Afresh on our side too: our state says the pair shares nothing, and only a message from the
    // peer after our next one moves its shared heads to the snapshot's (see convergedWith).
    peer.sync = A.initSyncState();
    noteSyncFrom(peer);
    this.#stats.lastSyncMs = this.#cfg.clock.now();
    await this.#applyChange(next, [], "remote", peer.id);
    peer.due = SyncDue.answerUnlessRelayed;
  }

  /** A local change: `mutate` makes the next doc (or returns it unchanged); resolves with `ops`' paths once stored. */
  /**
   * `knownPaths`: every path the change can touch, when the caller knows them (a batch of file ops);
   * asked only once `mutate` succeeded, so a bad path fails the returned promise, not the caller.
   */
  #changeLocally(
    mutate: (doc: Doc, nowMs: number, blobs: BlobSink) => Doc,
    ops: readonly FileOp[],
    knownPaths?: () => string[],
  ): Promise<string[]> {
    return this.#enqueue(async () => {
      const before = A.getHeads(this.#doc);
      const blobs: BlobSink = new Map();
      const next = mutate(this.#doc, this.#cfg.clock.now(), blobs);
      if (next === this.#doc) return [];
      await this.#applyChange(next, before, "local", undefined, blobs, knownPaths?.());
      return ops.map((op) => op.path);
    });
  }

  /**
   * Takes a changed doc in: resolve, relay or store first, report, fetch missing blobs. `blobs`
   * holds the binary contents the change names; they are stored before the change is.
   *
   * A remote change is relayed before our own fsync: a hub forwards without waiting for its disk,
   * saving one fsync per hop of leaf → hub → leaf, and the author already stored it. A change
   * made here is stored first: offered earlier, a crash could leave it on a peer but not here,
   * and this device's next edit of the file (re-read from disk) would then look concurrent with
   * its own lost change and become a conflict. Either way a change is reported (onChange,
   * change() resolving, dst's no-lost-write check) only once stored, so the folder binding's
   * index never names heads the stored doc lacks.
   */
  async #applyChange(
    next: Doc,
    before: A.Heads,
    origin: Origin,
    from?: PeerId,
    blobs: BlobSink = new Map(),
    knownPaths?: string[],
  ): Promise<PushMode> {
    const { paths, merges } = this.#settle(next, before, origin, from, blobs, knownPaths);
    let mode: PushMode = PushMode.none;
    this.#persistence.awaitSave({ origin, paths, merges, heads: A.getHeads(this.#doc), before });
    const settled = this.#doc;
    if (origin === "remote") {
      // A resolution made here may name new blobs: stored before it is offered, unless that fails
      // (then the save below fails too, and the next tick tries both again).
      if (this.#persistence.holdsBlobs) await this.#persistence.flushBlobs().catch(() => {});
      mode = this.#offerChange(before, from, merges.length > 0);
      if (merges.length > 0) this.#announceDue = true;
      this.#evaluate();
    }
    try {
      await this.#persistence.save(settled);
      if (origin === "local") {
        mode = this.#offerChange(before, undefined, true);
        this.#announceDue = true;
        this.#evaluate();
      }
      this.#persistence.reportStored();
    } finally {
      // Even when the save failed (the change stays in the doc and is saved on a later tick).
      await this.#fetcher.want(blobNeeds(settled, paths), from);
    }
    return mode;
  }

  /**
   * Passes a change on (change-push.ts): pushed where a hub routes it, else offered pairwise.
   * `madeHere`: the doc holds a change of ours since `before` (a local edit or a merge made here).
   * Returns the mode used; a pushing mode leaves `from` out.
   */
  #offerChange(before: A.Heads, from: PeerId | undefined, madeHere: boolean): PushMode {
    const mode = pushModeOf(this.#cfg.hub === true, this.#peers.hubHearsUs());
    if (mode === PushMode.none) {
      this.#offerToAll();
      return mode;
    }
    const sender = from === undefined ? undefined : this.#peers.get(from);
    // What a hub sent a device, the hub broadcast to every peer; only a merge made here is news.
    if (mode === PushMode.toHubs && sender?.role.kind === "hub" && !madeHere) return mode;
    const frame = pushFrame(this.#doc, before, this.#cfg.transport.messageBytesMax);
    for (const peer of this.#peers.all()) {
      if (peer.id === from && !madeHere) continue; // it has the change; #onSync answers it if it came by sync
      if (mode === PushMode.toHubs && !this.#peers.offersTo(peer)) continue;
      // A peer that lacks the push's parents finds out and asks (#onChanges): no pairwise offer ahead of need.
      if (frame === undefined) peer.due = SyncDue.offer;
      else if (mode === PushMode.toHubs) this.#send(peer.id, frame);
    }
    if (frame !== undefined && mode === PushMode.broadcast && !buggify("engine.push.drop")) {
      this.#count(frame);
      this.#cfg.transport.broadcast(frame);
      // Every peer got our heads with it: this is our announcement of them.
      this.#announcements.announced(this.#cfg.clock.now(), A.getHeads(this.#doc));
    }
    return mode;
  }

  /**
   * Adopts `next` and brings it to what every reader may see: a view in step with its backend and
   * this device's conflicts resolved. Returns the paths the change touched and the merges made.
   */
  #settle(
    next: Doc,
    before: A.Heads,
    origin: Origin,
    from: PeerId | undefined,
    blobs: BlobSink,
    knownPaths?: string[],
  ): { paths: string[]; merges: MergeOutcome[] } {
    // Adopted before anything below can fail: Automerge has made the previous state read-only, so
    // an engine left holding it would refuse every later change.
    this.#replaceDoc(next);
    this.#lastDocChangeMs = this.#cfg.clock.now();
    this.#persistence.holdBlobs(blobs);
    const touched = { identity: false };
    let paths = knownPaths ?? changedPaths(next, before, touched);
    if (origin === "remote" && (touched.identity || (before.length === 0 && this.#metaDiffers(next))))
      this.#ignoredIdentityChange(from);
    const patched = origin === "remote" && !this.#persistence.loadedSnapshotUnsaved;
    const rebuilt = patched ? rebuiltIfStale(next, before) : undefined;
    if (rebuilt !== undefined) {
      this.#log.warn({ paths: paths.length }, "automerge view out of step with its backend; rebuilt");
      next = rebuilt;
      this.#replaceDoc(next);
      paths = changedPaths(next, before);
    }
    if (!isReady(next)) return { paths, merges: [] };
    const resolutionBlobs: BlobSink = new Map();
    const resolved = resolveConflicts(next, paths, {
      me: this.#cfg.self,
      time: this.#cfg.clock.now(),
      blobs: resolutionBlobs,
    });
    this.#persistence.holdBlobs(resolutionBlobs);
    this.#replaceDoc(resolved.doc);
    this.#stats.merges += resolved.outcomes.length;
    if (resolved.outcomes.length > 0) paths = changedPaths(resolved.doc, before);
    return { paths, merges: resolved.outcomes };
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

  /** A fetched blob is here: the files that show it can now be written. */
  async #onBlobStored(hash: string): Promise<void> {
    const paths: string[] = [];
    for (const [path, rev] of listStored(this.#doc)) if (blobOf(rev) === hash) paths.push(path);
    if (paths.length === 0) return;
    const heads = A.getHeads(this.#doc);
    // Reported with the change whose save failed, if the doc holds one: the files must not run ahead of the store.
    this.#persistence.awaitSave({ origin: "remote", paths: paths.sort(), merges: [], heads, before: heads });
    this.#persistence.reportIfSaved();
  }

  /** Counts an outgoing blob message; true so it chains into the send. */
  #count(frame: Uint8Array): true {
    this.#stats.messagesOut++;
    this.#stats.bytesOut += frame.length;
    return true;
  }

  #announce(): void {
    this.#announcements.announced(this.#cfg.clock.now(), A.getHeads(this.#doc));
    if (buggify("engine.announce.skip")) return;
    this.#cfg.transport.broadcast(this.#announcement());
  }

  #announcement(): Uint8Array {
    return encodeMessage({
      type: "announce",
      heads: A.getHeads(this.#doc).slice(0, ANNOUNCE_HEADS_MAX),
      ready: isReady(this.#doc),
      hub: this.#cfg.hub,
    });
  }

  #sendSync(peer: PeerState): void {
    if (peer.sync.theirHeads?.length === 0 && A.getHeads(this.#doc).length > 0) return this.#sendSnapshot(peer);
    this.#sendSyncMessage(peer);
  }

  #sendSyncMessage(peer: PeerState): void {
    const [state, message] = A.generateSyncMessage(this.#doc, peer.sync);
    peer.sync = state;
    if (message === null) return;
    peer.syncStateUnsaved = true;
    this.#send(peer.id, encodeMessage({ type: "sync", data: message }));
  }

  #send(to: PeerId, frame: Uint8Array): void {
    if (buggify("engine.send.drop")) return;
    this.#count(frame);
    this.#cfg.transport.send(to, frame);
  }

  /**
   * The peer told us it holds nothing (a clone): it gets our whole doc as one save instead of
   * Automerge's sync messages — cheaper to load (#onSnapshot), and sent once: a clone and its hub
   * both open the exchange, and Automerge would answer each of the clone's two opening messages
   * with the whole doc. Our state for the pair starts afresh, so the clone's next message (its new
   * heads) gets an answer and both sides see they are in step. A lost snapshot is sent again after
   * the clone's next announcement restarts the pair.
   */
  #sendSnapshot(peer: PeerState): void {
    const heads = A.getHeads(this.#doc);
    if (snapshotAlreadySent(peer, heads)) return;
    const frame = encodeMessage({ type: "snapshot", data: this.#snapshots.of(this.#doc) });
    // Too big for one message: Automerge's sync messages carry it, in parts.
    if (frame.length > this.#cfg.transport.messageBytesMax) return this.#sendSyncMessage(peer);
    peer.exchange = { kind: "snapshot-sent", heads };
    peer.sync = A.initSyncState();
    peer.syncStateUnsaved = true;
    this.#send(peer.id, frame);
  }
}
