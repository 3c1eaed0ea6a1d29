import * as A from "@automerge/automerge";
import type { Doc } from "./vault-doc.js";
import type { VaultDoc } from "./schema.js";
import { rebuildView, viewIsStale } from "./view-check.js";
import { UserError } from "../../errors.js";

export class CorruptDocError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "CorruptDocError";
  }
}

/** Rebuilds a doc from stored chunks (a full save, then incremental saves) under this node's actor. */
/**
 * Automerge's own "saved" mark is left empty: the engine saves what follows the heads it is given
 * (SyncEngineConfig.storedHeads), and marking would re-encode every change only to throw it away.
 */
export function loadDoc(chunks: readonly Uint8Array[], actor: string): Doc {
  let doc = A.init<VaultDoc>({ actor: actor as A.ActorId });
  for (const [i, chunk] of chunks.entries()) {
    try {
      // A.load of the full save is faster than loadIncremental into an empty doc.
      doc = i === 0 ? A.load<VaultDoc>(chunk, { actor: actor as A.ActorId }) : A.loadIncremental(doc, chunk);
    } catch (error) {
      throw new CorruptDocError(
        `stored vault document (chunk ${i + 1}/${chunks.length}) is unreadable; move .edgesync/doc.bin and doc.log aside and clone the vault again from another device`,
        { cause: error },
      );
    }
  }
  // loadIncremental patches the view like a sync message does, and can leave it stale (view-check.ts);
  // a single full save builds the view whole.
  if (chunks.length > 1 && viewIsStale(doc)) doc = rebuildView(doc);
  return doc;
}
