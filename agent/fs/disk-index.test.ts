import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskIndex } from "./disk-index.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("DiskIndex", () => {
  it("saves what was set and deleted, and loads it back the same", async () => {
    const dir = await mkdtemp(join(tmpdir(), "es-index-"));
    dirs.push(dir);
    const index = new DiskIndex(dir);
    index.set('notes/"quoted" ü.md', { sha256: "aa", heads: ["h1"] });
    index.set("123", { sha256: "bb", heads: [] });
    index.set("gone.md", { sha256: "cc", heads: ["h2"] });
    index.set("notes/a.md", { sha256: "dd", heads: ["h3", "h4"] });
    index.delete("gone.md");
    index.set("123", { sha256: "ee", heads: ["h5"] });
    await index.save();
    const saved = JSON.parse(await readFile(join(dir, "disk-index.json"), "utf8")) as unknown;
    assert.deepEqual(saved, {
      'notes/"quoted" ü.md': { sha256: "aa", heads: ["h1"] },
      "123": { sha256: "ee", heads: ["h5"] },
      "notes/a.md": { sha256: "dd", heads: ["h3", "h4"] },
    });
    const loaded = new DiskIndex(dir);
    await loaded.load();
    assert.deepEqual(loaded.paths().sort(), ["123", 'notes/"quoted" ü.md', "notes/a.md"]);
    assert.deepEqual(loaded.get("123"), { sha256: "ee", heads: ["h5"] });
    loaded.delete("notes/a.md");
    await loaded.save();
    const again = new DiskIndex(dir);
    await again.load();
    assert.deepEqual(again.paths().sort(), ["123", 'notes/"quoted" ü.md']);
  });
});
