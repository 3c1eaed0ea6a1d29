import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FolderChecks } from "./safe-fs.js";

describe("FolderChecks.listedAbsent", () => {
  it("answers from one listing per folder: absent names and missing folders yes, present files and folders no", async () => {
    const root = await mkdtemp(join(tmpdir(), "es-safe-"));
    try {
      await mkdir(join(root, "a", "sub"), { recursive: true });
      await writeFile(join(root, "a", "here.md"), "x");
      const checks = new FolderChecks(root, { listFolders: true });
      assert.equal(await checks.listedAbsent("a/here.md"), false);
      assert.equal(await checks.listedAbsent("a/sub"), false);
      assert.equal(await checks.listedAbsent("a/gone.md"), true);
      assert.equal(await checks.listedAbsent("missing/x.md"), true);
      // The listing is as of the first ask; forgetting the folder reads it again.
      await writeFile(join(root, "a", "late.md"), "y");
      assert.equal(await checks.listedAbsent("a/late.md"), true);
      checks.forget(join(root, "a"));
      assert.equal(await checks.listedAbsent("a/late.md"), false);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("never claims absence when listings are off", async () => {
    assert.equal(await new FolderChecks(tmpdir()).listedAbsent("surely/not/here.md"), false);
  });
});
