/**
 * A 10,000-file folder (small markdown files in 50 folders): the first device's start-up scan
 * ingests every file, a second device receives every file byte for byte, and a rescan of the
 * unchanged folder changes nothing — no new heads, not a byte appended to the store.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { vaultFolders, type Folders } from "../helpers/vault-pair.js";
import { diskFiles } from "../helpers/trial.js";
import { listStored } from "../../agent/vault/model/vault-doc.js";

const FILES = 10_000;
const note = (i: number) => `# note ${i}\n\nsome text for note ${i}, in folder ${i % 50}\n`;

describe(`a ${FILES.toLocaleString("en")}-file folder`, () => {
  let folders: Folders;
  after(async () => folders?.cleanup());

  it("is ingested whole at start, reaches the other device whole, and a rescan without changes writes nothing", async () => {
    const seed = Object.fromEntries(Array.from({ length: FILES }, (_, i) => [`d${i % 50}/n${i}.md`, note(i)]));
    const started = Date.now();
    // vaultFolders: creator scans and ingests at start; the clone syncs; it waits for every file on the clone.
    folders = await vaultFolders({ seed });
    const synced = Date.now();
    const [a, b] = folders.dirs;
    const [va, vb] = folders.vaults;
    const stored = listStored(va.engine.doc);
    assert.equal(
      [...stored.keys()].filter((p) => /^d\d+\/n\d+\.md$/.test(p)).length,
      FILES,
      "every file is in the creator's doc",
    );
    const [onA, onB] = [await diskFiles(a), await diskFiles(b)];
    for (let i = 0; i < FILES; i++) {
      const path = `d${i % 50}/n${i}.md`;
      assert.equal(onB.get(path)?.toString(), note(i), `${path} on the clone`);
      assert.equal(onA.get(path)?.toString(), note(i), `${path} on the creator`);
    }
    await Promise.all([va.engine.flush(), vb.engine.flush()]);

    const storeBytes = async (dir: string) => {
      let total = 0;
      for (const name of ["doc.log", "doc.bin"])
        total += await stat(join(dir, ".edgesync", name)).then(
          (s) => s.size,
          () => 0,
        );
      return total;
    };
    const before = {
      heads: [A.getHeads(va.engine.doc), A.getHeads(vb.engine.doc)],
      bytes: [await storeBytes(a), await storeBytes(b)],
    };
    const rescanStarted = Date.now();
    await Promise.all([va.binding.reconcile(), vb.binding.reconcile()]);
    await Promise.all([va.binding.idle(), vb.binding.idle(), va.engine.flush(), vb.engine.flush()]);
    const rescanned = Date.now();
    assert.deepEqual(
      [A.getHeads(va.engine.doc), A.getHeads(vb.engine.doc)],
      before.heads,
      "a rescan of an unchanged folder makes no change",
    );
    assert.deepEqual([await storeBytes(a), await storeBytes(b)], before.bytes, "and appends nothing to either store");
    console.log(
      `# ${FILES} files: ingest + sync to the clone ${synced - started} ms, rescan of both (no changes) ${rescanned - rescanStarted} ms`,
    );
  });
});
