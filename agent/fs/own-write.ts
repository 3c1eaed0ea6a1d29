/**
 * Telling a file this device wrote from the vault apart from a local edit, when the index record
 * of that write was lost. The index is saved after a pass's writes, so a crash in between leaves a
 * file on disk that the index does not know; if the doc has moved on since (the next remote change
 * was already stored), disk, doc and index all differ, which reads as a concurrent local edit.
 * Merging it would bring an old version back over a newer one (the SIGKILL trials saw v29 written
 * back over v30 on both devices).
 */
import * as A from "@automerge/automerge";
import type { Doc } from "../vault/model/vault-doc.js";

/** Changes after the index's heads that are decoded, newest first: a crash loses one pass. */
const CHANGES_DECODED_MAX = 256;
/** Bytes of changes decoded at most (a clone's first change can hold the whole vault). */
const DECODED_BYTES_MAX = 8 * 1024 * 1024;

/**
 * Whether some change after `since` wrote `path` with content `sha256`. Reads the changes' ops (a
 * revision is a map made under the path's key, its `sha256` set in the same change) instead of
 * viewing the doc at each change: a view costs in proportion to the whole vault, decoding a change
 * in proportion to that change.
 * A pass over many paths asks through one `WritesSince`, which decodes each change once.
 */
export function docHeldSince(doc: Doc, path: string, sha256: string, since: A.Heads): boolean {
  return new WritesSince(doc).held(path, sha256, since);
}

/** Distinct `since` heads whose writes one WritesSince keeps: each costs up to DECODED_BYTES_MAX to decode. */
const HEADS_REMEMBERED_MAX = 8;

/**
 * The answers of docHeldSince for one doc state, decoding the changes after a given set of heads
 * once and reusing that for every path. The first import of a folder asks it for every file
 * against the same (empty) heads; decoding all changes again per file would make that import
 * quadratic in the number of files.
 */
export class WritesSince {
  /** heads key → path → hashes written by the changes after those heads (newest first, within the caps). */
  readonly #byHeads = new Map<string, Map<string, Set<string>>>();

  constructor(readonly doc: Doc) {}

  held(path: string, sha256: string, since: A.Heads): boolean {
    const key = [...since].sort().join(",");
    let written = this.#byHeads.get(key);
    if (written === undefined) {
      written = writesSince(this.doc, since);
      if (this.#byHeads.size >= HEADS_REMEMBERED_MAX) this.#byHeads.delete(this.#byHeads.keys().next().value as string);
      this.#byHeads.set(key, written);
    }
    return written.get(path)?.has(sha256) ?? false;
  }
}

/** path → hashes that the changes after `since` wrote, newest first until a cap (as docHeldSince reads them). */
function writesSince(doc: Doc, since: A.Heads): Map<string, Set<string>> {
  const written = new Map<string, Set<string>>();
  let changes: Uint8Array[];
  try {
    changes = A.getChangesSince(doc, [...since]);
  } catch {
    return written; // heads the doc does not know (a replaced vault): nothing to go on
  }
  let bytes = 0;
  for (const change of changes.slice(-CHANGES_DECODED_MAX).reverse()) {
    if ((bytes += change.length) > DECODED_BYTES_MAX) break;
    addWrites(A.decodeChange(change), written);
  }
  return written;
}

function addWrites(change: A.DecodedChange, written: Map<string, Set<string>>): void {
  const revisions = new Map<string, string>();
  change.ops.forEach((op, i) => {
    // Ops are numbered from startOp in the order they are stored; a wrong guess only misses.
    if (op.action === "makeMap" && op.key !== undefined) revisions.set(`${change.startOp + i}@${change.actor}`, op.key);
  });
  if (revisions.size === 0) return;
  for (const op of change.ops) {
    const path = op.key === "sha256" ? revisions.get(op.obj) : undefined;
    if (path === undefined) continue;
    const hashes = written.get(path) ?? new Set<string>();
    hashes.add(String(op.value));
    written.set(path, hashes);
  }
}

/**
 * Whether every change after `since` that touched `path` wrote a revision by `self`, and there was
 * at least one. Then the doc's version is this device's own earlier ingest whose index record a
 * crash lost, and what the disk holds now was edited on top of it: ingesting it on the index's old
 * heads would make it look concurrent with our own change and turn one device's edits into a
 * conflict. A delete, another device's revision, or too much history to decode: false (merge).
 */
export function onlyOwnChangesSince(doc: Doc, path: string, self: string, since: A.Heads): boolean {
  let changes: Uint8Array[];
  try {
    changes = A.getChangesSince(doc, [...since]);
  } catch {
    return false;
  }
  if (changes.length > CHANGES_DECODED_MAX || changes.reduce((sum, c) => sum + c.length, 0) > DECODED_BYTES_MAX)
    return false;
  let touched = false;
  for (const change of changes) {
    const decoded = A.decodeChange(change);
    const revisions = new Set<string>();
    for (const [i, op] of decoded.ops.entries()) {
      if (op.key !== path) continue;
      if (op.action !== "makeMap") return false; // a delete, or something this model never writes
      revisions.add(`${decoded.startOp + i}@${decoded.actor}`);
    }
    if (revisions.size === 0) continue;
    touched = true;
    const authors = decoded.ops.filter((op) => op.key === "by" && revisions.has(op.obj)).map((op) => String(op.value));
    if (authors.length !== revisions.size || authors.some((by) => by !== self)) return false;
  }
  return touched;
}
