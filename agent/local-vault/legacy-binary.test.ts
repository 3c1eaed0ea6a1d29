/**
 * Vaults written before blobs kept binary bytes inline in the doc (`StoredRev.data`). They must
 * still load, materialise and restore; a binary they restore or copy moves into the blob store.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { initVault } from "../vault/init.js";
import { openLocalVault } from "./local-vault.js";
import { DiskStore } from "../vault/store/disk-store.js";
import { loadDoc } from "../vault/model/load.js";
import { bucketOf } from "../vault/model/bucket.js";
import { sha256Hex } from "../vault/model/bytes.js";
import { entryFromStored, readStored, type Doc } from "../vault/model/vault-doc.js";
import { restoreTo } from "../vault/model/history.js";
import { loadVaultConfig, saveVaultConfig } from "../vault/config.js";

const KEY_LINE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHQ7Y2F0c3RhbmRpbmd0ZXN0a2V5MDAwMDAwMDAwMDAw test@device";
const legacy = Uint8Array.from([0, 1, 2, 3, 255, 254, 0, 7]);

/** Writes a binary revision the old way, bytes inline. */
function putInline(doc: Doc, path: string, bytes: Uint8Array, time: number): Doc {
  return A.change(doc, { time, message: `put ${path}` }, (d) => {
    d.files[bucketOf(path)][path] = {
      data: bytes,
      sha256: new A.ImmutableString(sha256Hex(bytes)),
      size: bytes.length,
      mtime: time,
      by: new A.ImmutableString("UOLD"),
    };
  });
}

describe("vaults with inline binary revisions (before blobs)", () => {
  it("load and write the inline binary to disk, and a restore moves it into the blob store", async () => {
    const root = await mkdtemp(join(tmpdir(), "es-legacy-"));
    const { config } = await initVault({ root, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
    await saveVaultConfig(root, { ...config, sync: { ...config.sync, extensions: ["md", "bin"] } });
    const store = new DiskStore(join(root, ".edgesync"));
    const old = putInline(loadDoc(await store.load(), "11".repeat(16)), "old.bin", legacy, 1_700_000_000_100);
    await store.replace(A.save(old));
    await store.close();

    const vault = await openLocalVault({ root, peerId: "UNEW", holder: "test" });
    try {
      await vault.start();
      assert.deepEqual(new Uint8Array(await readFile(join(root, "old.bin"))), legacy);
      assert.deepEqual(entryFromStored("old.bin", readStored(vault.engine.doc, "old.bin")!).bytes, legacy);
      // Overwrite it, then restore the inline version: it comes back as a blob.
      const before = A.getHeads(vault.engine.doc);
      await writeFile(join(root, "old.bin"), Uint8Array.from([0, 9]));
      await vault.binding.reconcile();
      await vault.engine.update((doc, now, blobs) => restoreTo(doc, before, { time: now, by: "UNEW", blobs }).doc);
      await vault.binding.idle();
      assert.equal(String(readStored(vault.engine.doc, "old.bin")?.blob), sha256Hex(legacy));
      assert.deepEqual(await vault.engine.blobs.get(sha256Hex(legacy)), legacy);
      assert.deepEqual(new Uint8Array(await readFile(join(root, "old.bin"))), legacy);
    } finally {
      await vault.close();
    }
    assert.equal((await loadVaultConfig(root)).vault.id, config.vault.id);
  });

  it("a restore of a blob this device never fetched links it by hash without its bytes", async () => {
    const root = await mkdtemp(join(tmpdir(), "es-legacy-"));
    await mkdir(root, { recursive: true });
    const { config } = await initVault({ root, authorizedKeyLine: KEY_LINE, nowMs: 1_700_000_000_000 });
    await saveVaultConfig(root, { ...config, sync: { ...config.sync, extensions: ["md", "bin"] } });
    const vault = await openLocalVault({ root, peerId: "UNEW", holder: "test" });
    try {
      await vault.start();
      const bytes = Uint8Array.from([0, 5, 5, 5]);
      await writeFile(join(root, "pic.bin"), bytes);
      await vault.binding.reconcile();
      const withPic = A.getHeads(vault.engine.doc);
      await vault.engine.change([{ type: "delete", path: "pic.bin" }]);
      await vault.binding.idle();
      await vault.engine.blobs.delete(sha256Hex(bytes)); // as if it had never arrived here
      await vault.engine.update((doc, now, blobs) => restoreTo(doc, withPic, { time: now, by: "UNEW", blobs }).doc);
      await vault.binding.idle();
      assert.equal(String(readStored(vault.engine.doc, "pic.bin")?.blob), sha256Hex(bytes));
      assert.deepEqual(vault.engine.missingBlobs, [sha256Hex(bytes)]);
      await assert.rejects(readFile(join(root, "pic.bin")), /ENOENT/); // never a placeholder
      assert.equal(vault.binding.stats.awaitingBlob > 0, true);
    } finally {
      await vault.close();
    }
  });
});
