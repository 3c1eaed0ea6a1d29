import { describe, it, afterEach } from "node:test";
import assert from "node:assert/strict";
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskIndex } from "./disk-index.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "es-index-"));
  dirs.push(dir);
  return dir;
}

async function loaded(dir: string): Promise<DiskIndex> {
  const index = new DiskIndex(dir);
  await index.load();
  return index;
}

const entries = (index: DiskIndex) =>
  Object.fromEntries(
    index
      .paths()
      .sort()
      .map((p) => [p, index.get(p)]),
  );

describe("DiskIndex", () => {
  it("saves what was set and deleted, and loads it back the same", async () => {
    const dir = await freshDir();
    const index = new DiskIndex(dir);
    index.set('notes/"quoted" ü.md', { sha256: "aa", heads: ["h1"] });
    index.set("123", { sha256: "bb", heads: [] });
    index.set("gone.md", { sha256: "cc", heads: ["h2"] });
    index.set("notes/a.md", { sha256: "dd", heads: ["h3", "h4"] });
    index.delete("gone.md");
    index.set("123", { sha256: "ee", heads: ["h5"] });
    await index.save();
    const first = await loaded(dir);
    assert.deepEqual(entries(first), {
      "123": { sha256: "ee", heads: ["h5"] },
      'notes/"quoted" ü.md': { sha256: "aa", heads: ["h1"] },
      "notes/a.md": { sha256: "dd", heads: ["h3", "h4"] },
    });
    first.delete("notes/a.md");
    await first.save();
    const again = await loaded(dir);
    assert.deepEqual(again.paths().sort(), ["123", 'notes/"quoted" ü.md']);
  });

  it("saves a one-file change as one appended line, whatever the size of the index", async () => {
    const dir = await freshDir();
    const index = new DiskIndex(dir);
    for (let i = 0; i < 900; i++) index.set(`notes/${i}.md`, { sha256: `s${i}`, heads: ["h"] });
    await index.save();
    const before = (await stat(join(dir, "disk-index.journal"))).size;
    index.set("notes/7.md", { sha256: "edited", heads: ["h2"] });
    await index.save();
    const appended = (await readFile(join(dir, "disk-index.journal"), "utf8")).slice(before);
    assert.equal(appended, `${JSON.stringify(["notes/7.md", { sha256: "edited", heads: ["h2"] }])}\n`);
    assert.deepEqual((await loaded(dir)).get("notes/7.md"), { sha256: "edited", heads: ["h2"] });
  });

  it("folds a long journal into the snapshot; a crash before the journal was emptied leaves entries that only lag", async () => {
    const dir = await freshDir();
    const journalPath = join(dir, "disk-index.journal");
    const index = new DiskIndex(dir);
    const history = new Map<string, unknown[]>();
    let journalAtCompaction: string | undefined;
    for (let i = 0; journalAtCompaction === undefined; i++) {
      assert.ok(i < 5000, "the journal was never folded");
      const path = `notes/${i % 50}.md`;
      const entry = i % 7 === 6 ? null : { sha256: `s${i}`, heads: [`h${i}`] };
      if (entry) index.set(path, entry);
      else index.delete(path);
      history.set(path, [...(history.get(path) ?? [undefined]), entry ?? undefined]);
      const before = await readFile(journalPath, "utf8").catch(() => "");
      await index.save();
      if ((await readFile(journalPath, "utf8").catch(() => "")).length < before.length) journalAtCompaction = before;
    }
    const expected = entries(index);
    assert.equal(await readFile(journalPath, "utf8"), "", "the journal was emptied into the snapshot");
    assert.deepEqual(entries(await loaded(dir)), expected);
    // As if the process died between the snapshot's rename and the journal's truncation.
    await writeFile(journalPath, journalAtCompaction);
    const replayed = await loaded(dir);
    for (const [path, values] of history)
      assert.ok(
        values.some((value) => JSON.stringify(value) === JSON.stringify(replayed.get(path))),
        `${path} holds an entry it never had`,
      );
  });

  it("writes a first save of a large index as the snapshot, not as journal lines", async () => {
    const dir = await freshDir();
    const index = new DiskIndex(dir);
    for (let i = 0; i < 1500; i++) index.set(`notes/${i}.md`, { sha256: `s${i}`, heads: [] });
    await index.save();
    assert.equal(await readFile(join(dir, "disk-index.journal"), "utf8").catch(() => ""), "");
    const snapshot = JSON.parse(await readFile(join(dir, "disk-index.json"), "utf8")) as Record<string, unknown>;
    assert.equal(Object.keys(snapshot).length, 1500);
    assert.equal((await loaded(dir)).paths().length, 1500);
  });

  it("ignores a torn journal line and keeps every whole line around it", async () => {
    const dir = await freshDir();
    const index = new DiskIndex(dir);
    index.set("a.md", { sha256: "a1", heads: ["h1"] });
    await index.save();
    await appendFile(join(dir, "disk-index.journal"), '["a.md",{"sha256":"a2","he');
    await appendFile(join(dir, "disk-index.journal"), `\n${JSON.stringify(["b.md", { sha256: "b1", heads: [] }])}\n`);
    assert.deepEqual(entries(await loaded(dir)), {
      "a.md": { sha256: "a1", heads: ["h1"] },
      "b.md": { sha256: "b1", heads: [] },
    });
  });

  it("loads an index an earlier version saved whole (a snapshot and no journal)", async () => {
    const dir = await freshDir();
    await writeFile(join(dir, "disk-index.json"), JSON.stringify({ "a.md": { sha256: "a1", heads: ["h1"] }, bad: 3 }));
    assert.deepEqual(entries(await loaded(dir)), { "a.md": { sha256: "a1", heads: ["h1"] } });
  });
});
