import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { createVaultDoc, applyFileOps, type Doc } from "../vault/model/vault-doc.js";
import { sha256Hex, utf8Encode } from "../vault/model/bytes.js";
import { WritesSince, docHeldSince } from "./own-write.js";

const put = (doc: Doc, files: Record<string, string>, time: number) =>
  applyFileOps(
    doc,
    Object.entries(files).map(([path, text]) => ({ type: "put" as const, path, bytes: utf8Encode(text), mtime: time })),
    { time, by: "A" },
  );
const hash = (text: string) => sha256Hex(utf8Encode(text));

describe("WritesSince", () => {
  const created = createVaultDoc({ vaultId: "v1", name: "notes", createdAt: 1000 }, "aa".repeat(16));
  const first = put(created, { "a.md": "one", "b.md": "two" }, 2000);
  const second = put(first, { "a.md": "three", "c/d.md": "four" }, 3000);

  it("finds every version written after the given heads, and no other", () => {
    const writes = new WritesSince(second);
    const cases: [string, string, A.Heads, boolean][] = [
      ["a.md", "one", [], true],
      ["a.md", "three", [], true],
      ["b.md", "two", [], true],
      ["c/d.md", "four", [], true],
      ["b.md", "one", [], false],
      ["missing.md", "one", [], false],
      ["a.md", "one", A.getHeads(first), false],
      ["b.md", "two", A.getHeads(first), false],
      ["a.md", "three", A.getHeads(first), true],
      ["c/d.md", "four", A.getHeads(first), true],
      ["a.md", "three", A.getHeads(second), false],
    ];
    for (const [path, text, since, expected] of cases) {
      const label = `${path} = ${text} after ${since.length === 0 ? "the start" : "a later state"}`;
      assert.equal(writes.held(path, hash(text), since), expected, label);
      assert.equal(docHeldSince(second, path, hash(text), since), expected, `docHeldSince: ${label}`);
    }
  });
});
