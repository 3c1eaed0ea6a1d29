/**
 * The folder binding's check of the entries it is about to act on (model/entry-check.ts says what
 * a valid one is): an invalid entry from any peer is never written to disk nor read as a delete,
 * and is logged once — one line naming the path and what is wrong — not on every rescan.
 */
import type { Log } from "../sync/ports.js";
import { bucketOf } from "../vault/model/bucket.js";
import { EntryVerdicts, fullProblem } from "../vault/model/entry-check.js";
import type { StoredRev } from "../vault/model/schema.js";
import type { Doc } from "../vault/model/vault-doc.js";
import { fileSha256Hex } from "./hash.js";

/** Distinct invalid entries logged; beyond this they are still skipped, silently. */
const INVALID_LOGGED_MAX = 1000;
const LOG_MESSAGE =
  "ignoring an invalid vault entry written by a peer; it is not written to disk (see docs/vault-schema.md)";

export class EntryAudit {
  readonly #log: Log;
  readonly #logged = new Set<string>();
  /** A rescan does not hash an unchanged revision again; a new one is hashed natively (~10× the JS hash). */
  readonly #verdicts = new EntryVerdicts(fileSha256Hex);

  constructor(log: Log) {
    this.#log = log;
  }

  /** What is wrong with the entry in `path`'s own bucket (logged the first time), or undefined. */
  problemOf(path: string, rev: StoredRev): string | undefined {
    const problem = this.#verdicts.problemOf(bucketOf(path), path, rev);
    if (problem !== undefined) this.#report(path, bucketOf(path), problem);
    return problem;
  }

  /**
   * Reports `path` in any bucket but its own. Costs a lookup per bucket, so the binding calls it
   * only for a path that is in a change or a scan yet neither in its bucket, on disk nor in the index.
   */
  reportMisplaced(doc: Doc, path: string): void {
    for (const [bucket, entries] of Object.entries(doc.files ?? {})) {
      const entry: unknown = entries?.[path];
      if (entry !== undefined)
        this.#report(path, bucket, fullProblem(bucket, path, entry, fileSha256Hex) ?? "misplaced");
    }
  }

  #report(path: string, bucket: string, problem: string): void {
    const key = `${bucket}\n${path}\n${problem}`;
    if (this.#logged.has(key) || this.#logged.size >= INVALID_LOGGED_MAX) return;
    this.#logged.add(key);
    this.#log.warn({ path: JSON.stringify(path).slice(0, 300), bucket, problem }, LOG_MESSAGE);
  }
}
