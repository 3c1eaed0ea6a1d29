/**
 * The contract every DocStore must keep (doc-store.ts): the disk store, the memory store and dst's
 * simulated disk. Each implementation's test file calls `runStoreContract` with a setup that opens
 * its kind of storage and can stop the process on it, cleanly or in the middle of an append.
 * No timers and no file system here: restarting and tearing are the setup's business.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import type { DocStore } from "./doc-store.js";
import { asPeerId } from "../model/peer-id.js";

export interface StoreContractSetup {
  /** A store on fresh, empty storage. Every promise it returns settles without outside help. */
  store: DocStore;
  /**
   * The process stops and a new one opens the same storage, after every write above has resolved.
   * For a store that lives in memory the "new process" is the same store: nothing is lost either way.
   */
  restart(): Promise<DocStore>;
  /**
   * The process dies while appending `chunk`: only part of it reached storage (for a store whose
   * append cannot be split, none of it). Returns the store of the next process, not yet loaded.
   */
  crashTearingAppend(chunk: Uint8Array): Promise<DocStore>;
  /**
   * The process dies while replacing the document with `full`: at whatever point the store can be
   * caught (before, between or after its steps). Returns the store of the next process, not loaded.
   */
  crashReplacing(full: Uint8Array): Promise<DocStore>;
  teardown(): Promise<void>;
}

/** Deterministic bytes of a given length, different for each `seed`. */
function chunkOf(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 101 + (i >> 8)) & 0xff);
}

const peerA = asPeerId("UAPEERAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
const peerB = asPeerId("UBPEERBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");

const totalBytes = (chunks: readonly Uint8Array[]) => chunks.reduce((n, c) => n + c.length, 0);

export function runStoreContract(name: string, makeSetup: () => Promise<StoreContractSetup>): void {
  /** Runs `body` on a fresh setup and always tears it down. */
  const withSetup = (body: (setup: StoreContractSetup) => Promise<void>) => async () => {
    const setup = await makeSetup();
    try {
      await body(setup);
    } finally {
      await setup.teardown();
    }
  };

  describe(`${name} keeps the document store contract`, () => {
    it(
      "holds nothing at first",
      withSetup(async ({ store }) => {
        assert.deepEqual(await store.load(), []);
        assert.equal(await store.loadSyncState(peerA), undefined);
        assert.equal(await store.sizeBytes(), 0);
      }),
    );

    it(
      "loads appended chunks back whole and in write order",
      withSetup(async ({ store }) => {
        const chunks = [chunkOf(1, 1), chunkOf(70_000, 2), chunkOf(300, 3)];
        for (const chunk of chunks) await store.append(chunk);
        assert.deepEqual(await store.load(), chunks);
      }),
    );

    it(
      "replaces everything with one full save, atomically, and appends after it follow it",
      withSetup(async ({ store }) => {
        for (let i = 0; i < 4; i++) await store.append(chunkOf(500, i));
        const full = chunkOf(2_000, 9);
        await store.replace(full);
        assert.deepEqual(await store.load(), [full]);
        const later = chunkOf(40, 10);
        await store.append(later);
        assert.deepEqual(await store.load(), [full, later]);
      }),
    );

    it(
      "takes a full save on an empty store",
      withSetup(async ({ store }) => {
        const full = chunkOf(64, 4);
        await store.replace(full);
        assert.deepEqual(await store.load(), [full]);
      }),
    );

    it(
      "round-trips each peer's sync state, keeps peers apart and keeps only the latest",
      withSetup(async ({ store }) => {
        await store.saveSyncState(peerA, chunkOf(10, 1));
        await store.saveSyncState(peerB, chunkOf(20, 2));
        await store.saveSyncState(peerA, chunkOf(30, 3));
        assert.deepEqual(await store.loadSyncState(peerA), chunkOf(30, 3));
        assert.deepEqual(await store.loadSyncState(peerB), chunkOf(20, 2));
      }),
    );

    it(
      "keeps the sync states when a full save replaces the document",
      withSetup(async ({ store }) => {
        await store.append(chunkOf(100, 1));
        await store.saveSyncState(peerA, chunkOf(10, 2));
        await store.replace(chunkOf(200, 3));
        assert.deepEqual(await store.loadSyncState(peerA), chunkOf(10, 2));
      }),
    );

    it(
      "keeps every resolved write through a restart",
      withSetup(async (setup) => {
        const full = chunkOf(1_000, 1);
        const appended = [chunkOf(10, 2), chunkOf(5_000, 3)];
        await setup.store.replace(full);
        for (const chunk of appended) await setup.store.append(chunk);
        await setup.store.saveSyncState(peerA, chunkOf(12, 4));
        const next = await setup.restart();
        assert.deepEqual(await next.load(), [full, ...appended]);
        assert.deepEqual(await next.loadSyncState(peerA), chunkOf(12, 4));
      }),
    );

    it(
      "loads every chunk before a torn last append, drops the torn one, and appends after it load again",
      withSetup(async (setup) => {
        const kept = [chunkOf(300, 1), chunkOf(20, 2)];
        for (const chunk of kept) await setup.store.append(chunk);
        const next = await setup.crashTearingAppend(chunkOf(4_000, 3));
        assert.deepEqual(await next.load(), kept);
        const after = chunkOf(50, 4);
        await next.append(after);
        assert.deepEqual(await next.load(), [...kept, after]);
        assert.deepEqual(await (await setup.restart()).load(), [...kept, after]);
      }),
    );

    it(
      "loads the old document or the new full save after a crash in the middle of a replace",
      withSetup(async (setup) => {
        const oldFull = chunkOf(800, 1);
        const appended = [chunkOf(30, 2), chunkOf(60, 3)];
        await setup.store.replace(oldFull);
        for (const chunk of appended) await setup.store.append(chunk);
        const newFull = chunkOf(900, 4);
        const next = await setup.crashReplacing(newFull);
        const loaded = await next.load();
        // Old incremental saves loaded again after the new full save are harmless: Automerge
        // ignores changes it already has. Anything else (a torn or missing full save) is not.
        const allowed = [[oldFull, ...appended], [newFull], [newFull, ...appended]];
        assert.ok(
          allowed.some((chunks) => isDeepStrictEqual(chunks, loaded)),
          `loaded ${loaded.length} chunks of ${loaded.map((c) => c.length).join(", ")} bytes`,
        );
        const after = chunkOf(20, 5);
        await next.append(after);
        assert.deepEqual(await (await setup.restart()).load(), [...loaded, after]);
      }),
    );

    it(
      "keeps its own copies: changing bytes given to it or read from it changes nothing stored",
      withSetup(async ({ store }) => {
        const chunk = chunkOf(16, 1);
        const state = chunkOf(8, 2);
        await store.append(chunk);
        await store.saveSyncState(peerA, state);
        chunk.fill(0);
        state.fill(0);
        (await store.load())[0].fill(0);
        (await store.loadSyncState(peerA))?.fill(0);
        assert.deepEqual(await store.load(), [chunkOf(16, 1)]);
        assert.deepEqual(await store.loadSyncState(peerA), chunkOf(8, 2));
      }),
    );

    it(
      "counts at least the bytes it holds, and fewer once a full save replaces a long log",
      withSetup(async ({ store }) => {
        const chunks = Array.from({ length: 20 }, (_, i) => chunkOf(1_000, i));
        for (const chunk of chunks) await store.append(chunk);
        const before = await store.sizeBytes();
        assert.ok(before >= totalBytes(chunks), `sizeBytes ${before} < ${totalBytes(chunks)} bytes held`);
        const full = chunkOf(3_000, 99);
        await store.replace(full);
        const after = await store.sizeBytes();
        assert.ok(
          after >= full.length && after < before,
          `sizeBytes ${after} after compaction (was ${before}, full save ${full.length})`,
        );
      }),
    );
  });
}
