/**
 * The history and status operations behind the CLI, written once over an opened LocalVault. The
 * CLI runs them in-process when no agent holds the vault, or asks the running agent to run them
 * over its control socket (agent/control.ts), so they work the same either way.
 */
import * as A from "@automerge/automerge";
import { createTwoFilesPatch } from "diff";
import type { LocalVault } from "./local-vault.js";
import {
  headsAt,
  filesAt,
  restoreTo,
  setLabel,
  deleteLabel,
  listLabels,
  resolveHeads,
  UnknownPointError,
} from "../vault/model/history.js";
import { parseTimeSpec } from "../vault/model/timespec.js";
import { entriesOverLimit, type OverLimitEntry } from "../vault/model/entry-limits.js";
import { auditFiles, type InvalidEntry } from "../vault/model/entry-check.js";
import { decodeTextOrUndefined } from "../vault/model/bytes.js";
import type { FileEntry } from "../vault/model/schema.js";

export interface VaultStatus {
  vault: { id: string; name: string; createdAt: number };
  /** Valid files only (model/entry-check.ts): what a device can write to its disk. */
  files: number;
  bytes: number;
  /** Entries a peer wrote that are not valid (never written to disk): path, bucket and what is wrong. */
  invalid: InvalidEntry[];
  heads: string[];
  snapshots: number;
  storageBytes: number;
  /** Binary files whose blob has not arrived on this device yet (not written to disk). */
  blobsMissing: number;
  /** Files in the vault larger than this device's `sync.file_bytes_max`: never written to its disk. */
  overLimit: OverLimitEntry[];
  sync: {
    peers: string[];
    messagesIn: number;
    messagesOut: number;
    lastSyncMs: number;
    merges: number;
    dropped: number;
  };
}

export async function status(vault: LocalVault): Promise<VaultStatus> {
  const doc = vault.engine.doc;
  let bytes = 0;
  const { valid, invalid } = auditFiles(doc);
  for (const rev of valid.values()) bytes += rev.size;
  const stats = vault.engine.stats;
  return {
    // The configured identity: the document's `meta` is a copy any member could rewrite.
    vault: vault.config.vault,
    files: valid.size,
    bytes,
    invalid,
    heads: A.getHeads(doc),
    snapshots: listLabels(doc).length,
    storageBytes: await vault.store.sizeBytes(),
    blobsMissing: vault.engine.missingBlobs.length,
    overLimit: entriesOverLimit(doc, vault.config.sync.fileBytesMax),
    sync: {
      peers: vault.engine.peers,
      messagesIn: stats.messagesIn,
      messagesOut: stats.messagesOut,
      lastSyncMs: stats.lastSyncMs,
      merges: stats.merges,
      dropped: stats.dropped,
    },
  };
}

export interface RestoreResult {
  to: { heads: string[]; timeMs?: number; label?: string };
  changed: string[];
}

/** Makes the files what they were at `when` (epoch ms, ISO date, or an age like 2h), by appending changes. */
export async function restoreAt(vault: LocalVault, when: string, nowMs: number): Promise<RestoreResult> {
  const timeMs = parseTimeSpec(when, nowMs);
  const heads = headsAt(vault.engine.doc, timeMs);
  return {
    to: { heads, timeMs },
    changed: await restoreHeads(vault, heads, `restore to ${new Date(timeMs).toISOString()}`),
  };
}

export async function restoreHeads(vault: LocalVault, heads: A.Heads, message: string): Promise<string[]> {
  let changed: string[] = [];
  await vault.engine.update((doc, now, blobs) => {
    const result = restoreTo(doc, heads, { time: now, by: vault.engine.self, message, blobs });
    changed = result.changed;
    return result.doc;
  });
  await vault.binding.idle();
  return changed;
}

export async function snapshotCreate(vault: LocalVault, label: string): Promise<{ label: string; heads: string[] }> {
  if (vault.engine.doc.labels?.[label] !== undefined)
    throw new UnknownPointError(
      `a snapshot named ${JSON.stringify(label)} exists; delete it first or pick another name`,
    );
  const heads = A.getHeads(vault.engine.doc);
  await vault.engine.update((doc, now) => setLabel(doc, label, heads, { time: now, by: vault.engine.self }));
  return { label, heads };
}

export const snapshotList = (vault: LocalVault) => listLabels(vault.engine.doc);

export async function snapshotRestore(vault: LocalVault, label: string): Promise<RestoreResult> {
  const heads = resolveHeads(vault.engine.doc, label);
  if (heads === undefined || vault.engine.doc.labels?.[label] === undefined)
    throw new UnknownPointError(`no snapshot named ${JSON.stringify(label)}; see \`edgesync snapshot list\``);
  return { to: { heads, label }, changed: await restoreHeads(vault, heads, `restore snapshot ${label}`) };
}

export async function snapshotDelete(vault: LocalVault, label: string): Promise<{ label: string }> {
  await vault.engine.update((doc, now) => deleteLabel(doc, label, { time: now, by: vault.engine.self }));
  return { label };
}

export interface FileDiff {
  path: string;
  change: "added" | "deleted" | "modified";
  /** Unified diff for text; undefined for binary files. */
  patch?: string;
}

/** Differences between two points: a label, a time spec, comma-separated heads, or "now". */
export function diff(
  vault: LocalVault,
  from: string,
  to: string | undefined,
  nowMs: number,
): { from: string[]; to: string[]; files: FileDiff[] } {
  const doc = vault.engine.doc;
  const fromHeads = pointToHeads(vault, from, nowMs);
  const toHeads = to === undefined || to === "now" ? A.getHeads(doc) : pointToHeads(vault, to, nowMs);
  const before = filesAt(doc, fromHeads);
  const after = filesAt(doc, toHeads);
  const files: FileDiff[] = [];
  for (const path of [...new Set([...before.keys(), ...after.keys()])].sort()) {
    const a = before.get(path);
    const b = after.get(path);
    if (a?.sha256 === b?.sha256) continue;
    const change = a === undefined ? "added" : b === undefined ? "deleted" : "modified";
    files.push({ path, change, patch: unifiedPatch(path, a, b) });
  }
  return { from: fromHeads, to: toHeads, files };
}

export function pointToHeads(vault: LocalVault, point: string, nowMs: number): A.Heads {
  const heads = resolveHeads(vault.engine.doc, point);
  if (heads !== undefined) return heads;
  try {
    return headsAt(vault.engine.doc, parseTimeSpec(point, nowMs));
  } catch {
    throw new UnknownPointError(
      `unknown point ${JSON.stringify(point)}: use a snapshot label, a time (epoch ms, ISO date, 5m, 2h, 1d, 1w), or change hashes`,
    );
  }
}

function unifiedPatch(path: string, a: FileEntry | undefined, b: FileEntry | undefined): string | undefined {
  // A blob-backed binary has no inline bytes and no text patch (its hash differs, which `change` says).
  const textA = a === undefined ? "" : a.bytes && decodeTextOrUndefined(a.bytes);
  const textB = b === undefined ? "" : b.bytes && decodeTextOrUndefined(b.bytes);
  if (textA === undefined || textB === undefined) return undefined;
  return createTwoFilesPatch(
    a ? `a/${path}` : "/dev/null",
    b ? `b/${path}` : "/dev/null",
    textA,
    textB,
    undefined,
    undefined,
    { context: 3 },
  );
}

export interface CompactResult {
  beforeBytes: number;
  afterBytes: number;
  changes: number;
  /** Blobs no revision in the whole history references, deleted from `.edgesync/blobs`. */
  blobsRemoved: number;
  blobBytesRemoved: number;
  blobsKept: number;
}

/**
 * Rewrites storage as one full save and deletes unreferenced blobs. History is kept whole:
 * restore-at and labels still work, and so every blob a past revision names is kept.
 */
export async function compact(vault: LocalVault): Promise<CompactResult> {
  const { beforeBytes, afterBytes } = await vault.engine.compact();
  const blobs = await vault.engine.collectBlobs();
  return { beforeBytes, afterBytes, changes: A.getChangesMetaSince(vault.engine.doc, []).length, ...blobs };
}
