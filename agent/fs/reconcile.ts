/**
 * The one decision function of the folder binding: given what the disk holds, what the vault doc
 * holds and what they last agreed on (the index), what should happen to one path. Pure, so every
 * case is unit-tested on its own.
 *
 * The rule that matters: a disk file whose content differs from what the vault last saw is an
 * unsynced local edit. It is never overwritten or deleted; it is ingested (merged if the doc moved
 * on meanwhile). Between a delete and an edit, the edit wins.
 */
export type Action =
  | { kind: "none" }
  | { kind: "record" } // disk and doc agree: just remember it
  | { kind: "forget" } // gone from both
  | { kind: "ingest"; merge: boolean } // local content → doc (merge: the doc changed since the base too)
  | { kind: "delete-in-doc" } // deleted locally
  | { kind: "write" } // doc content → disk
  | { kind: "delete-on-disk" }; // deleted remotely, disk untouched since

export function decide(disk: string | undefined, doc: string | undefined, index: string | undefined): Action {
  if (disk === doc)
    return disk === undefined
      ? index === undefined
        ? { kind: "none" }
        : { kind: "forget" }
      : index === disk
        ? { kind: "none" }
        : { kind: "record" };
  if (disk === undefined) {
    // Missing on disk, present in the doc.
    return index === doc ? { kind: "delete-in-doc" } : { kind: "write" };
  }
  if (doc === undefined) {
    // Present on disk, missing in the doc.
    return index === disk ? { kind: "delete-on-disk" } : { kind: "ingest", merge: false };
  }
  if (index === disk) return { kind: "write" };
  if (index === doc) return { kind: "ingest", merge: false };
  return { kind: "ingest", merge: true };
}
