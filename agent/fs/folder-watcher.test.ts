import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watchFolderTree } from "./folder-watcher.js";

/** A watcher over a fresh folder that records every path it reports. */
async function watched(prepare?: (root: string) => Promise<unknown>) {
  const root = await mkdtemp(join(tmpdir(), "es-watch-"));
  await prepare?.(root);
  const seen: string[] = [];
  const waiters: { path: string; resolve: () => void }[] = [];
  const watcher = watchFolderTree(root, {
    skip: (folder) => folder === ".edgesync",
    onEvent: (path) => {
      seen.push(path);
      for (const w of waiters.filter((w) => w.path === path)) w.resolve();
    },
    onError: (error) => assert.fail(`watcher error: ${String(error)}`),
  });
  /** Resolves once `path` has been reported (10 s at most: a missing event fails the test). */
  const reported = (path: string) =>
    new Promise<void>((resolve, reject) => {
      if (seen.includes(path)) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`${path} never reported; saw ${JSON.stringify(seen.slice(-20))}`)),
        10_000,
      );
      waiters.push({ path, resolve: () => (clearTimeout(timer), resolve()) });
    });
  const done = async () => {
    watcher.close();
    await rm(root, { recursive: true, force: true });
  };
  return { root, seen, watcher, reported, done };
}

describe("watchFolderTree", () => {
  it("reports files created, written and removed at the root and in nested folders", async () => {
    const w = await watched((root) => mkdir(join(root, "a/b"), { recursive: true }));
    try {
      await writeFile(join(w.root, "top.md"), "1");
      await w.reported("top.md");
      await writeFile(join(w.root, "a/b/deep.md"), "2");
      await w.reported("a/b/deep.md");
      w.seen.length = 0;
      await rm(join(w.root, "a/b/deep.md"));
      await w.reported("a/b/deep.md");
    } finally {
      await w.done();
    }
  });

  it("follows a folder made after the start: its own event, then what is written in it", async () => {
    const w = await watched();
    try {
      await mkdir(join(w.root, "new/inner"), { recursive: true });
      await w.reported("new");
      await writeFile(join(w.root, "new/inner/x.md"), "x");
      await w.reported("new/inner/x.md");
    } finally {
      await w.done();
    }
  });

  it("reports a moved folder's files under the new name, and forgets a removed folder", async () => {
    const w = await watched(async (root) => {
      await mkdir(join(root, "old/sub"), { recursive: true });
      await mkdir(join(root, "gone"));
    });
    try {
      assert.equal(w.watcher.watchedFolders, process.platform === "linux" ? 4 : 1);
      await rename(join(w.root, "old"), join(w.root, "moved"));
      await w.reported("moved");
      await writeFile(join(w.root, "moved/sub/y.md"), "y");
      await w.reported("moved/sub/y.md");
      assert.ok(
        !w.seen.some((p) => p.startsWith("old/")),
        `nothing reported under the old name: ${JSON.stringify(w.seen)}`,
      );
      await rm(join(w.root, "gone"), { recursive: true });
      await w.reported("gone");
      if (process.platform === "linux") assert.equal(w.watcher.watchedFolders, 3, "root, moved, moved/sub");
    } finally {
      await w.done();
    }
  });

  it("neither watches nor reports a skipped folder (the agent's own state)", async () => {
    const w = await watched((root) => mkdir(join(root, ".edgesync")));
    try {
      if (process.platform === "linux") assert.equal(w.watcher.watchedFolders, 1);
      await writeFile(join(w.root, ".edgesync/doc.log"), "state");
      await writeFile(join(w.root, "after.md"), "sentinel");
      await w.reported("after.md");
      assert.deepEqual(
        w.seen.filter((p) => p.startsWith(".edgesync")),
        [],
      );
    } finally {
      await w.done();
    }
  });

  it("refuses a root that is not a folder", async () => {
    const root = await mkdtemp(join(tmpdir(), "es-watch-"));
    try {
      await writeFile(join(root, "file"), "");
      assert.throws(() =>
        watchFolderTree(join(root, "file"), { skip: () => false, onEvent: () => {}, onError: () => {} }),
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
