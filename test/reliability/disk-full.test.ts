/**
 * Disk full, for real: the receiving device's folder and its .edgesync state folder each sit on
 * their own size-limited tmpfs (mounted as root), filled to the brim. Writing files and saving the
 * vault document then fail with ENOSPC; nothing may be truncated, nothing may be lost, and
 * everything must catch up once space returns.
 */
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { DiskStore } from "../../agent/vault/store/disk-store.js";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { mountTmpfs, unmount, fill, freeSpace } from "../helpers/tmpfs.js";
import { tempFiles, loadStoredDoc, docTexts } from "../helpers/trial.js";
import { waitFor } from "../helpers/wait.js";

const MB = 1024 * 1024;
let folders: Folders | undefined;
const mounts: string[] = [];

afterEach(async () => {
  for (const v of folders?.vaults ?? []) await v.close().catch(() => {});
  for (const m of mounts.splice(0).reverse()) unmount(m);
  await folders?.cleanup();
  folders = undefined;
});

/** Folder 1 gets a tmpfs for its files and another for its .edgesync. */
async function victimOnTmpfs(filesBytes: number, stateBytes: number) {
  return vaultFolders({
    seed: { "keep.md": "the old version, whole\n" },
    sync: { rescanIntervalMs: 200 },
    prepare: async (dir, index) => {
      if (index !== 1) return;
      mountTmpfs(dir, filesBytes);
      mounts.push(dir);
      await mkdir(join(dir, ".edgesync"), { mode: 0o700 });
      mountTmpfs(join(dir, ".edgesync"), stateBytes);
      mounts.push(join(dir, ".edgesync"));
    },
  });
}

const noise = randomBytes(150_000).toString("base64");
const big = (label: string, bytes: number) => `${label}\n${"y".repeat(bytes)}\n`;

describe("disk full", () => {
  it("refuses to write files on a full disk without truncating any, then writes them when space returns", async () => {
    folders = await victimOnTmpfs(1 * MB, 16 * MB);
    const [a, b] = folders.dirs;
    const filler = await fill(b, 8 * 1024);
    await writeFile(join(a, "keep.md"), big("the new version", 300_000));
    await writeFile(join(a, "big.md"), big("a new big file", 300_000));
    const failed = (path: string) =>
      folders!.logs[1].warnings.some(
        (w) =>
          w.fields.path === path &&
          /ENOSPC/.test(String(w.fields.error)) &&
          w.message === "could not write a file from the vault",
      );
    await waitFor("both failures to be logged", () => failed("keep.md") && failed("big.md"));
    await waitFor("no temp file left on the full disk", async () => (await tempFiles(b)).length === 0);
    assert.equal(
      await readText(join(b, "keep.md")),
      "the old version, whole\n",
      "the old version is intact, not truncated",
    );
    assert.equal(await readText(join(b, "big.md")), undefined);
    await freeSpace(filler);
    await waitFor(
      "both files once space returned",
      async () =>
        (await readText(join(b, "keep.md"))) === big("the new version", 300_000) &&
        (await readText(join(b, "big.md"))) === big("a new big file", 300_000),
    );
    await folders.vaults[1].binding.idle();
    assert.deepEqual(await tempFiles(b), []);
  });

  it("keeps every change the vault document could not save while its disk was full, for the next save to carry", async () => {
    folders = await victimOnTmpfs(16 * MB, 1 * MB);
    const [a, b] = folders.dirs;
    const [, vb] = folders.vaults;
    const filler = await fill(join(b, ".edgesync"), 4 * 1024);
    // A remote change and a local edit arrive while the store cannot grow (random bytes: they do not
    // compress, so the saves really do not fit).
    await writeFile(join(a, "remote.md"), big("from the other device", 200_000));
    await writeFile(join(a, "noise.md"), noise);
    await waitFor(
      "the remote file on disk",
      async () => (await readText(join(b, "remote.md")))?.startsWith("from the other device") === true,
    ).catch(() => {});
    await writeFile(join(b, "local.md"), big("typed on the full device", 200_000));
    await waitFor("a save failure to be logged", () =>
      folders!.logs[1].warnings.some((w) => /ENOSPC/.test(JSON.stringify(w.fields))),
    );
    await freeSpace(filler);
    // Space is back: a later small change saves fine.
    await writeFile(join(a, "later.md"), "after the disk had room again\n");
    await waitFor(
      "later.md on the full device",
      async () => (await readText(join(b, "later.md"))) === "after the disk had room again\n",
    );
    await waitFor(
      "local.md on the other device",
      async () => (await readText(join(a, "local.md"))) === big("typed on the full device", 200_000),
    );
    await vb.binding.idle();
    await vb.close();
    // What a restart would load must hold everything, including what failed to save at first.
    const stored = docTexts(await loadStoredDoc(b));
    assert.equal(stored.get("remote.md"), big("from the other device", 200_000));
    assert.equal(stored.get("local.md"), big("typed on the full device", 200_000));
    assert.equal(stored.get("later.md"), "after the disk had room again\n");
    assert.equal(stored.get("noise.md"), noise);
    assert.deepEqual(await tempFiles(b), []);
  });

  it("never leaves a partly written frame in doc.log when the disk fills mid-append, so every later frame still loads", async () => {
    folders = await vaultFolders({ count: 1 });
    const dir = join(folders.dirs[0], "store-on-tmpfs");
    await mkdir(dir);
    mountTmpfs(dir, 256 * 1024);
    mounts.push(dir);
    const store = new DiskStore(dir);
    await store.load();
    await store.append(new Uint8Array([1, 2, 3]));
    const filler = await fill(dir, 2048);
    await assert.rejects(store.append(new Uint8Array(randomBytes(64 * 1024))), /ENOSPC|no space/);
    await freeSpace(filler);
    await store.append(new Uint8Array([4, 5]));
    await store.close();
    const chunks = await new DiskStore(dir).load();
    assert.deepEqual(
      chunks.map((c) => [...c]),
      [
        [1, 2, 3],
        [4, 5],
      ],
    );
  });
});
