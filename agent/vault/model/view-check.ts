/**
 * Automerge 3.5 keeps a materialised JS view beside its backend and patches the view incrementally
 * (receiveSyncMessage, loadIncremental), and that patch can go wrong: the view misses a file the
 * backend holds, or shows a stale revision of a file whose winner the backend has already changed
 * (two devices with identical heads and different bytes; dst.test.ts replays a case). Readers of
 * the view would then write the wrong file to disk. This compares every file of the view with
 * the backend's winner — one backend lookup per file — and rebuilds the view when they disagree.
 */
import * as A from "@automerge/automerge";
import type { VaultDoc } from "./schema.js";
import { isReady, type Doc } from "./vault-doc.js";
import { bucketOf } from "./bucket.js";

/** Past this many new changes (or bytes of them) decoding them costs more than checking every bucket. */
const DECODE_CHANGES_MAX = 256;
const DECODE_BYTES_MAX = 256 * 1024;

/**
 * The buckets that `changes` write into, or undefined when there are too many changes to decode
 * cheaply (a clone's first sync). A patch can only go wrong in an object the changes touched, so
 * checking these buckets finds what the whole-view check finds, at a cost that follows the change,
 * not the size of the vault.
 */
export function bucketsTouched(doc: Doc, changes: readonly Uint8Array[]): Set<string> | undefined {
  if (!isReady(doc) || changes.length > DECODE_CHANGES_MAX) return undefined;
  if (changes.reduce((sum, change) => sum + change.length, 0) > DECODE_BYTES_MAX) return undefined;
  const decoded = changes.map((change) => A.decodeChange(change));
  return bucketsOfFileOps(doc, decoded) ?? bucketsOfAnyOps(doc, decoded);
}

/**
 * The usual case, without looking at every bucket: an op on a file (its put or delete in a bucket)
 * names the file's path as its key, and the path names its bucket; every other op writes inside an
 * object these changes made. Undefined when some op is neither (a change to `meta`, a bucket put
 * where its path does not belong).
 */
function bucketsOfFileOps(doc: Doc, changes: readonly A.DecodedChange[]): Set<string> | undefined {
  const touched = new Set<string>();
  const made = new Set<string>();
  for (const { ops, startOp, actor } of changes) {
    for (const [i, op] of ops.entries()) {
      if (op.action.startsWith("make")) made.add(`${startOp + i}@${actor}`);
      if (made.has(op.obj)) continue;
      const bucket = typeof op.key === "string" ? bucketOf(op.key) : undefined;
      if (bucket === undefined || A.getObjectId(doc.files[bucket]) !== op.obj) return undefined;
      touched.add(bucket);
    }
  }
  return touched;
}

/** Every bucket whose object any op writes into (one lookup per bucket of the vault). */
function bucketsOfAnyOps(doc: Doc, changes: readonly A.DecodedChange[]): Set<string> {
  const bucketById = new Map<string, string>();
  for (const [name, bucket] of Object.entries(doc.files)) {
    const id = A.getObjectId(bucket);
    if (id !== null) bucketById.set(id, name);
  }
  const touched = new Set<string>();
  for (const change of changes) {
    for (const op of change.ops) {
      const bucket = bucketById.get(op.obj);
      if (bucket !== undefined) touched.add(bucket);
    }
  }
  return touched;
}

/**
 * True when some file's presence or winning revision differs between the view and the backend,
 * looking at the buckets in `only` when given (see bucketsTouched), else at every bucket.
 */
export function viewIsStale(doc: Doc, only?: ReadonlySet<string>): boolean {
  if (!isReady(doc)) return false;
  const backend = A.getBackend(doc);
  const names = only ?? Object.keys(doc.files);
  for (const name of names) {
    const bucket = doc.files[name];
    if (bucket === undefined) continue;
    const bucketId = A.getObjectId(bucket);
    if (bucketId === null) continue;
    const held = backend.keys(bucketId);
    if (held.length !== Object.keys(bucket).length) return true;
    for (const path of held) {
      const shown = bucket[path];
      const winner = backend.getWithType(bucketId, path);
      if (shown === undefined || winner === null || winner[0] !== "map" || winner[1] !== A.getObjectId(shown))
        return true;
    }
  }
  return false;
}

/** The same document with its view rebuilt from the backend (a full save and load). */
export function rebuildView(doc: Doc): Doc {
  return A.load<VaultDoc>(A.save(doc), { actor: A.getActorId(doc) as A.ActorId });
}
