import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { applyFileOps, createVaultDoc, type Doc } from "./vault-doc.js";
import { bucketOf } from "./bucket.js";
import { bucketsTouched } from "./view-check.js";
import { utf8Encode } from "./bytes.js";

const actor = "0".repeat(31) + "1";
const put = (path: string, text: string) => ({ type: "put" as const, path, bytes: utf8Encode(text), mtime: 1 });

/** `next` applied to a copy of `doc`, and the changes it made. */
function changedBy(doc: Doc, next: (doc: Doc) => Doc): { after: Doc; changes: Uint8Array[] } {
  const before = A.getHeads(doc);
  const after = next(A.clone(doc));
  return { after, changes: A.getChangesSince(after, before) };
}

describe("bucketsTouched", () => {
  const base = applyFileOps(createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor), [put("a.md", "a")], {
    time: 1,
    by: "me",
  });

  it("names the buckets of the files a change puts and deletes", () => {
    const { after, changes } = changedBy(base, (doc) =>
      applyFileOps(doc, [put("notes/b.md", "b"), { type: "delete", path: "a.md" }], { time: 2, by: "me" }),
    );
    assert.deepEqual(
      [...(bucketsTouched(after, changes) ?? [])].sort(),
      [bucketOf("notes/b.md"), bucketOf("a.md")].sort(),
    );
  });

  it("still names a bucket that a hand-made change put a file into where its path does not belong", () => {
    const wrong = bucketOf("x.md") === "00" ? "01" : "00";
    const { after, changes } = changedBy(base, (doc) =>
      A.change(doc, (d) => {
        d.meta.createdAt = 2;
        (d.files[wrong] as Record<string, unknown>)["x.md"] = { text: "x", sha256: "0", size: 1, mtime: 1, by: "them" };
      }),
    );
    assert.deepEqual([...(bucketsTouched(after, changes) ?? [])], [wrong]);
  });
});
