/**
 * Points in a vault's past: by time, by label, by heads. Restoring is additive — it appends
 * changes that recreate the past state, so the restore itself can be undone and syncs like any edit.
 */
import * as A from "@automerge/automerge";
import { listStored, applyFileOps, entryFromStored, type Doc, type ChangeContext, type FileOp } from "./vault-doc.js";
import type { FileEntry } from "./schema.js";
import { UserError } from "../../errors.js";

export class UnknownPointError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnknownPointError";
  }
}

/** Labels are free text but short and printable, so they read well in `snapshot list`. */
export const LABEL_PATTERN = /^[\p{L}\p{N}][\p{L}\p{N} ._:@+-]{0,63}$/u;

/** The heads of the document as it was at `timeMs`: every change stamped at or before that time, plus its dependencies. */
export function headsAt(doc: Doc, timeMs: number): A.Heads {
  const metas = A.getChangesMetaSince(doc, []);
  const byHash = new Map(metas.map((m) => [m.hash, m]));
  const included = new Set<string>();
  const stack = metas.filter((m) => m.time <= timeMs).map((m) => m.hash);
  while (stack.length > 0) {
    const hash = stack.pop() as string;
    if (included.has(hash)) continue;
    included.add(hash);
    stack.push(...(byHash.get(hash)?.deps ?? []));
  }
  const notHeads = new Set<string>();
  for (const hash of included) for (const dep of byHash.get(hash)?.deps ?? []) notHeads.add(dep);
  return [...included].filter((h) => !notHeads.has(h)).sort();
}

/** Every file at `heads` (all of them for an empty heads list = before the vault existed). */
export function filesAt(doc: Doc, heads: A.Heads): Map<string, FileEntry> {
  const out = new Map<string, FileEntry>();
  if (heads.length === 0) return out;
  const past = A.view(doc, heads) as Doc;
  for (const [path, rev] of listStored(past)) out.set(path, entryFromStored(path, rev));
  return out;
}

export function currentFiles(doc: Doc): Map<string, FileEntry> {
  return filesAt(doc, A.getHeads(doc));
}

/** Appends one change that makes the current files equal to those at `heads`. */
export function restoreTo(doc: Doc, heads: A.Heads, ctx: ChangeContext): { doc: Doc; changed: string[] } {
  const past = filesAt(doc, heads);
  const now = listStored(doc);
  const ops: FileOp[] = [];
  for (const path of now.keys()) if (!past.has(path)) ops.push({ type: "delete", path });
  for (const [path, entry] of past) {
    if (String(now.get(path)?.sha256 ?? "") === entry.sha256) continue;
    // A blob-backed binary is linked by hash (its bytes need not be here); inline bytes (text, and
    // binaries from before blobs) are put, and a legacy binary's bytes move into ctx.blobs.
    if (entry.blob !== undefined)
      ops.push({ type: "link", path, blob: entry.blob, size: entry.size, mtime: entry.mtime });
    else ops.push({ type: "put", path, bytes: entry.bytes ?? new Uint8Array(), mtime: entry.mtime });
  }
  const next = applyFileOps(doc, ops, { ...ctx, message: ctx.message ?? "restore" });
  return { doc: next, changed: ops.map((op) => op.path).sort() };
}

export interface LabelInfo {
  label: string;
  heads: A.Heads;
  time: number;
  by: string;
}

export function setLabel(doc: Doc, label: string, heads: A.Heads, ctx: ChangeContext): Doc {
  if (!LABEL_PATTERN.test(label))
    throw new UnknownPointError(`invalid label ${JSON.stringify(label)}: use 1-64 letters, digits, space . _ : @ + -`);
  return A.change(doc, { time: ctx.time, message: `label ${label}` }, (d) => {
    d.labels[label] = {
      heads: new A.ImmutableString(heads.join(",")),
      time: ctx.time,
      by: new A.ImmutableString(ctx.by),
    };
  });
}

export function deleteLabel(doc: Doc, label: string, ctx: ChangeContext): Doc {
  if (doc.labels?.[label] === undefined)
    throw new UnknownPointError(`no snapshot named ${JSON.stringify(label)}; see \`edgesync snapshot list\``);
  return A.change(doc, { time: ctx.time, message: `delete label ${label}` }, (d) => {
    delete d.labels[label];
  });
}

export function listLabels(doc: Doc): LabelInfo[] {
  return Object.entries(doc.labels ?? {})
    .map(([label, stored]) => ({
      label,
      heads: String(stored.heads)
        .split(",")
        .filter((h) => h.length > 0),
      time: stored.time,
      by: String(stored.by),
    }))
    .sort((a, b) => a.time - b.time || (a.label < b.label ? -1 : 1));
}

/** Resolves a label or a comma-separated list of change hashes into heads the doc has. */
export function resolveHeads(doc: Doc, point: string): A.Heads | undefined {
  const label = doc.labels?.[point];
  if (label !== undefined)
    return String(label.heads)
      .split(",")
      .filter((h) => h.length > 0);
  const hashes = point.split(",");
  if (hashes.every((h) => /^[0-9a-f]{64}$/.test(h)) && A.hasHeads(doc, hashes)) return hashes;
  return undefined;
}
