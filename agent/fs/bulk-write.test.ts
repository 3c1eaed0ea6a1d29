import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeNewFiles, syncfs, type NewFile, type NewFileOutcome } from "./bulk-write.js";
import { sweepTempFilesTree } from "./atomic-write.js";
import { walk as listTree } from "../../test/helpers/trial.js";

const text = (s: string) => new TextEncoder().encode(s);

describe("writeNewFiles", () => {
  let box: string;
  before(async () => {
    box = await mkdtemp(join(tmpdir(), "es-bulk-"));
  });
  after(async () => {
    await rm(box, { recursive: true, force: true });
  });

  async function folderWith(files: number): Promise<{ root: string; batch: NewFile[] }> {
    const root = await mkdtemp(join(box, "v-"));
    await mkdir(join(root, "a"));
    await mkdir(join(root, "b"));
    const batch = Array.from({ length: files }, (_, i) => ({
      absolute: join(root, i % 2 ? "a" : "b", `n${i}.md`),
      bytes: text(`note ${i}\n`.repeat(i % 7)),
    }));
    return { root, batch };
  }

  it("creates every file with its bytes, in small slices, leaving no temp file behind", async () => {
    const { root, batch } = await folderWith(300);
    const outcomes = await writeNewFiles(batch, { sliceFiles: 16 });
    assert.ok(outcomes.every((o) => o.kind === "written"));
    for (const [i, file] of batch.entries()) {
      assert.deepEqual(new Uint8Array(await readFile(file.absolute)), file.bytes);
      const outcome: NewFileOutcome = outcomes[i];
      assert.equal(outcome.kind === "written" && outcome.size, file.bytes.length);
    }
    assert.equal((await listTree(root)).length, 300);
  });

  it("never replaces a file that exists at a name: that one is reported and left as it was", async () => {
    const { root, batch } = await folderWith(10);
    await writeFile(batch[3].absolute, "the user's own note");
    const outcomes = await writeNewFiles(batch);
    assert.deepEqual(outcomes[3], { kind: "exists" });
    assert.equal(await readFile(batch[3].absolute, "utf8"), "the user's own note");
    assert.equal(outcomes.filter((o) => o.kind === "written").length, 9);
    assert.equal((await listTree(root)).length, 10);
  });

  it("shows nothing under a real name until the contents are durable, and a sweep removes what it had written", async () => {
    const { root, batch } = await folderWith(20);
    const seen: string[][] = [];
    const outcomes = await writeNewFiles(batch, {
      syncFilesystem: async () => {
        seen.push(await listTree(root));
        return false; // as where syncfs is missing: each file is fsynced instead
      },
    });
    // At the first flush only temp files exist (a crash here leaves no file half there)...
    assert.equal(seen[0].length, 20);
    assert.ok(
      seen[0].every((path) => path.includes(".edgesync-tmp-")),
      seen[0].join(", "),
    );
    // ...and they carry the name the start-up sweep recognises.
    assert.equal(seen.length, 2);
    assert.ok(outcomes.every((o) => o.kind === "written"));
    const crashed = await mkdtemp(join(box, "crashed-"));
    for (const path of seen[0]) await writeFile(join(crashed, path.split("/").pop() as string), "torn");
    assert.equal(await sweepTempFilesTree(crashed), 20);
  });

  it("flushes every filesystem the files are on, once per step", async () => {
    const { batch } = await folderWith(4);
    const other = await mkdtemp(join(existsSync("/dev/shm") ? "/dev/shm" : box, "es-bulk-other-"));
    try {
      const flushed: string[] = [];
      const files = [...batch, { absolute: join(other, "x.md"), bytes: text("x") }];
      const outcomes = await writeNewFiles(files, {
        syncFilesystem: async (dir) => {
          flushed.push(dir);
          return true;
        },
      });
      assert.ok(outcomes.every((o) => o.kind === "written"));
      const devices = new Set([statSync(box).dev, statSync(other).dev]).size;
      assert.equal(flushed.length, 2 * devices, flushed.join(", "));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("reports a file it cannot create and still writes the others", async () => {
    const { root, batch } = await folderWith(5);
    const outcomes = await writeNewFiles([
      ...batch,
      { absolute: join(root, "missing-folder", "x.md"), bytes: text("x") },
    ]);
    assert.equal(outcomes[5].kind, "failed");
    assert.equal(outcomes[5].kind === "failed" && (outcomes[5].error as NodeJS.ErrnoException).code, "ENOENT");
    assert.equal(outcomes.filter((o) => o.kind === "written").length, 5);
  });
});

describe("syncfs", () => {
  it("flushes the filesystem through coreutils `sync -f` on Linux, and says false where it cannot", async () => {
    assert.equal(await syncfs(tmpdir()), process.platform === "linux");
    assert.equal(await syncfs(join(tmpdir(), "no-such-folder-for-edgesync")), false);
  });
});
