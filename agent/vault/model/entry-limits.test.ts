import { describe, it } from "node:test";
import assert from "node:assert/strict";
import * as A from "@automerge/automerge";
import { createVaultDoc, applyFileOps } from "./vault-doc.js";
import { entriesOverLimit, oversizedChange, utf8BytesOver } from "./entry-limits.js";
import { utf8Encode } from "./bytes.js";
import { randomBytes } from "node:crypto";

const actor = (n: number) => n.toString(16).padStart(32, "0");
const base = () => createVaultDoc({ vaultId: "v", name: "n", createdAt: 1 }, actor(1));
const ctx = { time: 2, by: "me", blobs: new Map<string, Uint8Array>() };

/** The changes a sync message from `doc` carries to a peer that holds `peerDoc`. */
function changesSent(doc: A.Doc<unknown>, peerDoc: A.Doc<unknown>): Uint8Array[] {
  let ours = A.initSyncState();
  let theirs = A.initSyncState();
  for (let round = 0; round < 10; round++) {
    const [next, message] = A.generateSyncMessage(doc, ours);
    ours = next;
    if (message === null) return [];
    const changes = A.decodeSyncMessage(message).changes;
    if (changes.length > 0) return changes;
    [peerDoc, theirs] = A.receiveSyncMessage(peerDoc, theirs, message);
    const [nextTheirs, reply] = A.generateSyncMessage(peerDoc, theirs);
    theirs = nextTheirs;
    if (reply !== null) [doc, ours] = A.receiveSyncMessage(doc, ours, reply);
  }
  return [];
}

describe("entry limits", () => {
  it("counts UTF-8 bytes, not UTF-16 units", () => {
    assert.equal(utf8BytesOver("é".repeat(10), 19), true);
    assert.equal(utf8BytesOver("é".repeat(10), 20), false);
    assert.equal(utf8BytesOver("abc", 2), true);
  });

  it("lists current files over a limit by their real size, not the size their writer declared", () => {
    const doc = applyFileOps(
      base(),
      [
        { type: "put", path: "big.md", bytes: utf8Encode("x".repeat(2000)), mtime: 1 },
        { type: "put", path: "small.md", bytes: utf8Encode("x"), mtime: 1 },
      ],
      ctx,
    );
    const lying = A.change(doc, (d) => {
      for (const bucket of Object.values(d.files)) if (bucket["big.md"]) bucket["big.md"].size = 1;
    });
    assert.deepEqual(entriesOverLimit(lying, 1000), [{ path: "big.md", size: 2000 }]);
  });

  it("finds an oversized text in a sync message that carries several changes as one document chunk", () => {
    const peer = base();
    let doc = A.load<ReturnType<typeof base> extends A.Doc<infer T> ? T : never>(A.save(peer));
    doc = applyFileOps(doc, [{ type: "put", path: "a.md", bytes: utf8Encode("y".repeat(40_000)), mtime: 1 }], ctx);
    doc = applyFileOps(doc, [{ type: "put", path: "b.md", bytes: utf8Encode("small"), mtime: 1 }], ctx);
    const found = oversizedChange(changesSent(doc, A.clone(peer)), 30_000);
    assert.equal(found?.bytes, 40_000);
  });

  it("lets a large change of many small files through", () => {
    const peer = base();
    let doc = A.load<ReturnType<typeof base> extends A.Doc<infer T> ? T : never>(A.save(peer));
    const ops = Array.from({ length: 500 }, (_, i) => ({
      type: "put" as const,
      path: `n/${i}.md`,
      bytes: utf8Encode(randomBytes(300).toString("hex")),
      mtime: 1,
    }));
    doc = applyFileOps(doc, ops, ctx);
    const changes = changesSent(doc, A.clone(peer));
    assert.ok(changes.reduce((n, c) => n + c.length, 0) * 1032 > 30_000, "the change is big enough to be decoded");
    assert.equal(oversizedChange(changes, 30_000), undefined);
  });
});
