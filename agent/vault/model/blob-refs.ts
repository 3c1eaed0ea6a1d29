/**
 * Every blob hash the vault's history has ever referenced, found by walking the changes (a `set`
 * of key `blob`), not just the current files: restore-at and labels may bring any of them back.
 * Used to decide which blobs a device may serve (never arbitrary store contents) and which ones
 * compaction may collect. Incremental: each update decodes only the changes since the last one.
 */
import * as A from "@automerge/automerge";
import { BLOB_HASH } from "./blob-hash.js";
import type { Doc } from "./vault-doc.js";

export class BlobRefs {
  readonly #hashes = new Set<string>();
  #heads: A.Heads = [];

  /** Brings the set up to `doc`'s heads. */
  update(doc: Doc): this {
    const heads = A.getHeads(doc);
    if (sameHeads(heads, this.#heads)) return this;
    const changes =
      this.#heads.length === 0 || !A.hasHeads(doc, this.#heads)
        ? A.getAllChanges(doc)
        : A.getChangesSince(doc, this.#heads);
    for (const change of changes) {
      for (const op of A.decodeChange(change).ops) {
        if (op.key === "blob" && typeof op.value === "string" && BLOB_HASH.test(op.value)) this.#hashes.add(op.value);
      }
    }
    this.#heads = heads;
    return this;
  }

  has(hash: string): boolean {
    return this.#hashes.has(hash);
  }

  get hashes(): ReadonlySet<string> {
    return this.#hashes;
  }
}

/** Every blob referenced anywhere in `doc`'s history. */
export const referencedBlobs = (doc: Doc): ReadonlySet<string> => new BlobRefs().update(doc).hashes;

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((h) => b.includes(h));
}
