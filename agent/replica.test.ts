/**
 * A hub replica's idle unload and its load on demand, on a real disk store and the in-process bus
 * (the NATS path is covered by test/reliability/replica-unload.test.ts).
 */
import { describe, it, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { Replica } from "./replica.js";
import { DiskStore } from "./vault/store/disk-store.js";
import { loadDoc } from "./vault/model/load.js";
import { SyncEngine } from "./sync/engine.js";
import { MemoryBus } from "./sync/memory-bus.js";
import { asPeerId, silentLog, type Clock, type Transport } from "./sync/ports.js";
import { MemoryStore } from "./vault/store/memory-store.js";
import { createVaultDoc, readEntry } from "./vault/model/vault-doc.js";
import { utf8Encode } from "./vault/model/bytes.js";
import { decodeMessage, encodeMessage } from "./sync/messages.js";

const IDLE_MS = 1_000;
let now = 1_700_000_000_000;
const clock: Clock = { now: () => now };
const vault = { id: "0b0e5e0c-1111-4222-8333-444455556666", name: "team" };

/** Polls with a generous deadline: the replica's store is a real disk, with fsyncs. */
async function until(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const text = (engine: SyncEngine | undefined, path: string) =>
  engine && new TextDecoder().decode(readEntry(engine.doc, path)?.bytes);
const put = (path: string, body: string) => [{ type: "put" as const, path, bytes: utf8Encode(body), mtime: 1 }];

/** The bus transport, recording the types of the messages it carries to the replica. */
function recording(transport: Transport, seen: string[]): Transport {
  return {
    ...transport,
    start: (handlers) =>
      transport.start({
        ...handlers,
        onMessage: (from, message) => {
          seen.push(decodeMessage(message)?.type ?? "malformed");
          handlers.onMessage(from, message);
        },
      }),
    send: (to, message) => transport.send(to, message),
    broadcast: (message) => transport.broadcast(message),
    stop: () => transport.stop(),
  };
}

describe("a hub replica unloaded when idle", () => {
  let dir: string;
  let bus: MemoryBus;
  let device: SyncEngine;
  let replica: Replica;
  const toReplica: string[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "es-replica-"));
    bus = new MemoryBus();
    toReplica.length = 0;
    device = new SyncEngine({
      self: asPeerId("device"),
      doc: createVaultDoc({ vaultId: vault.id, name: vault.name, createdAt: 1 }, "01".repeat(16)),
      store: new MemoryStore(),
      transport: bus.transport(asPeerId("device")),
      clock,
    });
    await device.start();
    await device.change(put("a.md", "first\n"));
    replica = await Replica.open({
      dir,
      vault,
      peerId: "hub",
      hub: true,
      transport: recording(bus.transport(asPeerId("hub")), toReplica),
      clock,
      log: silentLog,
      idleUnloadMs: IDLE_MS,
    });
    await until("the replica to hold a.md", () => text(replica.engine, "a.md") === "first\n");
  });

  afterEach(async () => {
    await replica.close();
    await device.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Lets the idle time pass, tick after tick, until the replica unloads (late replies may still arrive). */
  async function idleUntilUnloaded(): Promise<void> {
    await until("the replica to unload", () => {
      if (replica.state === "loaded") {
        now += IDLE_MS + 1;
        replica.tick();
      }
      return replica.state === "unloaded";
    });
  }

  it("stays loaded while it works, and unloads once nothing needed it for the idle time", async () => {
    now += IDLE_MS / 2;
    replica.tick();
    assert.equal(replica.state, "loaded");
    await idleUntilUnloaded();
    assert.equal(replica.engine, undefined);
    assert.equal(replica.ready, true, "an unloaded replica is still listed for clones");
    const memory = replica.memory();
    assert.equal(memory.unloads, 1);
    assert.ok(memory.savedBytes > 0, "the saved document's size is reported");
  });

  it("stays unloaded for announcements of the heads it saved, and answers them with its own", async () => {
    await idleUntilUnloaded();
    const heard: string[] = [];
    const listener = bus.transport(asPeerId("listener"));
    await listener.start({ onMessage: (_from, m) => heard.push(decodeMessage(m)?.type ?? "malformed") });
    now += 2_500;
    await device.tick(); // the device announces its heads, which are the replica's
    replica.tick(); // the unloaded replica's own announcement falls due
    await until("the replica's announcement", () => heard.includes("announce"));
    await device.flush();
    assert.equal(replica.state, "unloaded");
    assert.equal(replica.memory().loads, 1, "no load for an announcement of the same heads");
    await listener.stop();
  });

  it("loads again for a device's new change and applies it, with every change sent while it loads", async () => {
    await idleUntilUnloaded();
    // Three changes back to back: the first wakes the replica, the others arrive while it loads.
    await device.change(put("b.md", "second\n"));
    await device.change(put("c.md", "third\n"));
    await device.change(put("b.md", "second, edited\n"));
    await until("the replica to load and hold every change", () => {
      return text(replica.engine, "b.md") === "second, edited\n" && text(replica.engine, "c.md") === "third\n";
    });
    await until("the load to be counted", () => replica.memory().loads === 2);
    assert.ok(toReplica.includes("sync"));
  });

  it("keeps a change that arrives while it unloads, and has it on disk", async () => {
    now += IDLE_MS + 1;
    replica.tick(); // the unload starts…
    await device.change(put("d.md", "during the unload\n")); // …and the change's sync races it
    // Handled by the stopping engine and saved, or queued and handled by the next one.
    await until(
      "the replica to settle",
      () => replica.state === "unloaded" || text(replica.engine, "d.md") === "during the unload\n",
    );
    await replica.close();
    const stored = loadDoc(await new DiskStore(dir).load(), "02".repeat(16));
    assert.equal(new TextDecoder().decode(readEntry(stored, "d.md")?.bytes), "during the unload\n");
  });

  it("opens unloaded after a restart, announcing the heads it saved, and loads for the first message that needs it", async () => {
    const heads = A.getHeads(replica.engine!.doc);
    await replica.close();
    const heard: { type?: string; heads?: string[] }[] = [];
    const listener = bus.transport(asPeerId("listener"));
    await listener.start({ onMessage: (_from, m) => heard.push(decodeMessage(m) as { type?: string }) });
    replica = await Replica.open({
      dir,
      vault,
      peerId: "hub",
      hub: true,
      transport: bus.transport(asPeerId("hub")),
      clock,
      log: silentLog,
      idleUnloadMs: IDLE_MS,
    });
    assert.equal(replica.state, "unloaded");
    assert.equal(replica.ready, true);
    await until("the restarted replica's announcement", () => heard.some((m) => m.type === "announce"));
    assert.deepEqual(heard.find((m) => m.type === "announce")?.heads, heads);
    await device.change(put("e.md", "after the restart\n"));
    await until("the replica to load and hold e.md", () => text(replica.engine, "e.md") === "after the restart\n");
    await listener.stop();
  });

  it("answers a message no peer would resend, which arrived while it was unloaded, once loaded", async () => {
    // A blob request from a bare client that asks once: only the queue can get it to the engine.
    const photo = new Uint8Array([0, 1, 2, 3, 0, 255]);
    await device.change([{ type: "put", path: "photo.bin", bytes: photo, mtime: 1 }]);
    const hash = readEntry(device.doc, "photo.bin")!.sha256;
    await until("the replica to fetch the photo", () => {
      const engine = replica.engine;
      return (
        engine !== undefined && engine.missingBlobs.length === 0 && readEntry(engine.doc, "photo.bin") !== undefined
      );
    });
    await idleUntilUnloaded();
    const heard: string[] = [];
    const asker = bus.transport(asPeerId("asker"));
    await asker.start({ onMessage: (_from, m) => heard.push(decodeMessage(m)?.type ?? "malformed") });
    asker.send(asPeerId("hub"), encodeMessage({ type: "blob-want", hashes: [hash] }));
    await until("the blob, sent by the loaded replica", () => heard.includes("blob"));
    assert.equal(replica.memory().queuedMessages, 0);
    await asker.stop();
  });
});
