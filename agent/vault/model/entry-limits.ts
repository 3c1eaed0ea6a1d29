/**
 * Size limits on what arrives. A member can bypass its own agent's outgoing check (a change made by
 * hand), so every receiver measures entries itself, from their real content, never from the `size`
 * the writer declared — except for blobs, whose bytes are not here: their declared size is what the
 * fetcher holds them to (it accepts no blob whose bytes differ from it).
 */
import * as A from "@automerge/automerge";
import { INLINE_ENTRY_BYTES_MAX, type StoredRev } from "./schema.js";
import { listStored, type Doc } from "./vault-doc.js";

/**
 * DEFLATE's largest expansion (the format's limit is about 1032:1). Automerge compresses the
 * columns of a change, so a change of n bytes holds at most n × this many bytes of values: smaller
 * changes need no decoding to be known safe, which keeps the check off the path of ordinary edits.
 */
const DEFLATE_EXPANSION_MAX = 1032;

/** UTF-8 length of a string, counted only as far as needed to compare it with `limit`. */
export function utf8BytesOver(text: string, limit: number): boolean {
  if (text.length > limit) return true; // every UTF-16 unit is at least one byte
  if (text.length * 3 <= limit) return false; // and at most three
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    bytes += code < 0x80 ? 1 : code < 0x800 || (code >= 0xd800 && code < 0xe000) ? 2 : 3;
    if (bytes > limit) return true;
  }
  return false;
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    bytes += code < 0x80 ? 1 : code < 0x800 || (code >= 0xd800 && code < 0xe000) ? 2 : 3;
  }
  return bytes;
}

/** The bytes a revision's file would have on disk: measured for inline content, declared for a blob. */
export function entryBytes(rev: StoredRev): number {
  if (rev.text !== undefined) return utf8Length(String(rev.text));
  if (rev.blob !== undefined) return rev.size;
  return rev.data?.length ?? 0;
}

/** Whether the revision's file is larger than `bytesMax` (cheap for the common, small case). */
export function entryOverLimit(rev: StoredRev, bytesMax: number): boolean {
  if (rev.text !== undefined) return utf8BytesOver(String(rev.text), bytesMax);
  return entryBytes(rev) > bytesMax;
}

export interface OverLimitEntry {
  path: string;
  size: number;
}

/** Current files larger than `bytesMax`, by path: kept in the vault, never written to this disk. */
export function entriesOverLimit(doc: Doc, bytesMax: number): OverLimitEntry[] {
  const out: OverLimitEntry[] = [];
  for (const [path, rev] of listStored(doc))
    if (entryOverLimit(rev, bytesMax)) out.push({ path, size: entryBytes(rev) });
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface OversizedChange {
  hash: string;
  actor: string;
  /** Bytes of the largest inline value found over the limit. */
  bytes: number;
}

/**
 * The first change among `changes` (raw, as a sync message carries them) holding an inline value
 * — text or bytes — over INLINE_ENTRY_BYTES_MAX, or undefined. Such a change is never applied: no
 * honest agent writes one (a larger text is stored as a blob, toStoredRev), and once applied it
 * would be in every later change's history, relayed by the hub and stored by every device.
 */
export function oversizedChange(
  changes: readonly Uint8Array[],
  bytesMax = INLINE_ENTRY_BYTES_MAX,
): OversizedChange | undefined {
  for (const raw of changes) {
    if (raw.length * DEFLATE_EXPANSION_MAX <= bytesMax) continue;
    const found =
      raw[CHUNK_TYPE_OFFSET] === DOCUMENT_CHUNK
        ? oversizedInDocumentChunk(raw, bytesMax)
        : oversizedInOneChange(raw, bytesMax);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Byte 8 of an Automerge chunk (after the magic and the checksum) names its type. */
const CHUNK_TYPE_OFFSET = 8;
/** Automerge sends several changes as one document chunk; 1 and 2 are single (compressed) changes. */
const DOCUMENT_CHUNK = 0;

function oversizedInOneChange(raw: Uint8Array, bytesMax: number): OversizedChange | undefined {
  let change: A.DecodedChange;
  try {
    change = A.decodeChange(raw);
  } catch {
    return undefined; // not a change Automerge can read: receiveSyncMessage refuses it
  }
  for (const op of change.ops) {
    const value: unknown = op.value;
    const bytes =
      typeof value === "string"
        ? utf8BytesOver(value, bytesMax)
          ? utf8Length(value)
          : 0
        : value instanceof Uint8Array
          ? value.length
          : 0;
    if (bytes > bytesMax) return { hash: change.hash ?? "", actor: change.actor, bytes };
  }
  return undefined;
}

/** A document chunk holds changes whose parents may be elsewhere: loaded alone, then read change by change. */
function oversizedInDocumentChunk(raw: Uint8Array, bytesMax: number): OversizedChange | undefined {
  let changes: Uint8Array[];
  try {
    changes = A.getAllChanges(A.load(raw, { allowMissingChanges: true }));
  } catch {
    return undefined; // unreadable: receiveSyncMessage refuses it
  }
  for (const change of changes) {
    const found = oversizedInOneChange(change, bytesMax);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The same check for a sync message; a message that does not decode is left to Automerge to refuse. */
export function oversizedChangeInSyncMessage(
  message: Uint8Array,
  bytesMax = INLINE_ENTRY_BYTES_MAX,
): OversizedChange | undefined {
  let changes: Uint8Array[];
  try {
    changes = A.decodeSyncMessage(message).changes;
  } catch {
    return undefined;
  }
  return oversizedChange(changes, bytesMax);
}

/** Inline entries over the limit in a whole doc's current files (a snapshot from a peer). */
export function oversizedInlineEntry(doc: Doc, bytesMax = INLINE_ENTRY_BYTES_MAX): OverLimitEntry | undefined {
  for (const [path, rev] of listStored(doc)) {
    const inline = rev.text !== undefined || rev.blob === undefined;
    if (inline && entryOverLimit(rev, bytesMax)) return { path, size: entryBytes(rev) };
  }
  return undefined;
}
