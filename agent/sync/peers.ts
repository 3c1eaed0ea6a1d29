/**
 * What one engine knows about each peer on the vault's bus, and the rules that read it: whom we
 * offer sync to unasked (hub routing), when a pair's exchange restarts, when two are in step.
 * The engine's #evaluate is the only reader of `due`; handlers only set it.
 */
import * as A from "@automerge/automerge";
import type { DocStore, Log, PeerId } from "./ports.js";
import type { Doc } from "../vault/model/vault-doc.js";
import { sameHeads } from "./heads.js";

/** How a peer takes part in routing, from its last announcement. */
export type PeerRole =
  | { readonly kind: "device" }
  /** A hub's full replica. `hearsUs`: it has sent us sync, so the other devices reach us through it. */
  | { readonly kind: "hub"; readonly hearsUs: boolean };

/** Where the pair's exchange stands. */
export type Exchange =
  | { readonly kind: "syncing" }
  /** It holds nothing and got our whole doc at `heads`: not sent again for them until the pair restarts. */
  | { readonly kind: "snapshot-sent"; readonly heads: A.Heads };

/** Why a sync message to this peer is due at the engine's next #evaluate. */
export const SyncDue = {
  none: "none",
  /** Our doc changed or the pair restarted: sent if we offer sync to this peer unasked. */
  offer: "offer",
  /** It spoke to us and awaits a reply: sent whatever the routing. */
  answer: "answer",
  /** It sent us a change now stored: answered unless the relay of that change already reached it. */
  answerUnlessRelayed: "answer-unless-relayed",
} as const;
export type SyncDue = (typeof SyncDue)[keyof typeof SyncDue];

export interface PeerState {
  readonly id: PeerId;
  /** Automerge's state of the pairwise exchange. */
  sync: A.SyncState;
  lastHeardMs: number;
  /** `sync` moved since it was last written to the store. */
  syncStateUnsaved: boolean;
  role: PeerRole;
  exchange: Exchange;
  due: SyncDue;
  /**
   * Heads the peer itself last told us it holds (announcement, sync message, snapshot, pushed
   * changes); undefined until it has, or when it named too many to list. What `convergedWith` reads.
   */
  heardHeads?: A.Heads;
}

const DEVICE: PeerRole = { kind: "device" };
const SYNCING: Exchange = { kind: "syncing" };

export class PeerTable {
  readonly #peers = new Map<PeerId, PeerState>();
  /** This engine is a hub's replica: it offers sync to everyone. */
  readonly #selfIsHub: boolean;

  constructor(selfIsHub: boolean) {
    this.#selfIsHub = selfIsHub;
  }

  get size(): number {
    return this.#peers.size;
  }

  get(id: PeerId): PeerState | undefined {
    return this.#peers.get(id);
  }

  /** In the order peers were first heard: the order #evaluate sends in. */
  all(): IterableIterator<PeerState> {
    return this.#peers.values();
  }

  ids(): PeerId[] {
    return [...this.#peers.keys()].sort();
  }

  add(id: PeerId, sync: A.SyncState, nowMs: number): PeerState {
    const peer: PeerState = {
      id,
      sync,
      lastHeardMs: nowMs,
      syncStateUnsaved: false,
      role: DEVICE,
      exchange: SYNCING,
      due: SyncDue.none,
    };
    this.#peers.set(id, peer);
    return peer;
  }

  forget(id: PeerId): void {
    this.#peers.delete(id);
  }

  /**
   * Whether we offer sync to this peer unasked. A device a hub hears offers to hubs only: with a
   * hub, leaf-to-leaf messages are refused by NATS anyway (and would be N² work). A device no hub
   * hears (a bridge client whose messages the hub's NATS does not carry) syncs with anyone.
   */
  offersTo(peer: PeerState): boolean {
    if (this.#selfIsHub || peer.role.kind === "hub") return true;
    return !this.hubHearsUs();
  }

  /** Some hub has sent us sync: the other devices reach us through the hubs. */
  hubHearsUs(): boolean {
    for (const other of this.#peers.values()) if (other.role.kind === "hub" && other.role.hearsUs) return true;
    return false;
  }
}

export function noteAnnouncement(peer: PeerState, announcedHub: boolean): void {
  if (!announcedHub) peer.role = DEVICE;
  else if (peer.role.kind !== "hub") peer.role = { kind: "hub", hearsUs: false };
}

/** It sent us sync (a message or a snapshot): our state for the pair moved, and a hub now hears us. */
export function noteSyncFrom(peer: PeerState): void {
  peer.syncStateUnsaved = true;
  if (peer.role.kind === "hub") peer.role = { kind: "hub", hearsUs: true };
}

/** The peer told us its heads (`complete`: the whole list, not the first ANNOUNCE_HEADS_MAX of more). */
export function noteHeardHeads(peer: PeerState, heads: A.Heads, complete: boolean): void {
  peer.heardHeads = complete ? heads : undefined;
}

/** Starts a pair's exchange afresh: what was in flight (a snapshot included) may be lost. */
export function restartExchange(peer: PeerState): void {
  peer.sync = A.decodeSyncState(A.encodeSyncState(peer.sync));
  peer.exchange = SYNCING;
}

export function snapshotAlreadySent(peer: PeerState, heads: A.Heads): boolean {
  return peer.exchange.kind === "snapshot-sent" && sameHeads(peer.exchange.heads, heads);
}

/**
 * True when the peer last told us heads equal to ours (an announcement, pushed changes), or its
 * sync state says so: heads equal to ours and the pair's shared heads are ours. Nothing to exchange.
 */
export function inStep(peer: PeerState, ourHeads: A.Heads): boolean {
  if (peer.heardHeads !== undefined && sameHeads(ourHeads, peer.heardHeads)) return true;
  return sameHeads(ourHeads, peer.sync.theirHeads ?? []) && sameHeads(ourHeads, peer.sync.sharedHeads);
}

/** The pair's sync state as stored, or a fresh one when there is none or it cannot be trusted. */
export async function restoredSyncState(store: DocStore, id: PeerId, doc: Doc, log: Log): Promise<A.SyncState> {
  const stored = await store.loadSyncState(id).catch(() => undefined); // unreadable is the same as absent: a fresh exchange
  if (!stored) return A.initSyncState();
  let sync: A.SyncState;
  try {
    sync = A.decodeSyncState(stored);
  } catch {
    log.warn({ peer: id }, "stored sync state unreadable; starting afresh");
    return A.initSyncState();
  }
  // After a crash the state may name changes the stored doc never kept (saved just before the
  // kill, the doc not yet): the peer would then never resend them and the two would stall apart.
  if (!A.hasHeads(doc, sync.sharedHeads)) {
    log.warn(
      { peer: id },
      "stored sync state names changes this device does not have (after a crash?); starting afresh",
    );
    return A.initSyncState();
  }
  return sync;
}
