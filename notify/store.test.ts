import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { MemoryBus } from "../agent/sync/memory-bus.js";
import { MemoryStore } from "../agent/vault/store/memory-store.js";
import { nullTransport } from "../agent/sync/null-transport.js";
import { asPeerId, type Clock } from "../agent/sync/ports.js";
import { Identity } from "../agent/auth/identity.js";
import { NotifyStore } from "./store.js";
import { genesisDoc } from "./doc.js";
import { newMessage, encodeMessage, type Signer } from "./model.js";

const clock: Clock = { now: () => 1_700_000_000_000 };
const device = () => {
  const id = Identity.generate();
  return { peerId: id.nkeyPublic, sign: (b: Uint8Array) => id.sign(b) } satisfies Signer;
};
const json = (m: ReturnType<typeof newMessage>) => new TextDecoder().decode(encodeMessage(m));

async function settle(...stores: NotifyStore[]) {
  for (let i = 0; i < 30; i++) {
    await new Promise((r) => setImmediate(r));
    await Promise.all(stores.map((s) => s.flush()));
  }
}

async function twoDevices() {
  const bus = new MemoryBus();
  const [a, b] = [device(), device()];
  const open = (d: Signer) =>
    NotifyStore.open({
      dir: "",
      set: "default",
      self: d.peerId,
      transport: bus.transport(asPeerId(d.peerId)),
      clock,
      docStore: new MemoryStore(),
    });
  const [sa, sb] = [await open(a), await open(b)];
  await sa.start();
  await sb.start();
  return { a, b, sa, sb };
}

describe("notify store", () => {
  it("starts every device from the same genesis, so independently created stores merge", () => {
    assert.deepEqual(A.getHeads(genesisDoc("default")), A.getHeads(genesisDoc("default")));
    assert.notDeepEqual(A.getHeads(genesisDoc("default")), A.getHeads(genesisDoc("other")));
  });

  it("brings a message written on one device to the other by sync, and tells listeners once", async () => {
    const { a, sa, sb } = await twoDevices();
    const heard: string[] = [];
    sb.onMessage((m) => heard.push(m.id));
    const m = newMessage({ project: "p", thread: "t", body: "hello" }, a, "a", 1);
    assert.equal(await sa.insert(m, json(m)), "stored");
    await settle(sa, sb);
    assert.equal(sb.get(m.id)?.body, "hello");
    assert.deepEqual(heard, [m.id]);
  });

  it("stores a message delivered twice once, even when both devices wrote it concurrently", async () => {
    const { a, sa, sb } = await twoDevices();
    const m = newMessage({ project: "p", thread: "t", body: "twice" }, a, "a", 1);
    assert.equal(await sa.insert(m, json(m)), "stored");
    assert.equal(await sa.insert(m, json(m)), "duplicate");
    await sb.insert(m, json(m));
    await settle(sa, sb);
    assert.equal(sa.list().length, 1);
    assert.equal(sb.list().length, 1);
  });

  it("ignores a forged entry written straight into the document", async () => {
    const { a, b, sa, sb } = await twoDevices();
    const m = newMessage({ project: "p", thread: "t", body: "real" }, a, "a", 1);
    const forged = { ...m, id: "f".repeat(20), from: b.peerId };
    await sa.insert(forged, JSON.stringify(forged));
    await settle(sa, sb);
    assert.equal(sb.get(forged.id), undefined);
    assert.equal(sb.stats.rejected, 1);
  });

  it("summarises threads, finds replies, and resolves an id prefix", async () => {
    const { a, sa } = await twoDevices();
    const q = newMessage({ project: "p", thread: "t", body: "ok?", actions: [{ id: "yes", label: "Yes" }] }, a, "a", 1);
    const r = newMessage({ project: "p", thread: "t", body: "", replyTo: q.id, actionResponse: "yes" }, a, "a", 2);
    await sa.insert(q, json(q));
    assert.equal(sa.threads()[0].open, 1);
    await sa.insert(r, json(r));
    assert.deepEqual(
      sa.replies(q.id).map((x) => x.id),
      [r.id],
    );
    assert.deepEqual(sa.threads(), [{ project: "p", thread: "t", messages: 2, lastAt: 2, last: "", open: 0 }]);
    assert.equal(sa.resolve(q.id.slice(0, 12)).id, q.id);
    assert.throws(() => sa.resolve("zz"), /at least 6 characters/);
  });

  it("keeps messages and devices across a restart from disk", async () => {
    const dir = await mkdtemp(join(tmpdir(), "es-notify-store-"));
    try {
      const a = device();
      const open = () =>
        NotifyStore.open({ dir, set: "default", self: a.peerId, transport: nullTransport(asPeerId(a.peerId)), clock });
      const first = await open();
      await first.start();
      const m = newMessage({ project: "p", thread: "t", body: "durable" }, a, "a", 1);
      await first.insert(m, json(m));
      await first.putDevice({ v: 1, peer: a.peerId, name: "laptop", kind: "full", addedAt: 1, addedBy: a.peerId });
      await first.close();
      const second = await open();
      assert.equal(second.get(m.id)?.body, "durable");
      assert.equal(second.device(a.peerId)?.name, "laptop");
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
