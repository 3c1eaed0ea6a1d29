/**
 * Resolves concurrent writes to one file. Automerge keeps every concurrent value of a map key and
 * picks a deterministic winner; an ImmutableString write would therefore silently drop the other
 * side's edit. After each merge the engine calls `resolveConflicts`: for text it runs a 3-way merge
 * whose base is the file at the common ancestor of the conflicting changes; for binary files the
 * losing side's bytes are kept as a conflict copy next to the file.
 *
 * Who resolves: only a device whose own revision is part of the conflict. The base is computed
 * from the change graph alone (not from what the resolver happened to have before), and the sides
 * are ordered by hash, so both devices produce byte-identical resolutions — which Automerge then
 * shows as a "conflict" of equal values that needs no further action. Devices not involved (the
 * hub) show Automerge's winner until a resolution arrives.
 */
import * as A from "@automerge/automerge";
import { bucketOf } from "./bucket.js";
import { decodeTextOrUndefined, utf8Encode } from "./bytes.js";
import { mergeText } from "./text-merge.js";
import type { StoredRev } from "./schema.js";
import { applyFileOps, entryFromStored, type Doc, type FileOp } from "./vault-doc.js";

export interface MergeOutcome {
  path: string;
  /** merged: clean 3-way merge; markers: a true overlap kept both sides; copy: binary conflict copy. */
  result: "merged" | "markers" | "copy";
  /** Where the other side's bytes went, for `copy`. */
  copyPath?: string;
}

export interface ResolveContext {
  me: string;
  time: number;
}

interface Side {
  opId: string;
  rev: StoredRev;
}

/** Resolves the conflicts among `paths` that involve this device. Returns the doc (changed or not). */
export function resolveConflicts(doc: Doc, paths: Iterable<string>, ctx: ResolveContext): { doc: Doc; outcomes: MergeOutcome[] } {
  const ops: FileOp[] = [];
  const outcomes: MergeOutcome[] = [];
  let graph: ChangeGraph | undefined;
  for (const path of paths) {
    const sides = conflictingSides(doc, path);
    if (sides.length < 2 || !sides.some((s) => String(s.rev.by) === ctx.me)) continue;
    graph ??= new ChangeGraph(doc);
    const resolution = resolveOne(doc, graph, path, sides, ctx.me);
    ops.push(...resolution.ops);
    outcomes.push(resolution.outcome);
  }
  if (ops.length === 0) return { doc, outcomes };
  return { doc: applyFileOps(doc, ops, { time: ctx.time, by: ctx.me, message: "resolve concurrent edits" }), outcomes };
}

/** The concurrent values at `path` with distinct content, ordered by content hash. */
function conflictingSides(doc: Doc, path: string): Side[] {
  const bucket = doc.files?.[bucketOf(path)];
  if (bucket === undefined) return [];
  const conflicts = A.getConflicts(bucket, path) as Record<string, StoredRev> | undefined;
  if (conflicts === undefined) return [];
  const byHash = new Map<string, Side>();
  for (const [opId, rev] of Object.entries(conflicts)) {
    const hash = String(rev.sha256);
    const seen = byHash.get(hash);
    if (seen === undefined || opId < seen.opId) byHash.set(hash, { opId, rev });
  }
  return [...byHash.values()].sort((x, y) => (String(x.rev.sha256) < String(y.rev.sha256) ? -1 : 1));
}

function resolveOne(doc: Doc, graph: ChangeGraph, path: string, sides: Side[], me: string): { ops: FileOp[]; outcome: MergeOutcome } {
  const texts = sides.map((s) => (s.rev.text !== undefined ? String(s.rev.text) : undefined));
  if (texts.some((t) => t === undefined)) return binaryCopy(doc, path, sides, me);
  const baseHeads = graph.commonAncestorHeads(sides.map((s) => s.opId));
  const base = textAt(doc, baseHeads, path);
  let merged = texts[0] as string;
  let conflicted = false;
  for (let i = 1; i < sides.length; i++) {
    const result = mergeText(base, merged, texts[i] as string, { a: labelFor(sides[0]), b: labelFor(sides[i]) });
    merged = result.text;
    conflicted ||= result.conflicted;
  }
  const mtime = Math.max(...sides.map((s) => s.rev.mtime));
  return { ops: [{ type: "put", path, bytes: utf8Encode(merged), mtime }], outcome: { path, result: conflicted ? "markers" : "merged" } };
}

const labelFor = (side: Side) => `${String(side.rev.by).slice(0, 12)} ${String(side.rev.sha256).slice(0, 8)}`;

/**
 * Binary files cannot be merged: the winner Automerge chose stays at the path, and the device whose
 * revision lost writes its bytes to a conflict copy (only the loser's owner does, so no duplicates).
 */
function binaryCopy(doc: Doc, path: string, sides: Side[], me: string): { ops: FileOp[]; outcome: MergeOutcome } {
  const winner = doc.files[bucketOf(path)][path];
  const mine = sides.find((s) => String(s.rev.by) === me && String(s.rev.sha256) !== String(winner.sha256));
  if (mine === undefined) return { ops: [], outcome: { path, result: "copy" } };
  const copyPath = conflictCopyPath(path, me, String(mine.rev.sha256));
  const entry = entryFromStored(copyPath, mine.rev);
  return { ops: [{ type: "put", path: copyPath, bytes: entry.bytes, mtime: mine.rev.mtime }], outcome: { path, result: "copy", copyPath } };
}

export function conflictCopyPath(path: string, by: string, sha256: string): string {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  const tag = `.conflict-${by.slice(0, 8).toLowerCase()}-${sha256.slice(0, 8)}`;
  return dot > slash + 1 ? `${path.slice(0, dot)}${tag}${path.slice(dot)}` : `${path}${tag}`;
}

function textAt(doc: Doc, heads: A.Heads, path: string): string {
  if (heads.length === 0) return "";
  const past = A.view(doc, heads);
  const rev = past.files?.[bucketOf(path)]?.[path];
  if (rev === undefined) return "";
  return rev.text !== undefined ? String(rev.text) : decodeTextOrUndefined(new Uint8Array(rev.data ?? [])) ?? "";
}

/** The doc's change graph, built once per resolve pass (conflicts are rare; this is O(history)). */
class ChangeGraph {
  readonly #deps = new Map<string, string[]>();
  readonly #byActor = new Map<string, { startOp: number; maxOp: number; hash: string }[]>();

  constructor(doc: Doc) {
    for (const meta of A.getChangesMetaSince(doc, [])) {
      this.#deps.set(meta.hash, meta.deps);
      const list = this.#byActor.get(meta.actor) ?? [];
      list.push({ startOp: meta.startOp, maxOp: meta.maxOp, hash: meta.hash });
      this.#byActor.set(meta.actor, list);
    }
  }

  /** The change that created op `ctr@actor`. */
  changeOf(opId: string): string | undefined {
    const at = opId.indexOf("@");
    const counter = Number(opId.slice(0, at));
    const actor = opId.slice(at + 1);
    return this.#byActor.get(actor)?.find((c) => c.startOp <= counter && counter <= c.maxOp)?.hash;
  }

  /** The maximal changes that are ancestors of every given op's change. */
  commonAncestorHeads(opIds: string[]): A.Heads {
    const hashes = opIds.map((op) => this.changeOf(op)).filter((h): h is string => h !== undefined);
    if (hashes.length === 0) return [];
    let common = this.#strictAncestors(hashes[0]);
    for (const hash of hashes.slice(1)) {
      const other = this.#strictAncestors(hash);
      common = new Set([...common].filter((h) => other.has(h)));
    }
    const notMaximal = new Set<string>();
    for (const hash of common) for (const dep of this.#deps.get(hash) ?? []) notMaximal.add(dep);
    return [...common].filter((h) => !notMaximal.has(h)).sort();
  }

  #strictAncestors(hash: string): Set<string> {
    const seen = new Set<string>();
    const stack = [...(this.#deps.get(hash) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(this.#deps.get(next) ?? []));
    }
    return seen;
  }
}
