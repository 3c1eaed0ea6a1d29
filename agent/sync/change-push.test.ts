import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SyncEngine } from "./engine.js";
import { MemoryBus } from "./memory-bus.js";
import { asPeerId, type Clock, type Transport } from "./ports.js";
import { MemoryStore } from "../vault/store/memory-store.js";
import { createVaultDoc, emptyVaultDoc, readEntry } from "../vault/model/vault-doc.js";
import { utf8Encode } from "../vault/model/bytes.js";
import { decodeMessage } from "./messages.js";

const time = { ms: 1_700_000_000_000 };
const clock: Clock = { now: () => time.ms };
const actor = (n: number) => n.toString(16).padStart(32, "0");
const text = (engine: SyncEngine, path: string) => new TextDecoder().decode(readEntry(engine.doc, path)?.bytes);
const put = (path: string, body: string) => [{ type: "put" as const, path, bytes: utf8Encode(body), mtime: 1 }];

async function settle(...engines: SyncEngine[]) {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
    await Promise.all(engines.map((e) => e.flush()));
  }
}

/** Every frame on the bus as `from>to:type` (`*` for a broadcast); `dropIn` loses frames on arrival. */
function starOfDevices(devices: number, dropIn: (to: string, type: string) => boolean = () => false) {
  const bus = new MemoryBus();
  const log: string[] = [];
  const transport = (self: string): Transport => {
    const inner = bus.transport(asPeerId(self));
    const typeOf = (message: Uint8Array) => decodeMessage(message)?.type ?? "?";
    return {
      ...inner,
      start: (handlers) =>
        inner.start({
          ...handlers,
          onMessage: (from, message) => (dropIn(self, typeOf(message)) ? undefined : handlers.onMessage(from, message)),
        }),
      stop: () => inner.stop(),
      send(to, message) {
        log.push(`${self}>${to}:${typeOf(message)}`);
        inner.send(to, message);
      },
      broadcast(message) {
        log.push(`${self}>*:${typeOf(message)}`);
        inner.broadcast(message);
      },
    };
  };
  const hub = new SyncEngine({
    self: asPeerId("hub"),
    hub: true,
    doc: createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1)),
    store: new MemoryStore(),
    transport: transport("hub"),
    clock,
  });
  const leaves = Array.from(
    { length: devices },
    (_, i) =>
      new SyncEngine({
        self: asPeerId(`leaf${i + 2}`),
        doc: emptyVaultDoc(actor(i + 2)),
        store: new MemoryStore(),
        transport: transport(`leaf${i + 2}`),
        clock,
      }),
  );
  return { hub, leaves, log, all: [hub, ...leaves] };
}

/** The announcement interval passes: every engine re-announces its heads. */
async function tickAll(engines: SyncEngine[]) {
  time.ms += 60_000;
  for (const engine of engines) await engine.tick();
  await settle(...engines);
}

async function inStep(star: ReturnType<typeof starOfDevices>) {
  await star.hub.start();
  for (const leaf of star.leaves) await leaf.start();
  await settle(...star.all);
  await star.hub.change(put("start.md", "every device has this"));
  await settle(...star.all);
  await tickAll(star.all); // announcements: everyone knows everyone's heads
  await settle(...star.all);
}

describe("change push (change-push.ts)", () => {
  it("passes a device's edit on as one broadcast from the hub: no pairwise sync to the other devices, no replies", async () => {
    const star = starOfDevices(4);
    await inStep(star);
    star.log.length = 0;
    await star.leaves[0].change(put("a.md", "from leaf2"));
    await settle(...star.all);
    for (const leaf of star.leaves) assert.equal(text(leaf, "a.md"), "from leaf2");
    const sync = star.log.filter((entry) => entry.endsWith(":sync") || entry.endsWith(":snapshot"));
    assert.deepEqual(sync, [], "no pairwise sync at all");
    assert.deepEqual(
      star.log.filter((entry) => entry.endsWith(":changes")),
      ["leaf2>hub:changes", "hub>*:changes"],
    );
    for (const leaf of star.leaves) assert.equal(leaf.convergedWith(asPeerId("hub")), true, `${leaf.self} in step`);
    // The hub learns that the others hold it from their next announcements, not from replies.
    await tickAll(star.leaves);
    assert.equal(star.hub.peerInfo().filter((p) => p.converged).length, 4);
  });

  it("repairs a lost push with the pairwise exchange once the next push does not apply", async () => {
    const lose = { next: false };
    const star = starOfDevices(
      3,
      (to, type) => to === "leaf3" && type === "changes" && lose.next && !(lose.next = false),
    );
    await inStep(star);
    lose.next = true;
    await star.leaves[0].change(put("a.md", "first, lost on its way to leaf3"));
    await settle(...star.all);
    assert.equal(readEntry(star.leaves[1].doc, "a.md"), undefined, "the first push never reached leaf3");
    await star.leaves[0].change(put("b.md", "second"));
    await settle(...star.all);
    assert.equal(text(star.leaves[1], "a.md"), "first, lost on its way to leaf3");
    assert.equal(text(star.leaves[1], "b.md"), "second");
    assert.equal(star.leaves[1].convergedWith(asPeerId("hub")), true);
  });

  it("repairs a lost last push from the hub's next announcement", async () => {
    const lose = { next: false };
    const star = starOfDevices(
      2,
      (to, type) => to === "leaf3" && type === "changes" && lose.next && !(lose.next = false),
    );
    await inStep(star);
    lose.next = true;
    await star.leaves[0].change(put("a.md", "lost on its way to leaf3"));
    await settle(...star.all);
    assert.equal(readEntry(star.leaves[1].doc, "a.md"), undefined, "the push never reached leaf3");
    await tickAll([star.hub]);
    assert.equal(text(star.leaves[1], "a.md"), "lost on its way to leaf3");
  });

  it("merges concurrent edits of one file pushed from two devices, and pushes the merge to the others", async () => {
    const star = starOfDevices(3);
    await inStep(star);
    await Promise.all([
      star.leaves[0].change(put("start.md", "every device has this\nleaf2 adds a line\n")),
      star.leaves[1].change(put("start.md", "leaf3 adds a line first\nevery device has this")),
    ]);
    await settle(...star.all);
    await tickAll(star.all);
    const merged = text(star.hub, "start.md");
    assert.match(merged, /leaf2 adds a line/);
    assert.match(merged, /leaf3 adds a line first/);
    for (const leaf of star.leaves) assert.equal(text(leaf, "start.md"), merged, `${leaf.self} has the merge`);
  });
});
