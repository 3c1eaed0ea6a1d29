import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { EventQueue } from "./event-queue.js";
import { Prng } from "./random.js";
import { SimDisk } from "./sim-store.js";
import { blobStoreContract } from "../agent/vault/store/blob-store-contract.js";
import { runStoreContract } from "../agent/vault/store/store-contract.js";
import type { DocStore } from "../agent/vault/store/doc-store.js";
import { sha256Hex } from "../agent/vault/model/bytes.js";

function disk(seed: number, appendOnCrash: readonly [number, number, number]) {
  let now = 0;
  const queue = new EventQueue();
  const d = new SimDisk(queue, new Prng(seed), () => now);
  d.faults = { fsyncMaxMs: 5, appendOnCrash, writeErrorPerMille: 0 };
  const runAll = async () => {
    for (let event = queue.pop(); event; event = queue.pop()) {
      now = event.time;
      await event.run();
    }
  };
  return { d, runAll, queue };
}

const bytes = (...xs: number[]) => new Uint8Array(xs);

describe("SimDisk", () => {
  it("keeps every write whose promise resolved through a crash", async () => {
    const { d, runAll } = disk(1, [1, 0, 0]);
    const store = d.open();
    const acked = Promise.all([store.append(bytes(1)), store.append(bytes(2))]);
    await runAll();
    await acked;
    d.crash();
    assert.deepEqual(await d.open().load(), [bytes(1), bytes(2)]);
  });

  it("cuts the log at the first frame a crash tore or dropped, so later landed frames are not loaded", async () => {
    const { d, runAll } = disk(2, [0, 1, 0]);
    const store = d.open();
    const first = store.append(bytes(1));
    await runAll();
    await first;
    void store.append(bytes(2, 2, 2));
    const report = d.crash();
    assert.deepEqual(report, { landed: 0, torn: 1, lost: 0 });
    assert.deepEqual(await d.open().load(), [bytes(1)]);
  });

  it("lands every pending write when a crash lets them all through", async () => {
    const { d } = disk(3, [0, 0, 1]);
    const store = d.open();
    void store.append(bytes(1));
    void store.append(bytes(2));
    assert.deepEqual(d.crash(), { landed: 2, torn: 0, lost: 0 });
    assert.deepEqual(await d.open().load(), [bytes(1), bytes(2)]);
  });

  it("gives the handle of a crashed incarnation nothing: its writes change nothing", async () => {
    const { d, runAll, queue } = disk(4, [1, 0, 0]);
    const old = d.open();
    d.crash();
    void old.append(bytes(9));
    assert.equal(queue.size, 0);
    await runAll();
    assert.deepEqual(await d.open().load(), []);
  });
});

blobStoreContract("simulated blob store", async () => {
  const { d, runAll } = disk(5, [1, 0, 0]);
  const inner = d.openBlobs();
  // A put resolves at its simulated fsync: run the disk's events for it.
  return {
    ...inner,
    put: async (hash, data) => {
      const done = inner.put(hash, data);
      await runAll();
      return done;
    },
  };
});

runStoreContract("simulated disk", async () => {
  const { d, runAll } = disk(6, [1, 0, 0]);
  // A write resolves at its simulated fsync, a later event: run the disk's events for every call.
  const driven = (inner: DocStore): DocStore => {
    const run =
      <T>(call: () => Promise<T>) =>
      async (): Promise<T> => {
        const done = call();
        await runAll();
        return done;
      };
    return {
      load: run(() => inner.load()),
      append: (chunk) => run(() => inner.append(chunk))(),
      replace: (full) => run(() => inner.replace(full))(),
      sizeBytes: run(() => inner.sizeBytes()),
      loadSyncState: (peer) => run(() => inner.loadSyncState(peer))(),
      saveSyncState: (peer, state) => run(() => inner.saveSyncState(peer, state))(),
    };
  };
  return {
    store: driven(d.open()),
    // Every write above has resolved, so a power loss here must lose nothing.
    restart: async () => {
      d.crash();
      return driven(d.open());
    },
    crashTearingAppend: async (chunk) => {
      const faults = d.faults;
      d.faults = { ...faults, appendOnCrash: [0, 1, 0] };
      void d.open().append(chunk);
      const report = d.crash();
      d.faults = faults;
      assert.deepEqual(report, { landed: 0, torn: 1, lost: 0 });
      return driven(d.open());
    },
    // The simulated disk decides from its seed where the crash caught the replace.
    crashReplacing: async (full) => {
      void d.open().replace(full);
      d.crash();
      return driven(d.open());
    },
    teardown: async () => {},
  };
});

describe("SimDisk blobs", () => {
  it("keeps an acknowledged blob through a crash and leaves an unsynced one whole or absent", async () => {
    const big = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
    for (let seed = 10; seed < 30; seed++) {
      const { d, runAll } = disk(seed, [1, 0, 0]);
      const blobs = d.openBlobs();
      const acked = blobs.put(sha256Hex(bytes(1)), bytes(1));
      await runAll();
      await acked;
      void blobs.put(sha256Hex(big), big);
      d.crash();
      const after = d.openBlobs();
      assert.deepEqual(await after.get(sha256Hex(bytes(1))), bytes(1));
      const unsynced = await after.get(sha256Hex(big));
      assert.ok(unsynced === undefined || sha256Hex(unsynced) === sha256Hex(big), `seed ${seed}: a torn blob`);
    }
  });
});
