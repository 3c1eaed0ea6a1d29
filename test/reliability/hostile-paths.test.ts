/**
 * A device of the vault (authorised, but buggy or hostile) writes file entries whose paths try to
 * leave the vault, collide with other spellings, or are invalid on some filesystem. Every receiver
 * rejects them, logs them, writes nothing outside its vault, and keeps syncing everything else.
 */
import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readdir, rm, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { bucketOf } from "../../agent/vault/model/bucket.js";
import { toStoredRev, listStored, type Doc } from "../../agent/vault/model/vault-doc.js";
import { waitFor } from "../helpers/wait.js";

const HOSTILE = [
  "../../x.md",
  "/etc/edgesync-x.md",
  "a/../../b.md",
  "a\\..\\..\\c.md",
  "nul\u0000byte.md",
  "cafe\u0301.md", // NFD spelling of café.md, which also exists in NFC
  `${"n".repeat(300)}.md`,
  "CON.md",
  "aux",
  "trailing-dot.",
  ".edgesync/config.toml",
  "",
  "./dot.md",
  "a//double.md",
];

/** Writes raw entries straight into the doc, skipping the path checks a well-behaved device runs. */
function rawPut(entries: Record<string, string>) {
  return (doc: Doc, now: number) =>
    A.change(doc, { time: now, message: "hostile" }, (draft) => {
      for (const [path, body] of Object.entries(entries)) {
        const bucket = bucketOf(path);
        draft.files[bucket] ??= {};
        draft.files[bucket][path] = toStoredRev(path, new TextEncoder().encode(body), now, "UHOSTILE", undefined);
      }
    });
}

/** Every file under `dir`, relative. */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await tree(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

describe("remote paths from an authorised but hostile device", () => {
  let parent: string;
  let folders: Folders;
  let victim: string;
  let configBefore: string;

  before(async () => {
    parent = await mkdtemp(join(tmpdir(), "es-hostile-"));
    const nest = join(parent, "p1", "p2");
    await mkdir(nest, { recursive: true });
    folders = await vaultFolders({ parent: nest, seed: { "café.md": "the NFC one\n" } });
    victim = folders.dirs[1];
    configBefore = await readFile(join(victim, ".edgesync/config.toml"), "utf8");
    const [hostile] = folders.vaults;
    const entries = Object.fromEntries(HOSTILE.map((p) => [p, `payload for ${JSON.stringify(p)}\n`]));
    // A good file in the same change as the hostile ones.
    await hostile.engine.update(rawPut({ ...entries, "same-change.md": "beside the hostile entries\n" }));
    await hostile.engine.change([
      { type: "put", path: "after.md", bytes: new TextEncoder().encode("sent after the hostile entries\n"), mtime: 1 },
    ]);
  });

  after(async () => {
    await folders.cleanup();
    await rm(parent, { recursive: true, force: true });
  });

  it("keeps syncing the other files after receiving hostile paths: one unsafe path never aborts the pass", async () => {
    await waitFor(
      "after.md on the victim",
      async () => (await readText(join(victim, "after.md"))) === "sent after the hostile entries\n",
    );
    await waitFor(
      "same-change.md on the victim",
      async () => (await readText(join(victim, "same-change.md"))) === "beside the hostile entries\n",
    );
    const vb = folders.vaults[1];
    await vb.binding.reconcile();
    await vb.binding.idle();
    assert.ok(
      listStored(vb.engine.doc).has("../../x.md"),
      "the victim did receive the hostile entries (this test is not vacuous)",
    );
  });

  it("writes nothing outside the vault root", async () => {
    const outside = (await tree(parent)).filter((p) => !p.startsWith("p1/p2/es-rel-"));
    assert.deepEqual(outside, []);
    assert.equal(await readText("/etc/edgesync-x.md"), undefined);
  });

  it("writes none of the hostile names inside the vault either, and never touches .edgesync", async () => {
    const files = await tree(victim);
    const synced = files.filter((p) => !p.startsWith(".edgesync/"));
    assert.deepEqual(
      synced,
      [".syncignore", "after.md", "authorized_keys", "café.md", "existing.md", "same-change.md"].sort(),
    );
    assert.equal(await readFile(join(victim, ".edgesync/config.toml"), "utf8"), configBefore);
  });

  it("never lets an NFD spelling overwrite the NFC file of the same name", async () => {
    assert.equal(await readText(join(victim, "café.md")), "the NFC one\n");
    assert.equal(await readText(join(folders.dirs[0], "café.md")), "the NFC one\n");
  });

  it("logs each rejected path", () => {
    const logged = folders.logs[1].warnings.map((w) => `${w.message} ${JSON.stringify(w.fields)}`).join("\n");
    assert.match(logged, /x\.md/);
    for (const name of [
      "x.md",
      "edgesync-x.md",
      "b.md",
      "c.md",
      "byte.md",
      "cafe",
      "nnnn",
      "CON.md",
      "aux",
      "trailing-dot",
      "config.toml",
      "dot.md",
      "double.md",
    ])
      assert.ok(logged.includes(name), `${name} was logged`);
    assert.doesNotMatch(logged, /folder binding step failed/);
  });
});
