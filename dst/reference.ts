/**
 * The reference model: what the files must be, given every write the workload made and the causal
 * order Automerge recorded between them. It never runs the engine's merge code; it knows only what
 * each write meant (its effect on each path it touched) and which writes had seen which.
 *
 * Per path, among the changes that touched it:
 *  - one latest change, made by the workload (every other change to the path is in its past):
 *    the file is exactly what that write put there, or absent if it deleted the path;
 *  - every paragraph token a write introduced (absent from the file as that write found it) is
 *    still in the file, or in a conflict copy of it, unless a later write that had seen it dropped
 *    it: concurrent edits never lose each other, whatever merge the engine ran;
 *  - concurrent edits of different paragraphs from one base (and no other change to the path since)
 *    merge to exactly that base with each side's paragraphs, and no conflict markers;
 *  - no file exists that no change wrote, no token appears that no write introduced.
 */
import * as A from "@automerge/automerge";
import type { PeerId } from "../agent/sync/ports.js";
import { listStored, entryFromStored, readEntry, type Doc } from "../agent/vault/model/vault-doc.js";
import { decodeTextOrUndefined } from "../agent/vault/model/bytes.js";
import { paragraphMerge, tokensOf } from "./content.js";

export interface WriteRecord {
  id: number;
  /** The change message starts with it: how the write is found in history. */
  tag: string;
  node: PeerId;
  /** Plan step id, or -1 for the heal's own writes. */
  step: number;
  kind: string;
  /** Canonical path → bytes written there, or null for a delete. */
  effects: Map<string, Uint8Array | null>;
  /** The change's hash, once the writer's engine made it. */
  hash?: string;
  /** The engine's promise resolved: the write was reported saved. */
  acked: boolean;
  /** The engine found nothing to change (the promise resolved with no paths). */
  noop: boolean;
}

export const tagOfMessage = (message: string | null): string | undefined => /^(w\d+)(?:\s|$)/.exec(message ?? "")?.[1];

interface Touch {
  hash: string;
  deps: A.Heads;
  record?: WriteRecord;
}

const decoder = new TextDecoder();
const textOf = (bytes: Uint8Array | null | undefined): string | undefined =>
  bytes ? decodeTextOrUndefined(bytes) : undefined;
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
const isConflictCopyOf = (copy: string, path: string) => {
  const slash = path.lastIndexOf("/");
  const dot = path.lastIndexOf(".");
  const stem = dot > slash + 1 ? path.slice(0, dot) : path;
  return copy !== path && copy.startsWith(`${stem}.conflict-`);
};

/** The document's change graph with the queries the model needs, computed once per check. */
export class History {
  readonly metas: ReturnType<typeof A.getChangesMetaSince>;
  readonly #doc: Doc;
  readonly #byHash = new Map<string, (typeof this.metas)[number]>();
  readonly #byTag = new Map<string, string>();
  readonly #ancestors = new Map<string, Set<string>>();
  readonly #views = new Map<string, Doc>();

  constructor(doc: Doc) {
    this.#doc = doc;
    this.metas = A.getChangesMetaSince(doc, []);
    for (const meta of this.metas) {
      this.#byHash.set(meta.hash, meta);
      const tag = tagOfMessage(meta.message);
      if (tag !== undefined) this.#byTag.set(tag, meta.hash);
    }
  }

  hashOfTag(tag: string): string | undefined {
    return this.#byTag.get(tag);
  }

  deps(hash: string): A.Heads {
    return this.#byHash.get(hash)?.deps ?? [];
  }

  /** True when `a` is in the strict past of `b`. */
  isAncestor(a: string, b: string): boolean {
    return this.#ancestorsOf(b).has(a);
  }

  /** The heads of the history `a` and `b` share: what a 3-way merge of the two takes as its base. */
  mergeBase(a: string, b: string): A.Heads {
    const ofB = new Set([b, ...this.#ancestorsOf(b)]);
    const shared = [a, ...this.#ancestorsOf(a)].filter((h) => ofB.has(h));
    return shared.filter((h) => !shared.some((other) => other !== h && this.isAncestor(h, other)));
  }

  #ancestorsOf(hash: string): Set<string> {
    const known = this.#ancestors.get(hash);
    if (known) return known;
    const seen = new Set<string>();
    const stack = [...this.deps(hash)];
    while (stack.length > 0) {
      const next = stack.pop() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      const memo = this.#ancestors.get(next);
      if (memo) for (const h of memo) seen.add(h);
      else stack.push(...this.deps(next));
    }
    this.#ancestors.set(hash, seen);
    return seen;
  }

  /** The file at `path` as of `heads`. */
  bytesAt(heads: A.Heads, path: string): Uint8Array | undefined {
    if (heads.length === 0) return undefined;
    const key = [...heads].sort().join(",");
    let view = this.#views.get(key);
    if (!view) {
      view = A.view(this.#doc, heads);
      this.#views.set(key, view);
    }
    return readEntry(view, path)?.bytes;
  }

  /** Paths a change wrote or deleted (for changes the workload did not make: merges, conflict copies). */
  pathsTouchedBy(hash: string): string[] {
    const paths = new Set<string>();
    for (const patch of A.diff(this.#doc, this.deps(hash), [hash])) {
      if (patch.path[0] === "files" && patch.path.length >= 3) paths.add(String(patch.path[2]));
    }
    return [...paths];
  }

  /** Whether the file at `path` holds concurrent values as of `heads`. */
  conflictedAt(heads: A.Heads, path: string): boolean {
    if (heads.length === 0) return false;
    this.bytesAt(heads, path);
    const view = this.#views.get([...heads].sort().join(",")) as Doc;
    for (const bucket of Object.values(view.files ?? {})) {
      if (path in bucket) return Object.keys(A.getConflicts(bucket, path) ?? {}).length > 1;
    }
    return false;
  }
}

/** Checks the converged document against the writes; returns one line per disagreement. */
export function checkReference(
  doc: Doc,
  records: readonly WriteRecord[],
  blobs: ReadonlyMap<string, Uint8Array> = new Map(),
): string[] {
  const history = new History(doc);
  const violations: string[] = [];
  const present = records.filter((r) => history.hashOfTag(r.tag) !== undefined);
  for (const r of present) {
    const hash = history.hashOfTag(r.tag) as string;
    if (r.hash !== undefined && r.hash !== hash)
      violations.push(
        `write ${r.tag} by ${r.node} is in history as ${hash.slice(0, 8)}, made as ${r.hash.slice(0, 8)}`,
      );
  }
  const touches = new Map<string, Touch[]>();
  const touch = (path: string, t: Touch) => touches.set(path, [...(touches.get(path) ?? []), t]);
  for (const record of present) {
    const hash = history.hashOfTag(record.tag) as string;
    for (const path of record.effects.keys()) touch(path, { hash, deps: history.deps(hash), record });
  }
  const tagged = new Set(present.map((r) => history.hashOfTag(r.tag)));
  for (const meta of history.metas) {
    if (tagged.has(meta.hash) || tagOfMessage(meta.message) !== undefined) continue;
    for (const path of history.pathsTouchedBy(meta.hash)) touch(path, { hash: meta.hash, deps: meta.deps });
  }
  // A binary's bytes are a blob: the workload's record of every binary it wrote says what they are
  // (whether each node holds the blob is the simulation's own invariant).
  const finals = new Map(
    [...listStored(doc)].map(([path, rev]) => {
      const entry = entryFromStored(path, rev);
      return [path, { ...entry, bytes: entry.bytes ?? blobs.get(entry.blob ?? "") }];
    }),
  );
  const introducedAnywhere = new Set<string>();
  for (const r of present)
    for (const bytes of r.effects.values()) for (const t of tokensOf(textOf(bytes))) introducedAnywhere.add(t);

  for (const path of [...new Set([...touches.keys(), ...finals.keys()])].sort()) {
    const changes = touches.get(path) ?? [];
    const final = finals.get(path);
    if (changes.length === 0) {
      violations.push(`${JSON.stringify(path)} exists but no change in history wrote it`);
      continue;
    }
    const maximal = changes.filter((c) => !changes.some((d) => d !== c && history.isAncestor(c.hash, d.hash)));
    if (maximal.length === 1 && maximal[0].record) checkExact(path, maximal[0].record, final?.bytes, violations);
    const copies = [...finals.keys()].filter((p) => isConflictCopyOf(p, path)).map((p) => textOf(finals.get(p)?.bytes));
    checkTokens(history, path, changes, textOf(final?.bytes), copies, violations);
    checkParagraphMerge(history, path, changes, final?.bytes, violations);
    if (final) {
      for (const t of tokensOf(textOf(final.bytes)))
        if (!introducedAnywhere.has(t))
          violations.push(`${JSON.stringify(path)} holds ${t}, which no write introduced`);
    }
  }
  return violations;
}

function checkExact(path: string, record: WriteRecord, final: Uint8Array | undefined, violations: string[]): void {
  const expected = record.effects.get(path);
  if (expected === null || expected === undefined) {
    if (final !== undefined)
      violations.push(
        `${JSON.stringify(path)} exists, but its latest write ${record.tag} (${record.kind} by ${record.node}) deleted it`,
      );
  } else if (final === undefined) {
    violations.push(
      `${JSON.stringify(path)} is missing, but its latest write ${record.tag} (${record.kind} by ${record.node}) wrote it`,
    );
  } else if (!sameBytes(expected, final)) {
    violations.push(
      `${JSON.stringify(path)} differs from its latest write ${record.tag} (${record.kind} by ${record.node}): ${JSON.stringify(decoder.decode(final).slice(0, 120))}`,
    );
  }
}

/**
 * A write that puts back a token the path already held where it and a concurrent write diverged
 * (a rename away and back, say) changed nothing there as far as a 3-way merge can tell; when that
 * concurrent write dropped the token, the merge rightly drops it.
 */
function droppedFromMergeBase(history: History, path: string, w: Touch, writes: Touch[], token: string): boolean {
  return writes.some((other) => {
    if (other === w || history.isAncestor(w.hash, other.hash) || history.isAncestor(other.hash, w.hash)) return false;
    if (tokensOf(textOf(other.record?.effects.get(path))).has(token)) return false;
    return tokensOf(textOf(history.bytesAt(history.mergeBase(w.hash, other.hash), path))).has(token);
  });
}

/** Every token a write introduced survives unless a later write that had seen it dropped it. */
function checkTokens(
  history: History,
  path: string,
  changes: Touch[],
  final: string | undefined,
  copies: (string | undefined)[],
  violations: string[],
): void {
  const have = tokensOf(final);
  for (const copy of copies) for (const t of tokensOf(copy)) have.add(t);
  const writes = changes.filter((c) => c.record !== undefined);
  for (const w of writes) {
    // A restore re-puts old content: against a concurrent edit whose common ancestor already held
    // that content, a 3-way merge rightly counts the restore as "no change" and keeps the edit, so
    // what a restore brings back is not held to survival.
    if (w.record?.kind === "restore") continue;
    const effect = textOf(w.record?.effects.get(path));
    if (effect === undefined) continue;
    const base = tokensOf(textOf(history.bytesAt(w.deps, path)));
    for (const token of tokensOf(effect)) {
      if (base.has(token) || have.has(token)) continue;
      const dropped = writes.some(
        (later) =>
          history.isAncestor(w.hash, later.hash) && !tokensOf(textOf(later.record?.effects.get(path))).has(token),
      );
      if (!dropped && !droppedFromMergeBase(history, path, w, writes, token))
        violations.push(
          `${JSON.stringify(path)} lost ${token} (written by ${w.record?.tag} ${w.record?.kind} on ${w.record?.node}); no later write removed it`,
        );
    }
  }
}

/**
 * When the latest writes to a path are text edits made concurrently from one base that had no
 * unresolved conflict there, and every other change to the path is before that base or after it,
 * the file is the paragraph merge of those edits.
 */
function checkParagraphMerge(
  history: History,
  path: string,
  changes: Touch[],
  final: Uint8Array | undefined,
  violations: string[],
): void {
  const writes = changes.filter((c) => c.record !== undefined);
  const latest = writes.filter((c) => !writes.some((d) => d !== c && history.isAncestor(c.hash, d.hash)));
  if (latest.length < 2) return;
  const depsKey = (c: Touch) => [...c.deps].sort().join(",");
  if (latest.some((c) => depsKey(c) !== depsKey(latest[0]))) return;
  const sides = latest.map((c) => textOf(c.record?.effects.get(path)));
  const base = textOf(history.bytesAt(latest[0].deps, path));
  if (base === undefined || sides.some((s) => s === undefined) || history.conflictedAt(latest[0].deps, path)) return;
  // A base that still holds conflict markers: an edit next to a marker line may conflict again
  // (one side may replace the closing marker itself). Not promised; the token check above
  // still proves that neither side's paragraphs are lost.
  if (/^(<{7}|={7}|>{7})( |$)/m.test(base)) return;
  const baseHeads = latest[0].deps;
  // Another change to the path since the base and not built on these edits (a merge a third device
  // made of an older conflict, say): the sides no longer share one base. A change that descends
  // from one base head only is such a change too (a merge of the base's own past conflict,
  // concurrent with both edits, rightly keeps its conflict markers).
  const inBasePast = (c: Touch) => baseHeads.includes(c.hash) || baseHeads.some((h) => history.isAncestor(c.hash, h));
  const inBetween = changes.some(
    (c) => !c.record && !inBasePast(c) && !latest.some((l) => history.isAncestor(l.hash, c.hash)),
  );
  if (inBetween) return;
  const expected = paragraphMerge(base, sides as string[]);
  if (expected === undefined) return;
  const got = textOf(final);
  if (got !== expected) {
    violations.push(
      `${JSON.stringify(path)}: concurrent edits of different paragraphs (${latest.map((c) => c.record?.tag).join(", ")}) did not merge cleanly: got ${JSON.stringify((got ?? "<missing>").slice(0, 200))}`,
    );
  }
}
