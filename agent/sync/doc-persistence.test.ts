import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { DocPersistence } from "./doc-persistence.js";
import { SnapshotCache } from "./snapshots.js";
import { MemoryBlobStore } from "../vault/store/blob-store.js";
import { silentLog } from "./ports.js";
import type { ChangeEvent } from "./doc-changes.js";
import { MemoryStore } from "../vault/store/memory-store.js";
import { applyFileOps, createVaultDoc, readEntry, type Doc } from "../vault/model/vault-doc.js";
import { loadDoc } from "../vault/model/load.js";
import { sha256Hex, utf8Encode } from "../vault/model/bytes.js";

const actor = (n: number) => n.toString(16).padStart(32, "0");

/** A MemoryStore whose writes fail while `failing` is set, as a full disk does. */
class FailingStore extends MemoryStore {
  failing = false;
  override async append(chunk: Uint8Array): Promise<void> {
    if (this.failing) throw new Error("disk full");
    return super.append(chunk);
  }
  override async replace(full: Uint8Array): Promise<void> {
    if (this.failing) throw new Error("disk full");
    return super.replace(full);
  }
}

class FailingBlobStore extends MemoryBlobStore {
  failing = false;
  override async put(hash: string, bytes: Uint8Array): Promise<void> {
    if (this.failing) throw new Error("disk full");
    return super.put(hash, bytes);
  }
}

function rig(compactAfterChunks = 500) {
  const store = new FailingStore();
  const blobs = new FailingBlobStore();
  const reported: ChangeEvent[] = [];
  const persistence = new DocPersistence({
    store,
    blobs,
    snapshots: new SnapshotCache(),
    log: silentLog,
    compactAfterChunks,
    onReport: (e) => reported.push(e),
  });
  return { store, blobs, reported, persistence };
}

const edit = (doc: Doc, path: string, text: string) =>
  applyFileOps(doc, [{ type: "put", path, bytes: utf8Encode(text), mtime: 1 }], { time: 1, by: "me" });
const event = (doc: Doc, paths: string[]): ChangeEvent => ({
  origin: "local",
  paths,
  merges: [],
  heads: A.getHeads(doc),
  before: [],
});
const textIn = (doc: Doc, path: string) => new TextDecoder().decode(readEntry(doc, path)?.bytes);

describe("DocPersistence", () => {
  it("appends one incremental save per change and compacts into a full save after compactAfterChunks", async () => {
    const { store, persistence } = rig(2);
    let doc = createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1));
    for (const n of [1, 2, 3]) {
      doc = edit(doc, "a.md", `v${n}`);
      await persistence.save(doc);
    }
    assert.equal(store.chunks.length, 1, "the third save replaced the log with one full save");
    doc = edit(doc, "a.md", "v4");
    await persistence.save(doc);
    assert.equal(store.chunks.length, 2);
    assert.equal(textIn(loadDoc(store.chunks, actor(9)), "a.md"), "v4");
  });

  it("stores a change made before a snapshot (a clone's full save) with the next save", async () => {
    const { store, persistence } = rig();
    const snapshots = new SnapshotCache();
    let doc = createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1));
    await persistence.save(doc);
    doc = edit(doc, "before-snapshot.md", "x");
    snapshots.of(doc); // A.save: Automerge's own "saved" mark moves past the unsaved change
    doc = edit(doc, "after-snapshot.md", "y");
    await persistence.save(doc);
    const stored = loadDoc(store.chunks, actor(9));
    assert.equal(textIn(stored, "before-snapshot.md"), "x");
    assert.equal(textIn(stored, "after-snapshot.md"), "y");
  });

  it("makes the save after a failed one a full save, so the lost change is stored too", async () => {
    const { store, persistence } = rig();
    let doc = createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1));
    await persistence.save(doc);
    doc = edit(doc, "lost.md", "x");
    store.failing = true;
    await assert.rejects(persistence.save(doc), /disk full/);
    assert.equal(persistence.hasUnsaved, true);
    store.failing = false;
    doc = edit(doc, "next.md", "y");
    await persistence.save(doc);
    assert.equal(persistence.hasUnsaved, false);
    assert.equal(store.chunks.length, 1);
    const stored = loadDoc(store.chunks, actor(9));
    assert.equal(textIn(stored, "lost.md"), "x");
    assert.equal(textIn(stored, "next.md"), "y");
  });

  it("reports a change only once a save has stored it", async () => {
    const { store, reported, persistence } = rig();
    const doc = edit(createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)), "a.md", "x");
    persistence.awaitSave(event(doc, ["a.md"]));
    store.failing = true;
    await assert.rejects(persistence.save(doc));
    persistence.reportIfSaved();
    assert.equal(reported.length, 0);
    store.failing = false;
    await persistence.save(doc);
    persistence.reportIfSaved();
    assert.deepEqual(
      reported.map((e) => e.paths),
      [["a.md"]],
    );
  });

  it("stores a held blob before the change naming it, and saves nothing while the blob cannot be stored", async () => {
    const { store, blobs, persistence } = rig();
    const doc = createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1));
    await persistence.save(doc);
    const chunksBefore = store.chunks.length;
    const bytes = new Uint8Array([1, 2, 3]);
    const hash = sha256Hex(bytes);
    persistence.holdBlobs(new Map([[hash, bytes]]));
    blobs.failing = true;
    await assert.rejects(persistence.save(edit(doc, "a.md", "x")), /disk full/);
    assert.equal(store.chunks.length, chunksBefore);
    assert.equal(persistence.hasUnsaved, true);
    blobs.failing = false;
    await persistence.flushBlobs();
    assert.equal(persistence.holdsBlobs, false);
    assert.deepEqual(await blobs.get(hash), bytes);
  });

  it("stores a loaded snapshot's bytes as they came, followed by what changed after the load", async () => {
    const { store, persistence } = rig();
    const source = edit(createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)), "a.md", "x");
    const bytes = A.save(source);
    let doc: Doc = A.load(bytes, { actor: actor(2) as A.ActorId });
    persistence.loadedFrom(bytes, A.getHeads(doc));
    assert.equal(persistence.loadedSnapshotUnsaved, true);
    doc = edit(doc, "b.md", "y");
    await persistence.save(doc);
    assert.equal(persistence.loadedSnapshotUnsaved, false);
    assert.deepEqual(store.chunks[0], bytes);
    assert.equal(store.chunks.length, 2);
    assert.equal(textIn(loadDoc(store.chunks, actor(9)), "b.md"), "y");
  });
});
