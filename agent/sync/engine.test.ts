import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SyncEngine } from "./engine.js";
import { MemoryBus } from "./memory-bus.js";
import { asPeerId, type Clock } from "./ports.js";
import { MemoryStore } from "../vault/store/memory-store.js";
import { MemoryBlobStore } from "../vault/store/blob-store.js";
import { createVaultDoc, emptyVaultDoc, readEntry, fileHashes } from "../vault/model/vault-doc.js";
import { loadDoc } from "../vault/model/load.js";
import { utf8Encode } from "../vault/model/bytes.js";
import { decodeMessage } from "./messages.js";
import type { Transport } from "./ports.js";

const clock: Clock = { now: () => 1_700_000_000_000 };
const actor = (n: number) => n.toString(16).padStart(32, "0");
const text = (engine: SyncEngine, path: string) => new TextDecoder().decode(readEntry(engine.doc, path)?.bytes);

async function settle(...engines: SyncEngine[]) {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
    await Promise.all(engines.map((e) => e.flush()));
  }
}

function pair() {
  const bus = new MemoryBus();
  const hubStore = new MemoryStore();
  const hub = new SyncEngine({
    self: asPeerId("hub"),
    doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
    store: hubStore,
    transport: bus.transport(asPeerId("hub")),
    clock,
  });
  const leaf = new SyncEngine({
    self: asPeerId("leaf"),
    doc: emptyVaultDoc(actor(2)),
    store: new MemoryStore(),
    transport: bus.transport(asPeerId("leaf")),
    clock,
  });
  return { bus, hub, leaf, hubStore };
}

describe("SyncEngine", () => {
  it("brings an empty clone to the creator's files", async () => {
    const { hub, leaf } = pair();
    await hub.start();
    await hub.change([{ type: "put", path: "a.md", bytes: utf8Encode("hello"), mtime: 1 }]);
    await leaf.start();
    await settle(hub, leaf);
    assert.equal(text(leaf, "a.md"), "hello");
  });

  it("sends an empty clone one snapshot instead of sync messages; the clone stores it and both end in step", async () => {
    const bus = new MemoryBus();
    const sent: string[] = [];
    const hubTransport = watched(bus.transport(asPeerId("hub")), (type, bytes) => sent.push(`${type}:${bytes}`));
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: hubTransport,
      clock,
    });
    await hub.start();
    await hub.change(
      Array.from({ length: 40 }, (_, i) => ({
        type: "put" as const,
        path: `n/${i}.md`,
        bytes: utf8Encode(`note ${i}\n`.repeat(50)),
        mtime: 1,
      })),
    );
    const leafStore = new MemoryStore();
    const leaf = new SyncEngine({
      self: asPeerId("leaf"),
      doc: emptyVaultDoc(actor(2)),
      store: leafStore,
      transport: bus.transport(asPeerId("leaf")),
      clock,
    });
    await leaf.start();
    await settle(hub, leaf);
    assert.equal(text(leaf, "n/39.md"), "note 39\n".repeat(50));
    assert.ok(
      leaf.convergedWith(asPeerId("hub")) && hub.convergedWith(asPeerId("leaf")),
      "both sides see they are in step",
    );
    assert.equal(sent.filter((m) => m.startsWith("snapshot:")).length, 1, `one snapshot: ${sent.join(" ")}`);
    // The doc's contents went in the snapshot only: no sync message carried them as well.
    const snapshotBytes = Number(sent.find((m) => m.startsWith("snapshot:"))?.split(":")[1]);
    assert.ok(
      sent.filter((m) => m.startsWith("sync:")).every((m) => Number(m.split(":")[1]) < snapshotBytes / 4),
      sent.join(" "),
    );
    // Stored as it came, and what follows is stored after it (the log holds only the new change).
    await hub.change([{ type: "put", path: "later.md", bytes: utf8Encode("after the clone"), mtime: 2 }]);
    await settle(hub, leaf);
    const stored = await leafStore.load();
    assert.equal(stored.length, 2);
    assert.ok(stored[1].length < 2000, `the log after the snapshot holds ${stored[1].length} bytes`);
    const reloaded = loadDoc(stored, actor(3));
    assert.equal(new TextDecoder().decode(readEntry(reloaded, "n/7.md")?.bytes), "note 7\n".repeat(50));
    assert.equal(new TextDecoder().decode(readEntry(reloaded, "later.md")?.bytes), "after the clone");
  });

  it("sends the snapshot again when the first was lost, after the clone's next announcement", async () => {
    const bus = new MemoryBus();
    let now = 1_700_000_000_000;
    const ticking: Clock = { now: () => now };
    let dropped = 0;
    const hubTransport = watched(
      bus.transport(asPeerId("hub")),
      () => {},
      (type) => type === "snapshot" && dropped++ === 0,
    );
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: hubTransport,
      clock: ticking,
    });
    await hub.start();
    await hub.change([{ type: "put", path: "a.md", bytes: utf8Encode("hello"), mtime: 1 }]);
    const leaf = new SyncEngine({
      self: asPeerId("leaf"),
      doc: emptyVaultDoc(actor(2)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("leaf")),
      clock: ticking,
    });
    await leaf.start();
    await settle(hub, leaf);
    assert.equal(dropped, 1);
    assert.equal(readEntry(leaf.doc, "a.md"), undefined, "the only snapshot was lost");
    now += 5_000;
    await leaf.tick();
    await settle(hub, leaf);
    assert.equal(text(leaf, "a.md"), "hello");
    assert.ok(leaf.convergedWith(asPeerId("hub")));
  });

  it("keeps a snapshot ready once the doc is quiet (snapshotWhenQuietMs): a clone gets it without a save on request", async () => {
    const bus = new MemoryBus();
    let now = 1_700_000_000_000;
    const ticking: Clock = { now: () => now };
    const sent: string[] = [];
    const hubTransport = watched(bus.transport(asPeerId("hub")), (type) => sent.push(type));
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: hubTransport,
      clock: ticking,
      hub: true,
      snapshotWhenQuietMs: 1_000,
    });
    await hub.start();
    await hub.change([{ type: "put", path: "a.md", bytes: utf8Encode("hello"), mtime: 1 }]);
    now += 500;
    await hub.tick();
    assert.equal(hub.stats.snapshotsMade, 0, "not quiet long enough yet");
    now += 600;
    await hub.tick();
    assert.equal(hub.stats.snapshotsMade, 1, "made once the doc was quiet");
    await hub.tick();
    assert.equal(hub.stats.snapshotsMade, 1, "and not again for the same doc");
    const leaf = new SyncEngine({
      self: asPeerId("leaf"),
      doc: emptyVaultDoc(actor(2)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("leaf")),
      clock: ticking,
    });
    await leaf.start();
    await settle(hub, leaf);
    assert.equal(text(leaf, "a.md"), "hello");
    assert.equal(sent.filter((t) => t === "snapshot").length, 1);
    assert.equal(hub.stats.snapshotsMade, 1, "the clone got the snapshot made ahead");
    // A change makes it stale: the next quiet spell replaces it.
    await hub.change([{ type: "put", path: "b.md", bytes: utf8Encode("more"), mtime: 2 }]);
    now += 2_000;
    await hub.tick();
    assert.equal(hub.stats.snapshotsMade, 2);
  });

  it("makes no snapshot ahead of need unless asked to (a device that is not a hub)", async () => {
    let now = 1_700_000_000_000;
    const device = new SyncEngine({
      self: asPeerId("d"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: new MemoryBus().transport(asPeerId("d")),
      clock: { now: () => now },
    });
    await device.start();
    await device.change([{ type: "put", path: "a.md", bytes: utf8Encode("hello"), mtime: 1 }]);
    now += 3_600_000;
    await device.tick();
    assert.equal(device.stats.snapshotsMade, 0);
  });

  it("drops a snapshot that is not an Automerge document and keeps syncing", async () => {
    const { hub, leaf, bus } = pair();
    await hub.start();
    await hub.change([{ type: "put", path: "a.md", bytes: utf8Encode("hello"), mtime: 1 }]);
    await leaf.start();
    bus.transport(asPeerId("mallory")).send(asPeerId("leaf"), Uint8Array.of(1, 5, 0x85, 0x6f, 0x4a, 0x83, 1, 2, 3));
    await settle(hub, leaf);
    assert.equal(text(leaf, "a.md"), "hello");
    assert.ok(leaf.stats.dropped >= 1);
  });

  it("reports remote paths to onChange so the folder binding can write them", async () => {
    const bus = new MemoryBus();
    const seen: string[] = [];
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("hub")),
      clock,
    });
    const leaf = new SyncEngine({
      self: asPeerId("leaf"),
      doc: emptyVaultDoc(actor(2)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("leaf")),
      clock,
      onChange: (event) => {
        if (event.origin === "remote") seen.push(...event.paths);
      },
    });
    await hub.start();
    await leaf.start();
    await settle(hub, leaf);
    await hub.change([{ type: "put", path: "x/y.md", bytes: utf8Encode("1"), mtime: 1 }]);
    await settle(hub, leaf);
    assert.equal(text(leaf, "x/y.md"), "1");
    assert.deepEqual(seen, ["x/y.md"]);
  });

  it("reports a remote change whose save failed once a later save succeeds (dst seed 0x1967: a full disk hid an authorized_keys change)", async () => {
    const bus = new MemoryBus();
    const seen: string[] = [];
    const leafStore = new MemoryStore();
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("hub")),
      clock,
    });
    const leaf = new SyncEngine({
      self: asPeerId("leaf"),
      doc: emptyVaultDoc(actor(2)),
      store: leafStore,
      transport: bus.transport(asPeerId("leaf")),
      clock,
      onChange: (event) => {
        if (event.origin === "remote") seen.push(...event.paths);
      },
    });
    await hub.start();
    await leaf.start();
    await settle(hub, leaf);
    const append = leafStore.append.bind(leafStore);
    const replace = leafStore.replace.bind(leafStore);
    leafStore.append = () => Promise.reject(new Error("ENOSPC: disk full"));
    leafStore.replace = () => Promise.reject(new Error("ENOSPC: disk full"));
    await hub.change([{ type: "put", path: "authorized_keys", bytes: utf8Encode("ssh-ed25519 AAAA new\n"), mtime: 1 }]);
    await settle(hub, leaf);
    assert.equal(text(leaf, "authorized_keys"), "ssh-ed25519 AAAA new\n", "the change is in the leaf's doc");
    assert.deepEqual(seen, [], "not reported while it is not stored");
    leafStore.append = append;
    leafStore.replace = replace;
    await leaf.tick();
    assert.deepEqual(seen, ["authorized_keys"], "reported once the retried save succeeded");
  });

  it("keeps syncing after a binary's blob could not be stored, and stores blob then change on a later tick (dst seed 0x2369)", async () => {
    const bus = new MemoryBus();
    const blobs = new MemoryBlobStore();
    const leafStore = new MemoryStore();
    const stored: string[] = [];
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("hub")),
      clock,
    });
    const leaf = new SyncEngine({
      self: asPeerId("leaf"),
      doc: emptyVaultDoc(actor(2)),
      store: leafStore,
      blobs,
      transport: bus.transport(asPeerId("leaf")),
      clock,
      onChange: (event) => {
        if (event.origin === "local") stored.push(...event.paths);
      },
    });
    await hub.start();
    await leaf.start();
    await settle(hub, leaf);
    const put = blobs.put.bind(blobs);
    blobs.put = () => Promise.reject(new Error("ENOSPC: disk full"));
    const image = new Uint8Array([0xff, 0xd8, 0xff, 0x00, 0x01]);
    await assert.rejects(leaf.change([{ type: "put", path: "photo.jpg", bytes: image, mtime: 1 }]), /ENOSPC/);
    assert.deepEqual(stored, [], "not reported while its blob is not stored");
    // The failed change must leave the leaf's Automerge doc current, or it drops every sync message.
    await hub.change([{ type: "put", path: "a.md", bytes: utf8Encode("from the hub\n"), mtime: 2 }]);
    await settle(hub, leaf);
    assert.equal(text(leaf, "a.md"), "from the hub\n", "the leaf still applies remote changes");
    blobs.put = put;
    await leaf.tick();
    await settle(hub, leaf);
    assert.deepEqual(stored, ["photo.jpg"], "reported once the blob and then the change were stored");
    assert.equal(await blobs.has(readEntry(leaf.doc, "photo.jpg")!.sha256), true);
    assert.ok(
      fileHashes(loadDoc(await leafStore.load(), actor(2))).has("photo.jpg"),
      "the change is in the leaf's store",
    );
    assert.ok(fileHashes(hub.doc).has("photo.jpg"), "and it reached the hub");
  });

  it("sends a leaf's changes to the hub only once it has heard a hub, and every leaf still converges", async () => {
    const bus = new MemoryBus();
    const sent: string[] = [];
    const counting = (self: string) => {
      const transport = bus.transport(asPeerId(self));
      const send = transport.send.bind(transport);
      transport.send = (to, message) => {
        sent.push(`${self}>${to}`);
        send(to, message);
      };
      const broadcast = transport.broadcast.bind(transport);
      transport.broadcast = (message) => {
        if (decodeMessage(message)?.type !== "announce") sent.push(`${self}>*`);
        broadcast(message);
      };
      return transport;
    };
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      hub: true,
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: counting("hub"),
      clock,
    });
    const leaves = [2, 3, 4].map(
      (n) =>
        new SyncEngine({
          self: asPeerId(`leaf${n}`),
          doc: emptyVaultDoc(actor(n)),
          store: new MemoryStore(),
          transport: counting(`leaf${n}`),
          clock,
        }),
    );
    await hub.start();
    for (const leaf of leaves) await leaf.start();
    await settle(hub, ...leaves);
    sent.length = 0;
    await leaves[0].change([{ type: "put", path: "a.md", bytes: utf8Encode("from leaf2"), mtime: 1 }]);
    await settle(hub, ...leaves);
    for (const leaf of leaves) assert.equal(text(leaf, "a.md"), "from leaf2");
    assert.deepEqual(
      sent.filter((s) => /^leaf\d>leaf/.test(s)),
      [],
      "no leaf-to-leaf sync messages",
    );
    // Through the hub: to each other leaf pairwise, or (change-push.ts) in one broadcast.
    const reached = (leaf: string) => sent.includes(`hub>${leaf}`) || sent.includes("hub>*");
    assert.ok(sent.includes("leaf2>hub") && reached("leaf3") && reached("leaf4"), sent.join(" "));
  });

  it("keeps syncing with a device the hub cannot hear, as a bridge client behind a leaf's NATS is", async () => {
    const { hub, leaf, client } = hubDeafToClient();
    for (const engine of [hub, leaf, client]) await engine.start();
    await settle(hub, leaf, client);
    await hub.change([{ type: "put", path: "h.md", bytes: utf8Encode("the hub announces itself"), mtime: 1 }]);
    await settle(hub, leaf, client);
    await leaf.change([{ type: "put", path: "a.md", bytes: utf8Encode("from the leaf"), mtime: 1 }]);
    await settle(hub, leaf, client);
    await client.tick();
    await settle(hub, leaf, client);
    assert.equal(text(client, "a.md"), "from the leaf");
    await client.change([{ type: "put", path: "b.md", bytes: utf8Encode("from the client"), mtime: 1 }]);
    await settle(hub, leaf, client);
    assert.equal(text(leaf, "b.md"), "from the client");
    assert.equal(text(hub, "b.md"), "from the client");
  });

  it("lets a device that joins later sync through a leaf the hub hears, without waiting for a periodic announcement", async () => {
    const { hub, leaf, client } = hubDeafToClient();
    await hub.start();
    await leaf.start();
    await settle(hub, leaf);
    await leaf.change([{ type: "put", path: "a.md", bytes: utf8Encode("from the leaf"), mtime: 1 }]);
    await settle(hub, leaf);
    // The clock stands still: no periodic announcement of the leaf's reaches the client.
    await client.start();
    await settle(hub, leaf, client);
    assert.equal(text(client, "a.md"), "from the leaf");
  });

  it("re-announces unchanged heads at a doubling interval, and new heads at the base interval again", async () => {
    let now = 1_700_000_000_000;
    const moving: Clock = { now: () => now };
    const announcedAt: number[] = [];
    const bus = new MemoryBus();
    const inner = bus.transport(asPeerId("peer"));
    const peer = new SyncEngine({
      self: asPeerId("peer"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: {
        ...inner,
        start: (handlers) => inner.start(handlers),
        broadcast(message) {
          if (decodeMessage(message)?.type === "announce") announcedAt.push(now - 1_700_000_000_000);
          inner.broadcast(message);
        },
      },
      clock: moving,
      announceIntervalMs: 2_000,
      announceIntervalMaxMs: 8_000,
    });
    await peer.start();
    const tickUntil = async (endMs: number) => {
      for (; now - 1_700_000_000_000 < endMs; now += 500) await peer.tick();
    };
    await tickUntil(30_000);
    assert.deepEqual(announcedAt, [0, 2_000, 6_000, 14_000, 22_000], "0 is the start's announcement");
    announcedAt.length = 0;
    await peer.change([{ type: "put", path: "a.md", bytes: utf8Encode("new heads"), mtime: 1 }]);
    await tickUntil(45_000);
    assert.deepEqual(announcedAt, [30_000, 32_000, 36_000, 44_000], "the change is announced at once");
  });

  it("applies ordinary remote edits without rebuilding the view from a full save", async () => {
    const bus = new MemoryBus();
    const warnings: string[] = [];
    const log = { debug() {}, info() {}, warn: (_fields: object, message: string) => void warnings.push(message) };
    const hub = new SyncEngine({
      self: asPeerId("hub"),
      doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("hub")),
      clock,
      log,
    });
    const leaf = new SyncEngine({
      self: asPeerId("leaf"),
      doc: emptyVaultDoc(actor(2)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("leaf")),
      clock,
      log,
    });
    await hub.start();
    await leaf.start();
    await settle(hub, leaf);
    for (const version of ["1", "2", "3"]) {
      await hub.change([{ type: "put", path: "n.md", bytes: utf8Encode(version), mtime: 1 }]);
      await settle(hub, leaf);
      await leaf.change([{ type: "put", path: "m.md", bytes: utf8Encode(version), mtime: 1 }]);
      await settle(hub, leaf);
    }
    await hub.change([{ type: "delete", path: "m.md" }]);
    await settle(hub, leaf);
    assert.equal(text(leaf, "n.md"), "3");
    assert.equal(readEntry(leaf.doc, "m.md"), undefined);
    assert.deepEqual(
      warnings.filter((w) => w.includes("out of step")),
      [],
    );
  });

  it("stores every change so a restart loads the same files", async () => {
    const { hub, hubStore } = pair();
    await hub.start();
    await hub.change([{ type: "put", path: "a.md", bytes: utf8Encode("one"), mtime: 1 }]);
    await hub.change([
      { type: "put", path: "b.md", bytes: utf8Encode("two"), mtime: 1 },
      { type: "delete", path: "a.md" },
    ]);
    const reloaded = loadDoc(await hubStore.load(), actor(9));
    assert.deepEqual([...fileHashes(reloaded).keys()], ["b.md"]);
  });

  it("drops a malformed frame without crashing and keeps syncing", async () => {
    const { hub, leaf, bus } = pair();
    await hub.start();
    await leaf.start();
    const rogue = bus.transport(asPeerId("rogue"));
    await rogue.start({ onMessage() {} });
    rogue.send(asPeerId("hub"), new Uint8Array([1, 2, 0xff, 0xff]));
    rogue.send(asPeerId("hub"), new Uint8Array([9]));
    await hub.change([{ type: "put", path: "a.md", bytes: utf8Encode("ok"), mtime: 1 }]);
    await settle(hub, leaf);
    assert.equal(text(leaf, "a.md"), "ok");
    assert.ok(hub.stats.dropped >= 2);
  });
});

/**
 * A hub, a leaf and a client on one bus, where the hub never hears the client: a bridge client on
 * the leaf's NATS, whose messages the hub's NATS does not carry. Nothing is started.
 */
function hubDeafToClient() {
  const bus = new MemoryBus();
  const deafHub = bus.transport(asPeerId("hub"));
  const start = deafHub.start.bind(deafHub);
  deafHub.start = (handlers) =>
    start({
      ...handlers,
      onMessage: (from, message) => (from === "client" ? undefined : handlers.onMessage(from, message)),
    });
  const hub = new SyncEngine({
    self: asPeerId("hub"),
    hub: true,
    doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
    store: new MemoryStore(),
    transport: deafHub,
    clock,
  });
  const device = (name: string, n: number) =>
    new SyncEngine({
      self: asPeerId(name),
      doc: emptyVaultDoc(actor(n)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId(name)),
      clock,
    });
  return { hub, leaf: device("leaf", 2), client: device("client", 3) };
}

/** The transport with every outgoing frame's type and size reported, and those `drop` says lost. */
function watched(
  inner: Transport,
  onSend: (type: string, bytes: number) => void,
  drop: (type: string) => boolean = () => false,
): Transport {
  return {
    ...inner,
    start: (handlers) => inner.start(handlers),
    stop: () => inner.stop(),
    send(to, message) {
      const type = decodeMessage(message)?.type ?? "?";
      onSend(type, message.length);
      if (!drop(type)) inner.send(to, message);
    },
    broadcast: (message) => inner.broadcast(message),
  };
}
