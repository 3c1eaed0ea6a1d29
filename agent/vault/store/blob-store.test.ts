import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, writeFile, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryBlobStore } from "./blob-store.js";
import { DiskBlobStore } from "./disk-blob-store.js";
import { blobStoreContract } from "./blob-store-contract.js";
import { sha256Hex } from "../model/bytes.js";

blobStoreContract("memory blob store", async () => new MemoryBlobStore());
blobStoreContract("disk blob store", async () => new DiskBlobStore(await mkdtemp(join(tmpdir(), "edgesync-blobs-"))));

test("disk blob store keeps each blob as .edgesync/blobs/<sha256> with the exact bytes", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "edgesync-blobs-"));
  const bytes = new Uint8Array([9, 8, 7, 0, 255]);
  await new DiskBlobStore(stateDir).put(sha256Hex(bytes), bytes);
  assert.deepEqual(new Uint8Array(await readFile(join(stateDir, "blobs", sha256Hex(bytes)))), bytes);
});

test("disk blob store sweeps temp files a killed writer left and ignores foreign names", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "edgesync-blobs-"));
  const first = new DiskBlobStore(stateDir);
  await first.list();
  await writeFile(join(first.dir, `.${"a".repeat(64)}.edgesync-tmp-0123456789ab`), "torn");
  await writeFile(join(first.dir, "README"), "not a blob");
  const store = new DiskBlobStore(stateDir);
  assert.deepEqual(await store.list(), []);
  assert.deepEqual((await readdir(store.dir)).sort(), ["README"]);
});

test("disk blob store treats a blob whose bytes no longer match its name as missing and removes it", async () => {
  const stateDir = await mkdtemp(join(tmpdir(), "edgesync-blobs-"));
  const store = new DiskBlobStore(stateDir);
  const bytes = new Uint8Array([1, 2, 3]);
  await store.put(sha256Hex(bytes), bytes);
  await writeFile(join(store.dir, sha256Hex(bytes)), new Uint8Array([1, 2, 4]));
  assert.equal(await store.get(sha256Hex(bytes)), undefined);
  assert.equal(await store.has(sha256Hex(bytes)), false);
});
