/**
 * Editors save in ways that, looked at mid-way, show an empty or missing file: write-to-temp and
 * rename over, truncate then write, vim's backup dance with its `4913` probe, delete and recreate.
 * None of those intermediate states may ever enter the vault's history, let alone reach another
 * device. Gaps inside each save are random (seeded) up to 150 ms, inside the grace periods.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, rename, unlink, open } from "node:fs/promises";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { seeded } from "../helpers/trial.js";
import { readStored, type Doc } from "../../agent/vault/model/vault-doc.js";
import { waitFor } from "../helpers/wait.js";

const SEED = Number(process.env.EDGESYNC_EDITOR_SEED ?? Date.now() % 1_000_000);
const rng = seeded(SEED);
const gap = () => new Promise((r) => setTimeout(r, rng.int(150)));

/** `midway` runs in the middle of the save, while the file is empty or missing. */
type Save = (path: string, text: string, midway: () => Promise<void>) => Promise<void>;

const patterns: Record<string, Save> = {
  "write to a temp file and rename it over": async (path, text, midway) => {
    await writeFile(`${path}.tmp`, text);
    await gap();
    await midway();
    await rename(`${path}.tmp`, path);
  },
  "truncate, then write": async (path, text, midway) => {
    const handle = await open(path, "w"); // O_TRUNC: the file is empty now
    await gap();
    await midway();
    await handle.writeFile(text);
    await handle.close();
  },
  "vim: probe 4913, move the original to a backup, write anew, drop the backup": async (path, text, midway) => {
    const probe = join(path, "..", "4913");
    await writeFile(probe, "");
    await unlink(probe);
    await rename(path, `${path}~`);
    await gap();
    await midway();
    await writeFile(path, text);
    await unlink(`${path}~`);
  },
  "delete, then create again": async (path, text, midway) => {
    await unlink(path);
    await gap();
    await midway();
    await writeFile(path, text);
  },
};

/** Every state of `path` in the doc's history, oldest first (undefined = absent). */
function historyOf(doc: Doc, path: string): (number | undefined)[] {
  return A.getHistory(doc).map((state) => readStored(state.snapshot as Doc, path)?.size);
}

describe(`editor save patterns (seed ${SEED})`, () => {
  let folders: Folders;
  after(async () => folders?.cleanup());

  // A second look at the file mid-save — a rescan, or a second watcher event for the same path —
  // must wait out the grace period too: a grace period that only skipped the next look would let
  // vim's backup dance, under load, put a deleted state into history.
  const midways = {
    "": async () => {},
    " (a rescan lands mid-save)": async () => folders.vaults[0].binding.reconcile(),
  };
  for (const [when, midway] of Object.entries(midways)) {
    for (const [index, [name, save]] of Object.entries(patterns).entries()) {
      it(`never propagates an empty or deleted file: ${name}${when}`, async () => {
        folders ??= await vaultFolders({ seed: { "note.md": "version 0\n" } });
        const [a, b] = folders.dirs;
        const path = `note-${index}${when ? "-rescan" : ""}.md`;
        await writeFile(join(a, path), "first version\n");
        await waitFor(
          "the first version on the other device",
          async () => (await readText(join(b, path))) === "first version\n",
        );
        for (let i = 1; i <= 3; i++) {
          await save(join(a, path), `version ${i} of ${path}\n`, midway);
          await waitFor(
            `version ${i} on the other device`,
            async () => (await readText(join(b, path))) === `version ${i} of ${path}\n`,
          );
        }
        for (const [device, vault] of folders.vaults.entries()) {
          const sizes = historyOf(vault.engine.doc, path);
          const first = sizes.findIndex((s) => s !== undefined);
          const after = sizes.slice(first);
          assert.ok(
            after.every((s) => s !== undefined && s > 0),
            `device ${device}'s history of ${path} has an empty or deleted state: ${JSON.stringify(after)} (seed ${SEED})`,
          );
        }
      });
    }
  }
});
