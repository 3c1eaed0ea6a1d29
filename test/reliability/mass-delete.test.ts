/**
 * An emptied, unmounted or wiped vault folder must never become a mass delete on the other devices,
 * whether the agent notices it in one rescan or as a stream of separate watcher events.
 */
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { writeFile, unlink, rm, readdir, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { listStored } from "../../agent/vault/model/vault-doc.js";
import { openLocalVault } from "../../agent/local-vault/local-vault.js";
import { waitFor } from "../helpers/wait.js";

let folders: Folders | undefined;
afterEach(async () => {
  await folders?.cleanup();
  folders = undefined;
});

const notes = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`n${i}.md`, `note ${i}\n`]));

describe("mass-delete guard", () => {
  it("refuses a mass delete that arrives as separate watcher events (judged against the whole folder, not each event's pass)", async () => {
    folders = await vaultFolders({ seed: notes(20) });
    const [a, b] = folders.dirs;
    const [va] = folders.vaults;
    for (let i = 0; i < 20; i++) await unlink(join(a, `n${i}.md`));
    // No reconcile call: only the watcher sees the unlinks, one event per file, each after its grace period.
    await waitFor("the guard to refuse every delete", () => va.binding.stats.refused >= 20, 20_000);
    await va.binding.reconcile();
    await va.binding.idle();
    assert.equal(
      [...listStored(va.engine.doc).keys()].filter((p) => /^n\d+\.md$/.test(p)).length,
      20,
      "no note was deleted in the vault",
    );
    for (let i = 0; i < 20; i++) assert.equal(await readText(join(b, `n${i}.md`)), `note ${i}\n`);
  });

  it("still refuses after a rescan already refused (the guard holds across passes)", async () => {
    folders = await vaultFolders({ seed: notes(20) });
    const [a] = folders.dirs;
    const [va] = folders.vaults;
    for (let i = 0; i < 20; i++) await unlink(join(a, `n${i}.md`));
    for (let pass = 0; pass < 3; pass++) await va.binding.reconcile();
    // A single late watcher event for one of the vanished files must not slip through either.
    await writeFile(join(a, "n0.md"), "note 0\n");
    await unlink(join(a, "n0.md"));
    await waitFor("the guard to refuse", () => va.binding.stats.refused >= 20, 20_000);
    await va.binding.reconcile();
    await va.binding.idle();
    assert.ok(listStored(va.engine.doc).size >= 20);
  });

  it("lets a user delete a few files one by one", async () => {
    folders = await vaultFolders({ seed: notes(20) });
    const [a, b] = folders.dirs;
    for (let i = 0; i < 3; i++) await unlink(join(a, `n${i}.md`));
    await waitFor(
      "the deletes to reach the other device",
      async () => (await readText(join(b, "n0.md"))) === undefined && (await readText(join(b, "n2.md"))) === undefined,
    );
    assert.equal(await readText(join(b, "n3.md")), "note 3\n");
  });

  it("does not propagate deletes when the vault marker (.edgesync/config.toml) vanished, as on an unmounted folder", async () => {
    folders = await vaultFolders({ seed: notes(3) });
    const [a, b] = folders.dirs;
    const [va] = folders.vaults;
    // A small vault: below the mass-delete count, only the marker check can save it.
    for (const name of await readdir(a))
      if (name !== ".edgesync") await rm(join(a, name), { recursive: true, force: true });
    await rm(join(a, ".edgesync", "config.toml"));
    await va.binding.reconcile();
    // The deletes wait out their grace period (an editor may be mid-save), then meet the guard.
    const log = folders.logs[0];
    await waitFor("the refusal to be logged", () => log.warnings.some((w) => /marker/.test(w.message)), 20_000);
    await va.binding.idle();
    assert.equal(listStored(va.engine.doc).has("n0.md"), true);
    assert.equal(await readText(join(b, "n0.md")), "note 0\n");
  });

  it("refuses to open a folder whose marker is missing, so an empty mount point never starts as a vault", async () => {
    folders = await vaultFolders({ seed: notes(3) });
    const [, b] = folders.dirs;
    const empty = folders.dirs[0] + "-mountpoint";
    await mkdir(empty);
    folders.dirs.push(empty);
    await assert.rejects(
      openLocalVault({ root: empty, peerId: "UX", holder: "test" }),
      /not a vault|edgesync init|config\.toml/i,
    );
    assert.equal(await readText(join(b, "n0.md")), "note 0\n");
  });
});
