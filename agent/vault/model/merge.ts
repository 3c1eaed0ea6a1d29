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
import { applyFileOps, blobOf, entryFromStored, type BlobSink, type Doc, type FileOp } from "./vault-doc.js";

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
  /** Receives the bytes of a binary conflict copy made from a pre-blob (inline) revision. */
  blobs?: BlobSink;
}

interface Side {
  opId: string;
  rev: StoredRev;
}

/** The change message of a resolution: how a later merge recognises one and looks through it. */
export const RESOLVE_MESSAGE = "resolve concurrent edits";

/** Resolves the conflicts among `paths` that involve this device. Returns the doc (changed or not). */
export function resolveConflicts(
  doc: Doc,
  paths: Iterable<string>,
  ctx: ResolveContext,
): { doc: Doc; outcomes: MergeOutcome[] } {
  const ops: FileOp[] = [];
  const outcomes: MergeOutcome[] = [];
  const recorded: string[] = [];
  let graph: ChangeGraph | undefined;
  for (const path of paths) {
    const sides = conflictingSides(doc, path);
    if (sides.length < 2 || !sides.some((s) => String(s.rev.by) === ctx.me)) continue;
    graph ??= new ChangeGraph(doc);
    const resolution = resolveOne(doc, graph, path, sides, ctx.me);
    ops.push(...resolution.ops);
    outcomes.push(resolution.outcome);
    if (resolution.leaves) recorded.push(`${JSON.stringify(path)} ${resolution.leaves.join(",")}`);
  }
  if (ops.length === 0) return { doc, outcomes };
  const message = [RESOLVE_MESSAGE, ...recorded].join("\n");
  return { doc: applyFileOps(doc, ops, { time: ctx.time, by: ctx.me, message, blobs: ctx.blobs }), outcomes };
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

/** One original text edit behind a conflict: the change that wrote it and what it wrote. */
interface Leaf {
  change: string;
  sha256: string;
  text: string;
}

/** Leaf edits merged at most (and recorded in a resolution's message); beyond, the sides are merged as they are. */
export const LEAVES_MAX = 64;

function resolveOne(
  doc: Doc,
  graph: ChangeGraph,
  path: string,
  sides: Side[],
  me: string,
): { ops: FileOp[]; outcome: MergeOutcome; leaves?: string[] } {
  if (sides.some((s) => s.rev.text === undefined)) return binaryCopy(doc, path, sides, me);
  const leaves = leavesOf(doc, graph, path, sides);
  const { text: merged, conflicted } = mergeLeaves(doc, graph, path, leaves);
  const mtime = Math.max(...sides.map((s) => s.rev.mtime));
  return {
    ops: [{ type: "put", path, bytes: utf8Encode(merged), mtime }],
    outcome: { path, result: conflicted ? "markers" : "merged" },
    leaves: leaves.map((l) => l.change),
  };
}

/**
 * The original concurrent edits behind `sides`: a side written by a resolution stands for the leaf
 * edits that resolution recorded in its change message; then only edits no other leaf descends from
 * are kept, one per content, in content-hash order. The merge is thus a function of the set of
 * original edits, whatever partial resolutions devices made on the way, and every device computes
 * the same bytes. Merging the partial resolutions instead does not converge: when three devices
 * edit one file at once, each resolves the pair it sees first, the partial resolutions conflict and
 * are resolved pairwise again in different orders — each round nests the previous markers, the file
 * grows without bound and the 3-way merge's LCS stalls the engine (dst.test.ts replays such a run).
 */
function leavesOf(doc: Doc, graph: ChangeGraph, path: string, sides: Side[]): Leaf[] {
  const byChange = new Map<string, Leaf>();
  for (const side of sides) {
    const change = graph.changeOf(side.opId);
    if (change === undefined) continue;
    const recorded = graph.recordedLeaves(change, path);
    const expanded = recorded?.map((hash) => graph.leafAt(doc, hash, path)).filter((l): l is Leaf => l !== undefined);
    if (expanded !== undefined && expanded.length === recorded?.length)
      for (const leaf of expanded) byChange.set(leaf.change, leaf);
    else byChange.set(change, { change, sha256: String(side.rev.sha256), text: String(side.rev.text) });
  }
  const all = [...byChange.values()];
  const maximal = all.filter(
    (leaf) => !all.some((other) => other !== leaf && graph.isAncestor(leaf.change, other.change)),
  );
  const byContent = new Map<string, Leaf>();
  for (const leaf of maximal) {
    const seen = byContent.get(leaf.sha256);
    if (seen === undefined || leaf.change < seen.change) byContent.set(leaf.sha256, leaf);
  }
  const leaves = [...byContent.values()].sort((x, y) => (x.sha256 < y.sha256 ? -1 : x.sha256 > y.sha256 ? 1 : 0));
  if (leaves.length > LEAVES_MAX || leaves.length < 2) {
    return sides.map((s) => ({
      change: graph.changeOf(s.opId) ?? s.opId,
      sha256: String(s.rev.sha256),
      text: String(s.rev.text),
    }));
  }
  return leaves;
}

/** The 3-way merge of leaf edits over their common ancestor, in content-hash order. */
function mergeLeaves(
  doc: Doc,
  graph: ChangeGraph,
  path: string,
  leaves: Leaf[],
): { text: string; conflicted: boolean } {
  const base = textAt(doc, graph.commonAncestorHeadsOfChanges(leaves.map((l) => l.change)), path);
  let merged = leaves[0].text;
  let conflicted = false;
  for (let i = 1; i < leaves.length; i++) {
    const result = mergeText(base, merged, leaves[i].text, { a: labelFor(leaves[0]), b: labelFor(leaves[i]) });
    merged = result.text;
    conflicted ||= result.conflicted;
  }
  return { text: merged, conflicted };
}

/**
 * A side's marker label names its content only: with the writer's id in it, two devices merging
 * equal-content revisions written by different devices would produce different bytes, which would
 * conflict again.
 */
const labelFor = (leaf: Leaf) => `version ${leaf.sha256.slice(0, 8)}`;

/**
 * Binary files cannot be merged: the winner Automerge chose stays at the path, and the device whose
 * revision lost writes its bytes to a conflict copy (only the loser's owner does, so no duplicates).
 */
function binaryCopy(doc: Doc, path: string, sides: Side[], me: string): { ops: FileOp[]; outcome: MergeOutcome } {
  const winner = doc.files[bucketOf(path)][path];
  const mine = sides.find((s) => String(s.rev.by) === me && String(s.rev.sha256) !== String(winner.sha256));
  if (mine === undefined) return { ops: [], outcome: { path, result: "copy" } };
  const copyPath = conflictCopyPath(path, me, String(mine.rev.sha256));
  const blob = blobOf(mine.rev);
  const op: FileOp =
    blob !== undefined
      ? { type: "link", path: copyPath, blob, size: mine.rev.size, mtime: mine.rev.mtime }
      : {
          type: "put",
          path: copyPath,
          bytes: entryFromStored(copyPath, mine.rev).bytes ?? new Uint8Array(),
          mtime: mine.rev.mtime,
        };
  return { ops: [op], outcome: { path, result: "copy", copyPath } };
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
  return rev.text !== undefined ? String(rev.text) : (decodeTextOrUndefined(new Uint8Array(rev.data ?? [])) ?? "");
}

/** The doc's change graph, built once per resolve pass (conflicts are rare; this is O(history)). */
class ChangeGraph {
  readonly #deps = new Map<string, string[]>();
  readonly #ancestors = new Map<string, Set<string>>();
  readonly #byActor = new Map<string, { startOp: number; maxOp: number; hash: string }[]>();

  constructor(doc: Doc) {
    for (const meta of A.getChangesMetaSince(doc, [])) {
      this.#deps.set(meta.hash, meta.deps);
      if (meta.message?.startsWith(`${RESOLVE_MESSAGE}\n`)) this.#leafMessages.set(meta.hash, meta.message);
      const list = this.#byActor.get(meta.actor) ?? [];
      list.push({ startOp: meta.startOp, maxOp: meta.maxOp, hash: meta.hash });
      this.#byActor.set(meta.actor, list);
    }
  }

  readonly #views = new Map<string, Doc>();
  readonly #leafMessages = new Map<string, string>();

  /** The doc as of `heads`, materialised once per resolve pass. */
  view(doc: Doc, heads: A.Heads): Doc {
    const key = [...heads].sort().join(",");
    let known = this.#views.get(key);
    if (known === undefined) {
      known = A.view(doc, heads);
      this.#views.set(key, known);
    }
    return known;
  }

  /** The leaf edits a resolution recorded for `path` (its message's line for the path), if any. */
  recordedLeaves(hash: string, path: string): string[] | undefined {
    const message = this.#leafMessages.get(hash);
    if (message === undefined) return undefined;
    const prefix = `${JSON.stringify(path)} `;
    const line = message.split("\n").find((l) => l.startsWith(prefix));
    const hashes = line
      ?.slice(prefix.length)
      .split(",")
      .filter((h) => this.#deps.has(h));
    return hashes !== undefined && hashes.length >= 2 && hashes.length <= LEAVES_MAX ? hashes : undefined;
  }

  /** What change `hash` wrote at `path` (the file as of that change alone), for a text file. */
  leafAt(doc: Doc, hash: string, path: string): Leaf | undefined {
    const rev = this.view(doc, [hash]).files?.[bucketOf(path)]?.[path];
    if (rev === undefined || rev.text === undefined) return undefined;
    return { change: hash, sha256: String(rev.sha256), text: String(rev.text) };
  }

  /** True when `a` is in the strict past of `b`. */
  isAncestor(a: string, b: string): boolean {
    return this.#strictAncestors(b).has(a);
  }

  /** The change that created op `ctr@actor`. */
  changeOf(opId: string): string | undefined {
    const at = opId.indexOf("@");
    const counter = Number(opId.slice(0, at));
    const actor = opId.slice(at + 1);
    return this.#byActor.get(actor)?.find((c) => c.startOp <= counter && counter <= c.maxOp)?.hash;
  }

  /** The maximal changes that are strict ancestors of every given change. */
  commonAncestorHeadsOfChanges(hashes: string[]): A.Heads {
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
    const known = this.#ancestors.get(hash);
    if (known) return known;
    const seen = new Set<string>();
    const stack = [...(this.#deps.get(hash) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(this.#deps.get(next) ?? []));
    }
    this.#ancestors.set(hash, seen);
    return seen;
  }
}
