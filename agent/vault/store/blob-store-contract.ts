/** What every BlobStore must do; run by each implementation's test. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BlobError } from "../model/blob-hash.js";
import type { BlobStore } from "./blob-store.js";
import { sha256Hex } from "../model/bytes.js";

export function blobStoreContract(name: string, make: () => Promise<BlobStore>): void {
  const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff);
  const hash = sha256Hex(bytes);

  test(`${name}: a put blob is there, whole, under its hash`, async () => {
    const store = await make();
    assert.equal(await store.has(hash), false);
    assert.equal(await store.get(hash), undefined);
    await store.put(hash, bytes);
    assert.equal(await store.has(hash), true);
    assert.deepEqual(await store.get(hash), bytes);
    assert.equal(await store.sizeOf(hash), bytes.length);
    assert.deepEqual(await store.list(), [hash]);
  });

  test(`${name}: bytes that do not hash to the given hash are refused`, async () => {
    const store = await make();
    await assert.rejects(store.put(sha256Hex(new Uint8Array([1])), bytes), BlobError);
    await assert.rejects(store.put("../../etc/passwd", bytes), BlobError);
    assert.deepEqual(await store.list(), []);
  });

  test(`${name}: putting the same blob twice keeps one copy`, async () => {
    const store = await make();
    await store.put(hash, bytes);
    await store.put(hash, bytes);
    assert.deepEqual(await store.list(), [hash]);
  });

  test(`${name}: a deleted blob is gone and deleting it again says so`, async () => {
    const store = await make();
    const other = new Uint8Array([0, 1, 2]);
    await store.put(hash, bytes);
    await store.put(sha256Hex(other), other);
    assert.equal(await store.delete(hash), true);
    assert.equal(await store.delete(hash), false);
    assert.equal(await store.has(hash), false);
    assert.deepEqual(await store.list(), [sha256Hex(other)]);
  });

  test(`${name}: a malformed hash is simply not there`, async () => {
    const store = await make();
    assert.equal(await store.has("nothex"), false);
    assert.equal(await store.get("../doc.bin"), undefined);
    assert.equal(await store.delete("../doc.bin"), false);
  });

  test(`${name}: an empty blob is a blob`, async () => {
    const store = await make();
    const empty = new Uint8Array();
    await store.put(sha256Hex(empty), empty);
    assert.deepEqual(await store.get(sha256Hex(empty)), empty);
  });
}
