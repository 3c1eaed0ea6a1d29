import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SearchIndex } from "./search-index.js";

describe("the search index", () => {
  it("ranks the file that matches more, and shows its matching lines with their numbers", () => {
    const index = new SearchIndex();
    index.apply([
      { path: "soup.md", kind: "created", text: "# Soup\ncarrots and onions\nmore carrots\n" },
      { path: "cake.md", kind: "created", text: "# Cake\none carrot\n" },
      { path: "bread.md", kind: "created", text: "# Bread\nflour\n" },
    ]);
    const hits = index.search("carrots");
    assert.deepEqual(
      hits.map((h) => h.path),
      ["soup.md", "cake.md"],
    );
    assert.deepEqual(hits[0].lines, [
      { line: 2, text: "carrots and onions" },
      { line: 3, text: "more carrots" },
    ]);
  });

  it("follows an edit and a delete file by file", () => {
    const index = new SearchIndex();
    index.apply([
      { path: "a.md", kind: "created", text: "apples" },
      { path: "b.md", kind: "created", text: "apples too" },
    ]);
    index.apply([
      { path: "a.md", kind: "modified", text: "pears" },
      { path: "b.md", kind: "deleted" },
    ]);
    assert.deepEqual(index.search("apples"), []);
    assert.deepEqual(
      index.search("pears").map((h) => h.path),
      ["a.md"],
    );
    assert.equal(index.size, 1);
  });

  it("finds a file by a word of its path, and a word with a typo", () => {
    const index = new SearchIndex();
    index.apply([{ path: "projects/roadmap.md", kind: "created", text: "quarterly milestones" }]);
    assert.equal(index.search("roadmap")[0]?.path, "projects/roadmap.md");
    assert.equal(index.search("milestnes")[0]?.path, "projects/roadmap.md");
  });
});
