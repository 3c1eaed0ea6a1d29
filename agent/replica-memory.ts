/**
 * What a hosted vault costs the hub's memory, and how that is measured. Node offers no exact
 * figure per Automerge document — its operations live in one WebAssembly memory shared by every
 * document, which grows but never shrinks — so a replica reports what can be measured honestly:
 *
 *  - `savedBytes`: the saved document on disk (DiskStore.sizeBytes), exact; what a load reads,
 *    and the memory the document needs grows with it;
 *  - `lastLoad`: the growth of the process's memory across the replica's last load (reading the
 *    store, building the document and its JavaScript view, starting the engine), as
 *    `process.memoryUsage()` sees it: `heapBytes` (V8's heap: the document's JavaScript view and
 *    the engine) and `rssBytes` (the resident set, which also holds the WebAssembly memory).
 *    Loads run one at a time (the host's load gate) but other work of the process runs meanwhile,
 *    and a load into WebAssembly memory an earlier unload freed shows no resident growth for it:
 *    read them as estimates, not accounting. Automerge's own counts (`A.stats`: operations and
 *    changes) say how large the document is independently of the process.
 *  - an unloaded replica holds its transport's subscriptions, the heads it saved and the messages
 *    queued for its next load (`queuedBytes`); its document takes no memory once the garbage
 *    collector has run.
 */
import * as A from "@automerge/automerge";

export interface LoadMeasure {
  /** Growth of V8's used heap across the load, bytes (negative readings, a GC during the load, count as 0). */
  heapBytes: number;
  /** Growth of the resident set across the load, bytes (same caveat). */
  rssBytes: number;
  /** Automerge's count of operations in the document. */
  ops: number;
  /** Automerge's count of changes in the document. */
  changes: number;
  ms: number;
}

export interface ReplicaMemory {
  state: "loading" | "loaded" | "unloading" | "unloaded";
  /** The saved document on disk, bytes (at the last load or unload). */
  savedBytes: number;
  /** Messages waiting for the document to load, and their bytes. */
  queuedMessages: number;
  queuedBytes: number;
  /** Measured across the last load (see the module comment). */
  lastLoad?: LoadMeasure;
  loads: number;
  unloads: number;
  /** Time since the replica last did work (what the idle unload counts). */
  idleMs: number;
}

/** Starts measuring a load; `done` with the loaded document returns the figures. */
export function measureLoad(): { done(doc: A.Doc<unknown>): LoadMeasure } {
  const before = process.memoryUsage();
  const started = performance.now();
  return {
    done(doc) {
      const after = process.memoryUsage();
      const stats = A.stats(doc);
      return {
        heapBytes: Math.max(0, after.heapUsed - before.heapUsed),
        rssBytes: Math.max(0, after.rss - before.rss),
        ops: stats.numOps,
        changes: stats.numChanges,
        ms: Math.round(performance.now() - started),
      };
    },
  };
}
