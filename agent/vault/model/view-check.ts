/**
 * Automerge 3.5 keeps a materialised JS view beside its backend and patches the view incrementally
 * (receiveSyncMessage, loadIncremental). dst found that patch going wrong: the view missing a file
 * the backend holds (seed 0x13a6), and showing a stale revision of a file whose winner the backend
 * had already changed (seed 0x139d: two devices with identical heads and different bytes). Readers
 * of the view would then write the wrong file to disk. This compares every file of the view with
 * the backend's winner — one backend lookup per file — and rebuilds the view when they disagree.
 */
import * as A from "@automerge/automerge";
import type { VaultDoc } from "./schema.js";
import { isReady, type Doc } from "./vault-doc.js";

/** True when some file's presence or winning revision differs between the view and the backend. */
export function viewIsStale(doc: Doc): boolean {
  if (!isReady(doc)) return false;
  const backend = A.getBackend(doc);
  for (const bucket of Object.values(doc.files)) {
    const bucketId = A.getObjectId(bucket);
    if (bucketId === null) continue;
    const held = backend.keys(bucketId);
    if (held.length !== Object.keys(bucket).length) return true;
    for (const path of held) {
      const shown = bucket[path];
      const winner = backend.getWithType(bucketId, path);
      if (shown === undefined || winner === null || winner[0] !== "map" || winner[1] !== A.getObjectId(shown)) return true;
    }
  }
  return false;
}

/** The same document with its view rebuilt from the backend (a full save and load). */
export function rebuildView(doc: Doc): Doc {
  return A.load<VaultDoc>(A.save(doc), { actor: A.getActorId(doc) as A.ActorId });
}
