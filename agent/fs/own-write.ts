/**
 * Telling a file this device wrote from the vault apart from a local edit, when the index record
 * of that write was lost. The index is saved after a pass's writes, so a crash in between leaves a
 * file on disk that the index does not know; if the doc has moved on since (the next remote change
 * was already stored), disk, doc and index all differ, which reads as a concurrent local edit.
 * Merging it would bring an old version back over a newer one (the SIGKILL trials saw v29 written
 * back over v30 on both devices).
 */
import * as A from "@automerge/automerge";
import { readStored, type Doc } from "../vault/model/vault-doc.js";

/** Changes after the index's heads that are looked at, newest first: a crash loses one pass. */
const CHANGES_LOOKED_AT_MAX = 64;

/** Whether `path` held content `sha256` in the doc at some change after `since`. */
export function docHeldSince(doc: Doc, path: string, sha256: string, since: A.Heads): boolean {
  let metas: ReturnType<typeof A.getChangesMetaSince>;
  try {
    metas = A.getChangesMetaSince(doc, [...since]);
  } catch {
    return false; // heads the doc does not know (a replaced vault): nothing to go on
  }
  for (const meta of metas.slice(-CHANGES_LOOKED_AT_MAX).reverse()) {
    if (readStored(A.view(doc, [meta.hash]), path)?.sha256?.toString() === sha256) return true;
  }
  return false;
}
