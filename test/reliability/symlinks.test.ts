/**
 * Symlinks inside a vault are never followed: not when scanning (a loop cannot hang it), and never
 * written through when a file arrives from another device (not for a linked folder, not for a
 * linked file pointing outside).
 */
import { describe, it, after, before } from "node:test";
import assert from "node:assert/strict";
import { writeFile, symlink, mkdir, mkdtemp, rm, readFile, readdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { scanFolder } from "../../agent/fs/scan.js";
import { SyncFilter } from "../../agent/fs/sync-filter.js";
import { waitFor } from "../helpers/wait.js";

describe("symlinks in a vault", () => {
  let folders: Folders;
  let outside: string;
  before(async () => {
    outside = await mkdtemp(join(tmpdir(), "es-outside-"));
    await writeFile(join(outside, "secret.md"), "outside the vault, must stay as is\n");
    folders = await vaultFolders();
  });
  after(async () => {
    await folders?.cleanup();
    await rm(outside, { recursive: true, force: true });
  });

  it("scans a folder full of symlink loops without hanging, and syncs none of the links", async () => {
    const [a, b] = folders.dirs;
    await mkdir(join(a, "deep/er"), { recursive: true });
    await symlink(".", join(a, "self"));
    await symlink("..", join(a, "deep/er/up"));
    await symlink(join(a, "deep"), join(a, "deep/er/again"));
    await symlink("ping.md", join(a, "pong.md"));
    await symlink("pong.md", join(a, "ping.md"));
    await writeFile(join(a, "deep/er/real.md"), "a real file\n");
    const scan = await scanFolder(a, new SyncFilter(["md"]));
    assert.deepEqual([...scan.files.keys()].filter((p) => p.endsWith(".md")).sort(), [
      "deep/er/real.md",
      "existing.md",
    ]);
    await folders.vaults[0].binding.reconcile();
    await waitFor(
      "the real file on the other device",
      async () => (await readText(join(b, "deep/er/real.md"))) === "a real file\n",
    );
    assert.equal(await readText(join(b, "ping.md")), undefined);
    assert.equal(await readText(join(b, "self/existing.md")), undefined);
  });

  it("never writes an arriving file through a symlink to a file outside the vault", async () => {
    const [a, b] = folders.dirs;
    await symlink(join(outside, "secret.md"), join(b, "secret.md"));
    await writeFile(join(a, "secret.md"), "a device tries to write here\n");
    await writeFile(join(a, "marker.md"), "written after\n");
    await waitFor("a later file", async () => (await readText(join(b, "marker.md"))) === "written after\n");
    await folders.vaults[1].binding.reconcile();
    await folders.vaults[1].binding.idle();
    assert.equal(await readFile(join(outside, "secret.md"), "utf8"), "outside the vault, must stay as is\n");
    assert.deepEqual(await readdir(outside), ["secret.md"]);
  });

  it("never writes an arriving file through a symlinked folder pointing outside", async () => {
    const [a, b] = folders.dirs;
    await symlink(outside, join(b, "linked"));
    await mkdir(join(a, "linked"));
    await writeFile(join(a, "linked/evil.md"), "should not escape\n");
    await writeFile(join(a, "marker2.md"), "after\n");
    await waitFor("a later file", async () => (await readText(join(b, "marker2.md"))) === "after\n");
    await folders.vaults[1].binding.reconcile();
    await folders.vaults[1].binding.idle();
    assert.deepEqual(await readdir(outside), ["secret.md"]);
  });
});
