/**
 * Pure operations on the vault document. Every change carries an explicit `time` (ms) so that
 * restore-at works and dst stays deterministic; nothing here reads a clock.
 */
import * as A from "@automerge/automerge";
import { allBuckets, bucketOf } from "./bucket.js";
import { decodeTextOrUndefined, sha256Hex, utf8Encode } from "./bytes.js";
import {
  INLINE_ENTRY_BYTES_MAX,
  SCHEMA_VERSION,
  type FileEntry,
  type StoredRev,
  type VaultDoc,
  type VaultMeta,
} from "./schema.js";
import { normaliseVaultPath } from "../paths.js";
import { UserError } from "../../errors.js";

export type Doc = A.Doc<VaultDoc>;

export class VaultNotReadyError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VaultNotReadyError";
  }
}

/** One file operation inside a batch. */
export type FileOp =
  | { type: "put"; path: string; bytes: Uint8Array; mtime: number }
  /** A binary revision whose bytes are a blob already (restore, conflict copy): no bytes needed. */
  | { type: "link"; path: string; blob: string; size: number; mtime: number }
  | { type: "delete"; path: string };

/**
 * Where a change leaves the bytes of the binary revisions it creates (hash → bytes). The caller
 * puts them in the BlobStore durably before it stores the change (the engine does).
 */
export type BlobSink = Map<string, Uint8Array>;

export interface ChangeContext {
  /** ms since epoch, from the injected clock. */
  time: number;
  /** The writing device's peer id. */
  by: string;
  message?: string;
  /** Receives binary contents; a binary put without it is a BlobSinkMissingError. */
  blobs?: BlobSink;
  /** Hex SHA-256 of a put's bytes (default: the portable one; the agent passes Node's, several times faster). */
  digest?: (bytes: Uint8Array) => string;
}

export class BlobSinkMissingError extends Error {
  constructor(path: string) {
    super(
      `binary content for ${path} has nowhere to go: pass a blob sink (ChangeContext.blobs) and store it before the change`,
    );
    this.name = "BlobSinkMissingError";
  }
}

const im = (value: string) => new A.ImmutableString(value);

/**
 * A new vault document with every bucket already present. Creating buckets lazily would let two
 * devices create the same bucket concurrently, and one side's bucket (with its files) would lose.
 */
export function createVaultDoc(meta: VaultMeta, actor: string): Doc {
  const empty = A.init<VaultDoc>({ actor: actor as A.ActorId });
  return A.change(empty, { time: meta.createdAt, message: "create vault" }, (doc) => {
    doc.meta = { v: SCHEMA_VERSION, vaultId: im(meta.vaultId), name: im(meta.name), createdAt: meta.createdAt };
    const files: Record<string, Record<string, StoredRev>> = {};
    for (const bucket of allBuckets()) files[bucket] = {};
    doc.files = files;
    doc.labels = {};
  });
}

/** An empty doc for a device that will receive the vault by sync (a clone). */
export const emptyVaultDoc = (actor: string): Doc => A.init<VaultDoc>({ actor: actor as A.ActorId });

/** The vault's creating change has arrived. Not judged by `meta`: a member can delete or rewrite it. */
export function isReady(doc: Doc): boolean {
  return doc.files !== undefined;
}

/**
 * The identity the vault's creating change wrote (schema.ts VaultMeta): what `init` fixed, whatever
 * later changes did to `meta`. A hand-made second root change could write another `meta`: with
 * `expectedId`, only a root naming that id counts. Undefined before the vault has arrived.
 */
export function createdIdentity(doc: Doc, expectedId?: string): VaultMeta | undefined {
  for (const change of A.getChangesMetaSince(doc, [])) {
    if (change.deps.length > 0) continue;
    const meta = (A.view(doc, [change.hash]) as Partial<VaultDoc>).meta;
    if (meta === undefined || typeof meta !== "object") continue;
    const identity = { vaultId: String(meta.vaultId), name: String(meta.name), createdAt: Number(meta.createdAt) };
    if (expectedId === undefined || identity.vaultId === expectedId) return identity;
  }
  return undefined;
}

/**
 * The stored revision object for a put: text when the bytes are UTF-8 without NUL (and at most
 * INLINE_ENTRY_BYTES_MAX), else a blob reference whose bytes go to `blobs` (for the caller to store
 * before the change).
 */
export function toStoredRev(
  path: string,
  bytes: Uint8Array,
  mtime: number,
  by: string,
  blobs: BlobSink | undefined,
  sha256 = sha256Hex(bytes),
): StoredRev {
  const text = decodeTextOrUndefined(bytes);
  const rev: StoredRev = { sha256: im(sha256), size: bytes.length, mtime, by: im(by) };
  // A text too large for the document travels as a blob, under the blob limits (INLINE_ENTRY_BYTES_MAX).
  if (text !== undefined && bytes.length <= INLINE_ENTRY_BYTES_MAX) {
    rev.text = im(text);
    return rev;
  }
  if (blobs === undefined) throw new BlobSinkMissingError(path);
  blobs.set(sha256, bytes);
  rev.blob = im(sha256);
  return rev;
}

function linkedRev(op: Extract<FileOp, { type: "link" }>, by: string): StoredRev {
  return { sha256: im(op.blob), blob: im(op.blob), size: op.size, mtime: op.mtime, by: im(by) };
}

/** Applies a batch of file operations as one change. Returns the same doc when nothing changed. */
export function applyFileOps(doc: Doc, ops: readonly FileOp[], ctx: ChangeContext): Doc {
  if (!isReady(doc)) throw new VaultNotReadyError("the vault has not been received yet; wait for the first sync");
  const hashes = putHashes(ops, ctx);
  const effective = ops.filter((op) => !isNoOp(doc, op, hashes));
  if (effective.length === 0) return doc;
  const prepared = prepareOps(effective, ctx, hashes);
  const message = ctx.message ?? describeOps(effective);
  let next = doc;
  for (let start = 0; start < prepared.length; start += CHANGE_OPS_MAX) {
    next = A.change(next, { time: ctx.time, message }, (draft) => {
      for (const { path, bucket, rev } of prepared.slice(start, start + CHANGE_OPS_MAX)) {
        if (rev !== undefined) draft.files[bucket][path] = rev;
        else delete draft.files[bucket][path];
      }
    });
  }
  return next;
}

/**
 * File operations per Automerge change. One change's cost grows faster than linearly with its size,
 * so big imports are split.
 */
export const CHANGE_OPS_MAX = 1000;

/** The vault paths a batch of file ops touches, normalised, each once, sorted. */
export function pathsOfOps(ops: readonly FileOp[]): string[] {
  return [...new Set(ops.map((op) => normaliseVaultPath(op.path)))].sort();
}

/**
 * Validates paths and builds revision objects before entering the change callback: the same work
 * inside it costs several times more on a large import.
 */
function prepareOps(
  ops: readonly FileOp[],
  ctx: ChangeContext,
  hashes = putHashes(ops, ctx),
): { path: string; bucket: string; rev?: StoredRev }[] {
  return ops.map((op) => {
    const path = normaliseVaultPath(op.path);
    const rev =
      op.type === "put"
        ? toStoredRev(path, op.bytes, op.mtime, ctx.by, ctx.blobs, hashes.get(op))
        : op.type === "link"
          ? linkedRev(op, ctx.by)
          : undefined;
    return { path, bucket: bucketOf(path), rev };
  });
}

/**
 * Applies local file operations as a change whose parents are `baseHeads`: the doc state the
 * device's disk was last in step with. A local edit made on top of an old version thus becomes a
 * concurrent change, and the usual 3-way conflict resolution (merge.ts) merges it with whatever
 * arrived meanwhile instead of overwriting it.
 */
export function applyFileOpsAt(doc: Doc, baseHeads: A.Heads, ops: readonly FileOp[], ctx: ChangeContext): Doc {
  if (!isReady(doc)) throw new VaultNotReadyError("the vault has not been received yet; wait for the first sync");
  if (ops.length === 0) return doc;
  const prepared = prepareOps(ops, ctx);
  const { newDoc } = A.changeAt(
    doc,
    baseHeads,
    { time: ctx.time, message: ctx.message ?? describeOps(ops) },
    (draft) => {
      for (const { path, bucket, rev } of prepared) {
        if (rev !== undefined) draft.files[bucket][path] = rev;
        else if (draft.files[bucket][path] !== undefined) delete draft.files[bucket][path];
      }
    },
  );
  return newDoc;
}

/** Each put's hash, computed once: the no-op check and the revision both need it. */
function putHashes(ops: readonly FileOp[], ctx: ChangeContext): Map<FileOp, string> {
  const digest = ctx.digest ?? sha256Hex;
  const hashes = new Map<FileOp, string>();
  for (const op of ops) if (op.type === "put") hashes.set(op, digest(op.bytes));
  return hashes;
}

function isNoOp(doc: Doc, op: FileOp, hashes: Map<FileOp, string>): boolean {
  const current = doc.files[bucketOf(op.path)]?.[op.path];
  if (op.type === "delete") return current === undefined;
  if (op.type === "link") return current !== undefined && String(current.sha256) === op.blob;
  return current !== undefined && String(current.sha256) === hashes.get(op);
}

function describeOps(ops: readonly FileOp[]): string {
  if (ops.length === 1) return `${ops[0].type} ${ops[0].path}`;
  return `${ops.length} file changes`;
}

/** Plain view of one stored revision (a blob-backed binary has `blob` and no `bytes`). */
export function entryFromStored(path: string, rev: StoredRev): FileEntry {
  const blob = rev.text === undefined && rev.blob !== undefined ? String(rev.blob) : undefined;
  const bytes =
    rev.text !== undefined
      ? utf8Encode(String(rev.text))
      : blob !== undefined
        ? undefined
        : new Uint8Array(rev.data ?? new Uint8Array());
  return {
    path,
    kind: rev.text !== undefined ? "text" : "binary",
    bytes,
    blob,
    sha256: String(rev.sha256),
    size: rev.size,
    mtime: rev.mtime,
    by: String(rev.by),
  };
}

export function readStored(doc: Doc, path: string): StoredRev | undefined {
  if (!isReady(doc)) return undefined;
  return doc.files[bucketOf(path)]?.[path];
}

export function readEntry(doc: Doc, path: string): FileEntry | undefined {
  const rev = readStored(doc, path);
  return rev === undefined ? undefined : entryFromStored(path, rev);
}

/** path → stored revision for every file (bytes are decoded only on demand). */
export function listStored(doc: Doc): Map<string, StoredRev> {
  const out = new Map<string, StoredRev>();
  if (!isReady(doc)) return out;
  for (const bucket of Object.values(doc.files)) {
    for (const [path, rev] of Object.entries(bucket)) out.set(path, rev);
  }
  return out;
}

/** The blob hash a revision's bytes live under, if it is a blob-backed binary. */
export const blobOf = (rev: StoredRev | undefined): string | undefined =>
  rev?.text === undefined && rev?.blob !== undefined ? String(rev.blob) : undefined;

/** path → hex sha256, the cheap summary used for comparisons. */
export function fileHashes(doc: Doc): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, rev] of listStored(doc)) out.set(path, String(rev.sha256));
  return out;
}
