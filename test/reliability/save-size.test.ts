/**
 * An ordinary edit stores a small incremental save, not the whole vault again: the engine only
 * rebuilds Automerge's view when view and backend really disagree.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { waitFor } from "../helpers/wait.js";

describe("incremental saves", () => {
  let folders: Folders;
  after(async () => folders?.cleanup());

  it("stores an edit of one file in a few kilobytes, not a full save of the vault", async () => {
    const seed = Object.fromEntries(
      Array.from({ length: 1000 }, (_, i) => [`n${i}.md`, `note ${i} ${"z".repeat(200)}\n`]),
    );
    folders = await vaultFolders({ seed });
    const [a, b] = folders.dirs;
    const logSize = (dir: string) =>
      stat(join(dir, ".edgesync/doc.log")).then(
        (s) => s.size,
        () => 0,
      );
    const fullSave =
      (await logSize(b)) +
      (await stat(join(b, ".edgesync/doc.bin")).then(
        (s) => s.size,
        () => 0,
      ));
    const before = [await logSize(a), await logSize(b)];
    for (let i = 0; i < 5; i++) {
      await writeFile(join(a, "n1.md"), `edit ${i}\n`);
      await waitFor(`edit ${i} on the other device`, async () => (await readText(join(b, "n1.md"))) === `edit ${i}\n`);
    }
    await folders.vaults[1].engine.flush();
    const growth = [(await logSize(a)) - before[0], (await logSize(b)) - before[1]];
    assert.ok(
      growth.every((g) => g < 20 * 1024),
      `doc.log grew by ${growth.join(" / ")} bytes for 5 small edits (a full save is ${fullSave} bytes)`,
    );
    const rebuilt = folders.logs.flatMap((l) => l.warnings).filter((w) => /out of step/.test(w.message)).length;
    assert.equal(rebuilt, 0, "no view rebuild for ordinary changes");
  });
});
