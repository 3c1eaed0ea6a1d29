import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { EntryVerdicts, auditFiles, contentProblem, entryProblem } from "./entry-check.js";
import { createHash } from "node:crypto";
import { bucketOf } from "./bucket.js";
import { applyFileOps, createVaultDoc, toStoredRev } from "./vault-doc.js";
import type { StoredRev, VaultDoc } from "./schema.js";

const im = (s: string) => new A.ImmutableString(s);

describe("vault entry checks", () => {
  it("accepts every revision the agent itself writes: text, blob and legacy inline data", () => {
    const text = toStoredRev("a.md", new TextEncoder().encode("hello\n"), 1, "me", undefined);
    assert.equal(entryProblem(bucketOf("a.md"), "a.md", text), undefined);
    assert.equal(contentProblem(text), undefined);
    const blob = toStoredRev("b.bin", new Uint8Array([0, 1, 2]), 1, "me", new Map());
    assert.equal(entryProblem(bucketOf("b.bin"), "b.bin", blob), undefined);
    assert.equal(contentProblem(blob), undefined, "a blob's bytes are checked when they arrive");
    const legacy: StoredRev = {
      data: new Uint8Array([0, 9]),
      sha256: im("5e2b1dbd1b6fc5a0a1b0d1ec6d2a1ac20d3ae53ab0b54e4cad2c3ee21a0b6b5f"),
      size: 2,
      mtime: 1,
      by: im("me"),
    };
    assert.equal(entryProblem(bucketOf("c.bin"), "c.bin", legacy), undefined);
    assert.match(contentProblem(legacy) ?? "", /sha256 is not the SHA-256 of the content/);
  });

  it("names every problem of a malformed entry in one sentence", () => {
    assert.equal(
      entryProblem(bucketOf("x.md"), "x.md", { text: "plain", blob: im("zz"), size: -1, mtime: Number.NaN }),
      "it has text and blob: set exactly one; text is a plain string (Automerge collaborative text), not an ImmutableString; blob is an ImmutableString, not an ImmutableString of 64 lowercase hex digits; sha256 is missing, not an ImmutableString; size is the number -1, not a whole number of bytes; mtime is the number NaN, not a time in ms; by is missing, not an ImmutableString",
    );
    assert.equal(entryProblem("00", "x.md", null), "the entry is null, not a map of revision fields");
  });

  it("splits a document's files into valid ones and invalid entries, a misplaced copy beside a valid one included", () => {
    let doc = createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, "aa".repeat(16));
    doc = applyFileOps(doc, [{ type: "put", path: "ok.md", bytes: new TextEncoder().encode("ok\n"), mtime: 1 }], {
      time: 2,
      by: "me",
    });
    const wrong = ((parseInt(bucketOf("ok.md"), 16) + 1) % 256).toString(16).padStart(2, "0");
    doc = A.change(doc, { time: 3 }, (d: VaultDoc) => {
      d.files[wrong]["ok.md"] = { text: im("ok\n"), sha256: im("0".repeat(64)), size: 3, mtime: 1, by: im("me") };
    });
    const { valid, invalid } = auditFiles(doc);
    assert.deepEqual([...valid.keys()], ["ok.md"]);
    assert.deepEqual(
      invalid.map((e) => [e.path, e.bucket]),
      [["ok.md", wrong]],
    );
    assert.match(invalid[0].problem, /^it is in bucket/);
  });

  it("checks content with the digest it is given, and Node's native digest gives the portable one's verdicts", () => {
    const fileSha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
    const text = toStoredRev("a.md", new TextEncoder().encode("hello\n"), 1, "me", undefined);
    const hashed: number[] = [];
    const counting = (bytes: Uint8Array) => (hashed.push(bytes.length), fileSha256Hex(bytes));
    const verdicts = new EntryVerdicts(counting);
    assert.equal(verdicts.problemOf(bucketOf("a.md"), "a.md", text), undefined);
    assert.equal(verdicts.problemOf(bucketOf("a.md"), "a.md", text), undefined);
    assert.deepEqual(hashed, [6], "hashed once, with the digest given");
    const forged = { ...text, sha256: im("0".repeat(64)) };
    assert.match(new EntryVerdicts(fileSha256Hex).problemOf(bucketOf("a.md"), "a.md", forged) ?? "", /sha256 is not/);
    assert.equal(contentProblem(forged, fileSha256Hex), contentProblem(forged));
  });
});
