/** Reading what a change did to the vault doc: the paths it touched, the blobs they need, a stale view. */
import * as A from "@automerge/automerge";
import { blobOf, isReady, readStored, type Doc } from "../vault/model/vault-doc.js";
import type { MergeOutcome } from "../vault/model/merge.js";
import { bucketsTouched, rebuildView, viewIsStale } from "../vault/model/view-check.js";
import type { BlobNeed } from "./blob-fetch.js";

export interface ChangeEvent {
  origin: "local" | "remote";
  /** Paths whose revision changed (created, edited or deleted). */
  paths: string[];
  /** Conflicts resolved as part of this change. */
  merges: MergeOutcome[];
  heads: A.Heads;
  /** Heads before the change: `A.getChangesMetaSince(doc, before)` lists what arrived. */
  before: A.Heads;
}

/**
 * Paths under `files` touched between `before` and the doc's current heads; `touched.identity` is
 * set when `meta` changed too.
 */
export function changedPaths(doc: Doc, before: A.Heads, touched?: { identity: boolean }): string[] {
  // From nothing (a clone's first sync) every file changed; diffing would build a patch holding
  // the content of every file only to read the paths from it.
  if (before.length === 0)
    return isReady(doc)
      ? Object.values(doc.files)
          .flatMap((bucket) => Object.keys(bucket))
          .sort()
      : [];
  const paths = new Set<string>();
  for (const patch of A.diff(doc, before, A.getHeads(doc))) {
    if (patch.path[0] === "meta" && touched) touched.identity = true;
    else if (patch.path[0] === "files" && patch.path.length >= 3) paths.add(String(patch.path[2]));
    else if (patch.path[0] === "files" && patch.path.length === 2 && patch.action === "put") {
      // A whole bucket arrived (first sync of a clone): every file in it changed.
      for (const path of Object.keys(doc.files[String(patch.path[1])] ?? {})) paths.add(path);
    }
  }
  return [...paths].sort();
}

/** Blob-backed revisions among `paths` (current state), to check against the store. */
export function blobNeeds(doc: Doc, paths: Iterable<string>): BlobNeed[] {
  const needs: BlobNeed[] = [];
  for (const path of paths) {
    const rev = readStored(doc, path);
    const hash = blobOf(rev);
    if (hash !== undefined && rev !== undefined) needs.push({ hash, size: rev.size });
  }
  return needs;
}

/**
 * `doc` with its view rebuilt when it is out of step with its backend, else undefined. Automerge's
 * incrementally patched view can miss a file or show a stale revision after a sync message, and
 * its diff then misses the path too; so every bucket the new changes wrote into is compared
 * (view-check.ts). A doc loaded whole (a snapshot) has no patched view to check.
 */
export function rebuiltIfStale(doc: Doc, before: A.Heads): Doc | undefined {
  return viewIsStale(doc, bucketsToCheck(doc, before)) ? rebuildView(doc) : undefined;
}

/**
 * The buckets a remote change can have patched wrongly; undefined = all of them. From an empty
 * doc (a clone) every bucket is new: checking all is cheaper than listing every change first only
 * to find there are too many to decode.
 */
function bucketsToCheck(next: Doc, before: A.Heads): Set<string> | undefined {
  return before.length === 0 ? undefined : bucketsTouched(next, A.getChangesSince(next, before));
}
