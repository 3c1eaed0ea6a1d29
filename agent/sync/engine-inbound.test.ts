/**
 * What a member can send that the engine must not take as it is: a change to the vault's identity
 * (kept in the doc, ignored, logged once) and a change carrying an entry over the inline limit
 * (refused whole before it is applied, logged once per peer and change).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { SyncEngine } from "./engine.js";
import { MemoryBus } from "./memory-bus.js";
import { asPeerId, type Clock, type Log } from "./ports.js";
import { MemoryStore } from "../vault/store/memory-store.js";
import { createVaultDoc, emptyVaultDoc, readEntry, isReady } from "../vault/model/vault-doc.js";
import { bucketOf } from "../vault/model/bucket.js";
import { INLINE_ENTRY_BYTES_MAX } from "../vault/model/schema.js";
import { utf8Encode } from "../vault/model/bytes.js";
import { encodeMessage } from "./messages.js";

const clock: Clock = { now: () => 1_700_000_000_000 };
const actor = (n: number) => n.toString(16).padStart(32, "0");

function recordingLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const record = (_fields: object, message: string) => void lines.push(message);
  return { lines, debug: () => {}, info: record, warn: record };
}

async function settle(...engines: SyncEngine[]) {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
    await Promise.all(engines.map((e) => e.flush()));
  }
}

/** Runs Automerge's exchange between `doc` and a copy of the hub's doc until `doc` sends changes. */
function messageCarryingChanges(doc: A.Doc<unknown>, hubCopy: A.Doc<unknown>): Uint8Array {
  let ours = A.initSyncState();
  let theirs = A.initSyncState();
  for (let round = 0; round < 10; round++) {
    const [nextOurs, message] = A.generateSyncMessage(doc, ours);
    ours = nextOurs;
    if (message === null) break;
    if (A.decodeSyncMessage(message).changes.length > 0) return message;
    [hubCopy, theirs] = A.receiveSyncMessage(hubCopy, theirs, message);
    const [nextTheirs, reply] = A.generateSyncMessage(hubCopy, theirs);
    theirs = nextTheirs;
    if (reply !== null) [doc, ours] = A.receiveSyncMessage(doc, ours, reply);
  }
  throw new Error("the exchange never carried the change");
}

/** A hub engine and a member's doc (a clone of it) that the test changes by hand. */
async function hubAndMember() {
  const bus = new MemoryBus();
  const log = recordingLog();
  const hub = new SyncEngine({
    self: asPeerId("hub"),
    vault: { id: "vault-1", name: "team" },
    doc: createVaultDoc({ vaultId: "vault-1", name: "team", createdAt: 1 }, actor(1)),
    store: new MemoryStore(),
    transport: bus.transport(asPeerId("hub")),
    clock,
    log,
    hub: true,
  });
  await hub.start();
  const member = new SyncEngine({
    self: asPeerId("member"),
    doc: emptyVaultDoc(actor(2)),
    store: new MemoryStore(),
    transport: bus.transport(asPeerId("member")),
    clock,
  });
  await member.start();
  await settle(hub, member);
  assert.ok(isReady(member.doc));
  /** Delivers a hand-made change to the hub in a sync message from the member; returns its hash. */
  const push = async (mutate: (doc: Record<string, Record<string, unknown>>) => void, times = 1) => {
    const doc = A.change(
      A.clone(member.doc) as unknown as A.Doc<Record<string, Record<string, unknown>>>,
      { time: 2 },
      mutate,
    );
    const message = new Uint8Array([1, 2, ...messageCarryingChanges(doc, A.clone(hub.doc))]);
    for (let i = 0; i < times; i++) await hub.receive(asPeerId("member"), message);
    await settle(hub);
    return A.getHeads(doc)[0];
  };
  /** The same hand-made change as a pushed changes frame (change-push.ts); returns its hash. */
  const pushFrame = async (mutate: (doc: Record<string, Record<string, unknown>>) => void, times = 1) => {
    const before = A.getHeads(member.doc);
    const doc = A.change(
      A.clone(member.doc) as unknown as A.Doc<Record<string, Record<string, unknown>>>,
      { time: 2 },
      mutate,
    );
    const frame = encodeMessage({
      type: "changes",
      heads: A.getHeads(doc),
      allHeads: true,
      changes: A.getChangesSince(doc, before),
    });
    for (let i = 0; i < times; i++) await hub.receive(asPeerId("member"), frame);
    await settle(hub);
    return A.getHeads(doc)[0];
  };
  return { hub, member, log, push, pushFrame };
}

/** A hand-made change writing huge.md with a text one byte over the inline limit. */
const putsOversizedText = (doc: Record<string, Record<string, unknown>>) => {
  (doc.files[bucketOf("huge.md")] as Record<string, unknown>)["huge.md"] = {
    text: new A.ImmutableString("x".repeat(INLINE_ENTRY_BYTES_MAX + 1)),
    sha256: new A.ImmutableString("0".repeat(64)),
    size: 1,
    mtime: 2,
    by: new A.ImmutableString("member"),
  };
};

describe("SyncEngine on what a member sends", () => {
  it("keeps the identity it was opened with when a member rewrites meta, and says so once", async () => {
    const { hub, log, push } = await hubAndMember();
    const hash = await push((doc) => {
      doc.meta.vaultId = new A.ImmutableString("hijacked-id");
      doc.meta.name = new A.ImmutableString("hijacked");
    });
    assert.ok(A.hasHeads(hub.doc, [hash]), "the change is kept: later changes build on it");
    assert.deepEqual(hub.vault, { id: "vault-1", name: "team" });
    assert.equal(log.lines.filter((l) => l.startsWith("ignored a change to the vault's identity")).length, 1);
  });

  it("stays ready when a member deletes meta", async () => {
    const { hub, push } = await hubAndMember();
    await push((doc) => {
      delete doc.meta;
    });
    assert.ok(isReady(hub.doc));
    await hub.change([{ type: "put", path: "still.md", bytes: utf8Encode("still writable"), mtime: 3 }]);
    assert.ok(readEntry(hub.doc, "still.md"));
  });

  it("refuses a sync message whose change carries a text over the inline limit, logging it once however often it comes", async () => {
    const { hub, log, push } = await hubAndMember();
    const hash = await push(putsOversizedText, 2);
    assert.equal(A.hasHeads(hub.doc, [hash]), false, "the hub applied the oversized change");
    assert.equal(readEntry(hub.doc, "huge.md"), undefined);
    assert.equal(log.lines.filter((l) => l.includes("over the inline entry limit")).length, 1);
    assert.equal(hub.stats.changesRefused, 2);
  });

  it("refuses a pushed change that carries a text over the inline limit, as it refuses the sync message", async () => {
    const { hub, log, pushFrame } = await hubAndMember();
    const hash = await pushFrame(putsOversizedText, 2);
    assert.equal(A.hasHeads(hub.doc, [hash]), false, "the hub applied the oversized change");
    assert.equal(readEntry(hub.doc, "huge.md"), undefined);
    assert.equal(log.lines.filter((l) => l.includes("over the inline entry limit")).length, 1);
    assert.equal(hub.stats.changesRefused, 2);
  });

  it("drops pushed bytes that are no Automerge change and keeps taking honest pushes", async () => {
    const { hub, log, pushFrame } = await hubAndMember();
    const junk = encodeMessage({ type: "changes", heads: [], allHeads: true, changes: [utf8Encode("not a change")] });
    await hub.receive(asPeerId("member"), junk);
    assert.ok(log.lines.includes("dropped message"), log.lines.join("; "));
    const hash = await pushFrame((doc) => {
      (doc.files[bucketOf("fine.md")] as Record<string, unknown>)["fine.md"] = {
        text: new A.ImmutableString("fine"),
        sha256: new A.ImmutableString("0".repeat(64)),
        size: 4,
        mtime: 2,
        by: new A.ImmutableString("member"),
      };
    });
    assert.ok(A.hasHeads(hub.doc, [hash]), "the honest push after the junk was applied");
  });

  it("stores a text over the inline limit as a blob, so honest writers never send what hubs refuse", async () => {
    const { hub } = await hubAndMember();
    await hub.change([
      { type: "put", path: "long.md", bytes: utf8Encode("y".repeat(INLINE_ENTRY_BYTES_MAX + 1)), mtime: 3 },
    ]);
    const entry = readEntry(hub.doc, "long.md")!;
    assert.equal(entry.kind, "binary");
    assert.equal(entry.size, INLINE_ENTRY_BYTES_MAX + 1);
    assert.ok(await hub.blobs.has(entry.blob!));
  });
});
