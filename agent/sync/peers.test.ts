import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import {
  PeerTable,
  inStep,
  noteAnnouncement,
  noteSyncFrom,
  restartExchange,
  restoredSyncState,
  snapshotAlreadySent,
} from "./peers.js";
import { asPeerId, silentLog } from "./ports.js";
import { MemoryStore } from "../vault/store/memory-store.js";
import { createVaultDoc, emptyVaultDoc } from "../vault/model/vault-doc.js";

const actor = (n: number) => n.toString(16).padStart(32, "0");

function table(selfIsHub = false) {
  const peers = new PeerTable(selfIsHub);
  const add = (name: string) => peers.add(asPeerId(name), A.initSyncState(), 0);
  return { peers, add };
}

describe("peer routing (PeerTable.offersTo)", () => {
  it("offers sync to everyone while no hub hears this device", () => {
    const { peers, add } = table();
    const leaf = add("leaf");
    const hub = add("hub");
    noteAnnouncement(hub, true);
    assert.equal(peers.offersTo(leaf), true);
    assert.equal(peers.offersTo(hub), true);
  });

  it("offers sync to hubs only once a hub has sent this device sync", () => {
    const { peers, add } = table();
    const leaf = add("leaf");
    const hub = add("hub");
    noteAnnouncement(hub, true);
    noteSyncFrom(hub);
    assert.equal(peers.offersTo(leaf), false);
    assert.equal(peers.offersTo(hub), true);
  });

  it("does not count sync from a device as a hub hearing us", () => {
    const { peers, add } = table();
    const leaf = add("leaf");
    const other = add("other");
    noteSyncFrom(other);
    assert.equal(peers.offersTo(leaf), true);
  });

  it("offers sync to everyone when this engine is a hub", () => {
    const { peers, add } = table(true);
    const leaf = add("leaf");
    const hub = add("hub2");
    noteAnnouncement(hub, true);
    noteSyncFrom(hub);
    assert.equal(peers.offersTo(leaf), true);
  });

  it("keeps a hub's hearing across its repeated announcements", () => {
    const { add } = table();
    const hub = add("hub");
    noteAnnouncement(hub, true);
    noteSyncFrom(hub);
    noteAnnouncement(hub, true);
    assert.deepEqual(hub.role, { kind: "hub", hearsUs: true });
  });
});

describe("peer exchange", () => {
  it("marks the sync state unsaved when the peer sends sync", () => {
    const { add } = table();
    const peer = add("p");
    assert.equal(peer.syncStateUnsaved, false);
    noteSyncFrom(peer);
    assert.equal(peer.syncStateUnsaved, true);
  });

  it("forgets a sent snapshot when the pair restarts", () => {
    const { add } = table();
    const peer = add("p");
    peer.exchange = { kind: "snapshot-sent", heads: ["b", "a"] };
    assert.equal(snapshotAlreadySent(peer, ["a", "b"]), true);
    assert.equal(snapshotAlreadySent(peer, ["a"]), false);
    restartExchange(peer);
    assert.equal(snapshotAlreadySent(peer, ["a", "b"]), false);
  });

  it("is in step only when the peer's heads and the shared heads are ours", () => {
    const { add } = table();
    const peer = add("p");
    assert.equal(inStep(peer, ["h"]), false); // its heads not heard yet
    peer.sync = { ...peer.sync, theirHeads: ["h"], sharedHeads: ["h"] };
    assert.equal(inStep(peer, ["h"]), true);
    peer.sync = { ...peer.sync, sharedHeads: [] };
    assert.equal(inStep(peer, ["h"]), false);
  });
});

describe("restoredSyncState", () => {
  it("starts afresh when the stored state names changes the doc does not have", async () => {
    const store = new MemoryStore();
    const full = createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1));
    const state = { ...A.initSyncState(), sharedHeads: A.getHeads(full) };
    await store.saveSyncState(asPeerId("p"), A.encodeSyncState(state));
    const restored = await restoredSyncState(store, asPeerId("p"), emptyVaultDoc(actor(2)), silentLog);
    assert.deepEqual(restored.sharedHeads, []);
    const kept = await restoredSyncState(store, asPeerId("p"), full, silentLog);
    assert.deepEqual(kept.sharedHeads, A.getHeads(full));
  });

  it("starts afresh when the stored state is unreadable", async () => {
    const store = new MemoryStore();
    await store.saveSyncState(asPeerId("p"), new Uint8Array([1, 2, 3]));
    const restored = await restoredSyncState(store, asPeerId("p"), emptyVaultDoc(actor(2)), silentLog);
    assert.deepEqual(restored.sharedHeads, []);
  });
});
