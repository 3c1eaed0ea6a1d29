import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SyncEngine } from "./engine.js";
import { BlobFetcher } from "./blob-fetch.js";
import { silentLog } from "./ports.js";
import { MemoryBus } from "./memory-bus.js";
import { asPeerId, type PeerId, type Transport } from "./ports.js";
import { MemoryBlobStore } from "../vault/store/blob-store.js";
import { decodeMessage, encodeMessage } from "./messages.js";
import { MemoryStore } from "../vault/store/memory-store.js";
import { createVaultDoc, emptyVaultDoc, readStored } from "../vault/model/vault-doc.js";
import { sha256Hex } from "../vault/model/bytes.js";
import { referencedBlobs } from "../vault/model/blob-refs.js";
import * as A from "@automerge/automerge";

const actor = (n: number) => n.toString(16).padStart(32, "0");
const png = (n: number, seed = 7) =>
  Uint8Array.from({ length: n }, (_, i) => (i === 0 ? 0 : (i * seed + (i >> 8)) & 0xff));

async function settle(...engines: SyncEngine[]) {
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setImmediate(r));
    await Promise.all(engines.map((e) => e.flush()));
  }
}

/** A bus member that drops every message while `lossy` says so (the bus is at-most-once). */
function lossy(inner: Transport, drop: { on: boolean }): Transport {
  return {
    ...inner,
    send: (to, m) => void (drop.on || inner.send(to, m)),
    broadcast: (m) => void (drop.on || inner.broadcast(m)),
    start: (h) => inner.start(h),
    stop: () => inner.stop(),
  };
}

function pair(options: { chunk?: number } = {}) {
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  const bus = new MemoryBus();
  const drop = { on: false };
  const paths: string[] = [];
  const hubBlobs = new MemoryBlobStore();
  const leafBlobs = new MemoryBlobStore();
  const hub = new SyncEngine({
    self: asPeerId("hub"),
    doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
    store: new MemoryStore(),
    blobs: hubBlobs,
    transport: bus.transport(asPeerId("hub")),
    clock,
    blobChunkBytes: options.chunk,
  });
  const leafStore = new MemoryStore();
  const leaf = new SyncEngine({
    self: asPeerId("leaf"),
    doc: emptyVaultDoc(actor(2)),
    store: leafStore,
    blobs: leafBlobs,
    transport: lossy(bus.transport(asPeerId("leaf")), drop),
    clock,
    blobChunkBytes: options.chunk,
    onChange: (event) => void (event.origin === "remote" && paths.push(...event.paths)),
  });
  return { hub, leaf, hubBlobs, leafBlobs, leafStore, paths, drop, advance: (ms: number) => (now += ms), bus };
}

describe("blobs over the sync bus", () => {
  it("stores a binary file's bytes as a blob, not in the doc, and fetches it on the other device in chunks", async () => {
    const { hub, leaf, hubBlobs, leafBlobs, leafStore, paths } = pair({ chunk: 1000 });
    const bytes = png(50_000);
    await hub.start();
    await leaf.start();
    await hub.change([{ type: "put", path: "img/a.png", bytes, mtime: 1 }]);
    assert.equal(await hubBlobs.has(sha256Hex(bytes)), true);
    await settle(hub, leaf);
    assert.deepEqual(await leafBlobs.get(sha256Hex(bytes)), bytes);
    assert.equal(String(readStored(leaf.doc, "img/a.png")?.blob), sha256Hex(bytes));
    assert.ok(paths.filter((p) => p === "img/a.png").length >= 2, "the path is reported again once its blob is here");
    const docBytes = (await leafStore.load()).reduce((n, c) => n + c.length, 0);
    assert.ok(docBytes < 10_000, `the doc holds ${docBytes} bytes for a 50 kB binary`);
    assert.ok(leaf.stats.blobsIn === 1 && hub.stats.blobsOut >= 1);
  });

  it("asks again on tick, with backoff, when the want or the chunks were lost", async () => {
    const { hub, leaf, leafBlobs, drop, advance } = pair({ chunk: 4096 });
    const bytes = png(20_000, 13);
    await hub.start();
    await leaf.start();
    await settle(hub, leaf);
    drop.on = true; // the leaf's want is lost
    await hub.change([{ type: "put", path: "b.bin", bytes, mtime: 1 }]);
    await settle(hub, leaf);
    assert.equal(await leafBlobs.has(sha256Hex(bytes)), false);
    assert.deepEqual(leaf.missingBlobs, [sha256Hex(bytes)]);
    drop.on = false;
    await leaf.tick(); // too early: backoff
    await settle(hub, leaf);
    assert.equal(await leafBlobs.has(sha256Hex(bytes)), false);
    advance(5_000);
    await leaf.tick();
    await settle(hub, leaf);
    assert.deepEqual(await leafBlobs.get(sha256Hex(bytes)), bytes);
    assert.deepEqual(leaf.missingBlobs, []);
  });

  it("never serves a blob the doc does not reference, and ignores chunks nobody asked for", async () => {
    const { hub, hubBlobs, bus } = pair();
    const secret = png(100, 3);
    await hubBlobs.put(sha256Hex(secret), secret);
    await hub.start();
    const got: Uint8Array[] = [];
    const probe = bus.transport(asPeerId("probe"));
    await probe.start({ onMessage: (_from: PeerId, m: Uint8Array) => void got.push(m) });
    await hub.receive(asPeerId("probe"), encodeMessage({ type: "blob-want", hashes: [sha256Hex(secret)] }));
    await settle(hub);
    assert.equal(got.filter((m) => decodeMessage(m)?.type === "blob").length, 0);
    const junk = png(10, 5);
    await hub.receive(
      asPeerId("probe"),
      encodeMessage({ type: "blob", hash: sha256Hex(junk), offset: 0, total: 10, chunk: junk }),
    );
    assert.equal(await hubBlobs.has(sha256Hex(junk)), false);
  });

  it("rejects reassembled bytes that do not match their hash and keeps wanting the blob", async () => {
    const { hub, leaf, leafBlobs, drop, advance } = pair();
    const bytes = png(3000, 11);
    await hub.start();
    await leaf.start();
    await settle(hub, leaf);
    drop.on = true; // the leaf's want is lost: the blob stays wanted
    await hub.change([{ type: "put", path: "c.bin", bytes, mtime: 1 }]);
    await settle(hub, leaf);
    assert.deepEqual(leaf.missingBlobs, [sha256Hex(bytes)]);
    // A hostile peer answers with bytes of the right size but the wrong content.
    const forged = new Uint8Array(bytes.length).fill(1);
    await leaf.receive(
      asPeerId("mallory"),
      encodeMessage({ type: "blob", hash: sha256Hex(bytes), offset: 0, total: bytes.length, chunk: forged }),
    );
    assert.equal(await leafBlobs.has(sha256Hex(bytes)), false);
    assert.equal(leaf.stats.blobsRejected, 1);
    drop.on = false;
    advance(5_000);
    await leaf.tick();
    await settle(hub, leaf);
    assert.deepEqual(await leafBlobs.get(sha256Hex(bytes)), bytes);
  });

  it("relays a new attachment through a hub that is still fetching it, without waiting for a retry", async () => {
    const clock = { now: () => 1_700_000_000_000 };
    const bus = new MemoryBus();
    /** Leaves hear only the hub, as NATS permissions arrange it behind a hub. */
    const viaHub = (self: string): Transport => {
      const inner = bus.transport(asPeerId(self));
      return {
        ...inner,
        start: (h) =>
          inner.start({
            ...h,
            onMessage: (from, m) => (self === "hub" || from === "hub" ? h.onMessage(from, m) : undefined),
          }),
        stop: () => inner.stop(),
      };
    };
    const blobs = { hub: new MemoryBlobStore(), a: new MemoryBlobStore(), b: new MemoryBlobStore() };
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      hub: true,
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      blobs: blobs.hub,
      transport: viaHub("hub"),
      clock,
      blobChunkBytes: 500,
    });
    const a = new SyncEngine({
      self: asPeerId("a"),
      doc: emptyVaultDoc(actor(2)),
      store: new MemoryStore(),
      blobs: blobs.a,
      transport: viaHub("a"),
      clock,
      blobChunkBytes: 500,
    });
    const b = new SyncEngine({
      self: asPeerId("b"),
      doc: emptyVaultDoc(actor(3)),
      store: new MemoryStore(),
      blobs: blobs.b,
      transport: viaHub("b"),
      clock,
      blobChunkBytes: 500,
    });
    for (const e of [hub, a, b]) await e.start();
    await settle(hub, a, b);
    const bytes = png(4_000, 17);
    await a.change([{ type: "put", path: "scan.pdf", bytes, mtime: 1 }]);
    await settle(hub, a, b); // no tick: nothing is asked twice
    assert.deepEqual(await blobs.hub.get(sha256Hex(bytes)), bytes);
    assert.deepEqual(await blobs.b.get(sha256Hex(bytes)), bytes);
  });

  it("keeps at most the in-flight limit asked for, and asks for the next as each arrives", async () => {
    const sent: { to?: PeerId; hashes: string[] }[] = [];
    const record = (to: PeerId | undefined, m: Uint8Array) => {
      const decoded = decodeMessage(m);
      if (decoded?.type === "blob-want") sent.push({ to, hashes: decoded.hashes });
    };
    const store = new MemoryBlobStore();
    const fetcher = new BlobFetcher({
      store,
      clock: { now: () => 0 },
      log: silentLog,
      chunkBytes: 100,
      blobBytesMax: 10_000,
      inflightMax: 3,
      inflightBytesMax: 1_000_000,
      send: (to, m) => record(to, m),
      broadcast: (m) => record(undefined, m),
      mayServe: () => false,
      onStored: async () => {},
    });
    const blobs = Array.from({ length: 7 }, (_, i) => png(250, i + 2));
    await fetcher.want(
      blobs.map((b) => ({ hash: sha256Hex(b), size: b.length })),
      asPeerId("hub"),
    );
    assert.deepEqual(sent, [{ to: "hub", hashes: blobs.slice(0, 3).map(sha256Hex) }]);
    fetcher.tick(); // nothing is due: all three are in flight, the rest wait for room
    assert.equal(sent.length, 1);
    const first = blobs[0];
    for (let offset = 0; offset < first.length; offset += 100) {
      await fetcher.onMessage(asPeerId("hub"), {
        type: "blob",
        hash: sha256Hex(first),
        offset,
        total: first.length,
        chunk: first.subarray(offset, offset + 100),
      });
    }
    assert.deepEqual(await store.get(sha256Hex(first)), first);
    assert.deepEqual(sent[1], { to: "hub", hashes: [sha256Hex(blobs[3])] });
    assert.equal(fetcher.missing.length, 6);
  });

  it("does not let blobs no peer has starve the others: a re-asked blob goes to the back of the line", () => {
    let now = 0;
    const asked: string[][] = [];
    const fetcher = new BlobFetcher({
      store: new MemoryBlobStore(),
      clock: { now: () => now },
      log: silentLog,
      chunkBytes: 100,
      blobBytesMax: 10_000,
      inflightMax: 3,
      send: () => {},
      broadcast: (m) => void asked.push((decodeMessage(m) as { hashes: string[] }).hashes),
      mayServe: () => false,
      onStored: async () => {},
    });
    const hashes = Array.from({ length: 4 }, (_, i) => sha256Hex(png(50, i + 3)));
    return fetcher.want(hashes.map((hash) => ({ hash, size: 50 }))).then(() => {
      assert.deepEqual(asked, [hashes.slice(0, 3)]);
      now = 2_500; // nobody answered; their first retry is due
      fetcher.tick();
      assert.deepEqual(asked[1], [hashes[3], hashes[0], hashes[1]]);
    });
  });

  it("finds every blob the history referenced, including overwritten ones", async () => {
    const { hub } = pair();
    const first = png(500, 3);
    const second = png(500, 5);
    await hub.change([{ type: "put", path: "d.bin", bytes: first, mtime: 1 }]);
    await hub.change([{ type: "put", path: "d.bin", bytes: second, mtime: 2 }]);
    await hub.change([{ type: "put", path: "t.md", bytes: new TextEncoder().encode("text stays inline"), mtime: 3 }]);
    assert.deepEqual([...referencedBlobs(hub.doc)].sort(), [sha256Hex(first), sha256Hex(second)].sort());
    assert.equal(A.getHeads(hub.doc).length, 1);
  });
});
