/**
 * Core NATS is at-most-once and a buggy relay may duplicate or replay: every message delivered
 * twice, and then the whole history replayed, must change nothing — no resurrected delete, no
 * reverted edit, the same heads everywhere.
 */
import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { writeFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import * as A from "@automerge/automerge";
import { vaultFolders, readText, type Folders } from "../helpers/vault-pair.js";
import { FaultBus } from "../helpers/fault-bus.js";
import { listStored } from "../../agent/vault/model/vault-doc.js";
import { waitFor } from "../helpers/wait.js";

describe("duplicated and replayed messages", () => {
  let folders: Folders;
  after(async () => folders?.cleanup());

  it("converge to the same state as a clean run and stay there after a full replay", async () => {
    const bus = new FaultBus();
    bus.duplicate = true;
    folders = await vaultFolders({ count: 3, bus, seed: { "keep.md": "v1\n", "gone.md": "to be deleted\n" } });
    const [a, b, c] = folders.dirs;
    await writeFile(join(a, "keep.md"), "v2 from a\n");
    await waitFor(
      "v2 everywhere",
      async () =>
        (await readText(join(c, "keep.md"))) === "v2 from a\n" &&
        (await readText(join(b, "keep.md"))) === "v2 from a\n",
    );
    await unlink(join(b, "gone.md"));
    await waitFor(
      "the delete everywhere",
      async () =>
        (await readText(join(a, "gone.md"))) === undefined && (await readText(join(c, "gone.md"))) === undefined,
    );
    await writeFile(join(c, "keep.md"), "v3 from c\n");
    await waitFor(
      "v3 everywhere",
      async () =>
        (await readText(join(a, "keep.md"))) === "v3 from c\n" &&
        (await readText(join(b, "keep.md"))) === "v3 from c\n",
    );
    bus.duplicate = false;
    const heads = folders.vaults.map((v) => A.getHeads(v.engine.doc).sort().join());
    const replayed = bus.replayAll();
    await Promise.all(folders.vaults.map((v) => v.engine.flush()));
    await Promise.all(folders.vaults.map((v) => v.binding.idle()));
    for (const root of [a, b, c]) {
      assert.equal(await readText(join(root, "keep.md")), "v3 from c\n");
      assert.equal(
        await readText(join(root, "gone.md")),
        undefined,
        "a replayed put did not resurrect the deleted file",
      );
    }
    assert.deepEqual(
      folders.vaults.map((v) => A.getHeads(v.engine.doc).sort().join()),
      heads,
      "a replay changes no heads",
    );
    assert.ok(folders.vaults.every((v) => !listStored(v.engine.doc).has("gone.md")));
    assert.ok(bus.stats.duplicated > 10 && replayed > 10, `duplicated ${bus.stats.duplicated}, replayed ${replayed}`);
    console.log(`# duplicated ${bus.stats.duplicated} messages, replayed ${replayed}`);
  });
});
