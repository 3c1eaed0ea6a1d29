/**
 * The documented outcome of a concurrent delete and edit of one file: the edit wins, and the file
 * is restored (with the edit) on the device that deleted it. Nothing typed is ever lost to a delete
 * made without having seen it.
 */
import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { writeFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { FaultBus } from "../helpers/fault-bus.js";
import { readEntry } from "../../agent/vault/model/vault-doc.js";
import { waitFor } from "../helpers/wait.js";

let folders: Folders | undefined;
afterEach(async () => {
  await folders?.cleanup();
  folders = undefined;
});

const docText = (folders: Folders, i: number, path: string) => {
  const entry = readEntry(folders.vaults[i].engine.doc, path);
  return entry && new TextDecoder().decode(entry.bytes);
};

for (const [deleter, editor] of [
  [0, 1],
  [1, 0],
] as const) {
  describe(`device ${deleter} deletes while device ${editor} edits the same file`, () => {
    it("keeps the edit and restores the file on the deleting device", async () => {
      const bus = new FaultBus();
      folders = await vaultFolders({ bus, seed: { "shared.md": "# Shared\n\noriginal\n" } });
      const f = folders;
      bus.isolate(`U${deleter}`);
      await unlink(join(f.dirs[deleter], "shared.md"));
      await waitFor(
        "the delete to be recorded on the deleting device",
        () => docText(f, deleter, "shared.md") === undefined,
      );
      await writeFile(join(f.dirs[editor], "shared.md"), "# Shared\n\noriginal, and an edit made meanwhile\n");
      await waitFor(
        "the edit to be recorded on the editing device",
        () => docText(f, editor, "shared.md")?.includes("edit made meanwhile") === true,
      );
      bus.heal();
      const want = "# Shared\n\noriginal, and an edit made meanwhile\n";
      await waitFor(
        "the edited file on both devices",
        async () =>
          (await readText(join(f.dirs[0], "shared.md"))) === want &&
          (await readText(join(f.dirs[1], "shared.md"))) === want,
      );
      assert.equal(docText(f, 0, "shared.md"), want);
      assert.equal(docText(f, 1, "shared.md"), want);
    });
  });
}
