/**
 * The vault document, laid out as DESIGN.md §2 measured: one Automerge doc per vault, files spread
 * over 256 bucket maps by a hash of the path, each file one immutable revision object. Text is an
 * ImmutableString (Automerge Text costs time per character to load and sync, which large vaults
 * cannot afford); concurrent edits are merged by a 3-way text merge instead (merge.ts).
 *
 * Every string is an ImmutableString: Automerge 3 turns a plain string into a collaborative Text
 * object, which is both slower and not what these fields mean.
 */
import type { ImmutableString } from "@automerge/automerge";

export const SCHEMA_VERSION = 1;
export const BUCKET_COUNT = 256;

/**
 * The largest text (or legacy inline binary) a revision carries inside the document; a larger text
 * is stored as a blob. Every device and the hub refuse changes carrying more (entry-limits.ts):
 * an entry in the document is in every later change's history, so it must be bounded the same for
 * everyone — a per-device limit here would cut a stricter device off from every later change.
 * Equal to the hub's blob limit and to the default `sync.file_bytes_max`.
 */
export const INLINE_ENTRY_BYTES_MAX = 16 * 1024 * 1024;

/** One revision of one file as stored in the doc. Exactly one of `text` / `blob` / `data` is set. */
export interface StoredRev {
  /** UTF-8 content without NUL bytes. */
  text?: ImmutableString;
  /**
   * Anything else (images, PDFs, invalid UTF-8): the hex SHA-256 of the bytes, which live in the
   * BlobStore (`.edgesync/blobs/<sha256>`) and travel as `blob` messages, not in the doc's history.
   */
  blob?: ImmutableString;
  /** Binary bytes inline, as vaults written before blobs stored them: still read, never written. */
  data?: Uint8Array;
  /** Hex SHA-256 of the bytes on disk, checked before a write reaches the disk. */
  sha256: ImmutableString;
  size: number;
  /** The file's mtime on the device that wrote it (ms), informational. */
  mtime: number;
  /** Device (peer id) that wrote this revision: lets a device recognise its own side of a conflict. */
  by: ImmutableString;
}

export interface StoredLabel {
  /** Comma-separated change hashes. */
  heads: ImmutableString;
  time: number;
  by: ImmutableString;
}

export interface VaultDoc {
  meta: { v: number; vaultId: ImmutableString; name: ImmutableString; createdAt: number };
  files: Record<string, Record<string, StoredRev>>;
  labels: Record<string, StoredLabel>;
}

/** A file revision as the rest of the program sees it: plain JS values. */
export interface FileEntry {
  path: string;
  kind: "text" | "binary";
  /** The content as bytes (UTF-8 for text); undefined for a blob-backed binary: read `blob` from the BlobStore. */
  bytes?: Uint8Array;
  /** Hash of the BlobStore blob holding a binary's bytes (equals `sha256`). */
  blob?: string;
  sha256: string;
  size: number;
  mtime: number;
  by: string;
}

/**
 * The vault's identity, fixed at `init` by the document's creating change. Every reader takes it
 * from the vault's config (a folder) or the hub's registration (a replica), never from the
 * document's current `meta`, which any member can change: routing by it let one member's change
 * make the hub refuse the vault for everyone. `v` (the schema version) is fixed likewise: a member
 * must not make devices read the document as another format.
 */
export interface VaultMeta {
  vaultId: string;
  name: string;
  createdAt: number;
}
