/**
 * What this device's disk last agreed with the vault on, per path: the content hash and the doc
 * heads at that moment. It tells a local edit (disk differs from the index) from a remote change
 * not yet written (doc differs from the index), and the heads are the base a late local edit is
 * applied on (applyFileOpsAt), so it merges instead of overwriting.
 */
import { appendFile, readFile, truncate } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";

export interface IndexEntry {
  sha256: string;
  heads: string[];
}

/** Every entry, rewritten whole only when the journal has grown (compaction). */
const SNAPSHOT = "disk-index.json";
/** One line per change since the snapshot: `[path, entry]`, or `[path, null]` for a delete. */
const JOURNAL = "disk-index.journal";
/**
 * The journal is folded into the snapshot once it would hold as many lines as this and as the index
 * has entries: a first save of a whole folder (a clone) goes straight to the snapshot.
 */
const JOURNAL_LINES_MIN = 1024;
/** Every file the index keeps in the state directory (for tools and tests that copy or remove it). */
export const DISK_INDEX_FILES = [SNAPSHOT, JOURNAL] as const;

/**
 * Saved as a snapshot plus an append-only journal: rewriting every entry on each save made a
 * one-file edit cost in proportion to the vault (1.8 MB written at 10,000 files). Appends are not
 * fsynced: the index may only lag the disk, never lead it (it is saved after the doc is stored and
 * the files written), and a lagging or torn index is safe — a difference it no longer explains is
 * merged as a local edit, never lost.
 */
export class DiskIndex {
  readonly #dir: string;
  readonly #entries = new Map<string, IndexEntry>();
  /**
   * Each entry as its `"path":{…}` member of the snapshot JSON, kept from set() on, so a
   * compaction joins strings instead of serialising every entry again.
   */
  readonly #members = new Map<string, string>();
  /** Changes since the last save: an entry, or null for a delete. */
  readonly #pending = new Map<string, IndexEntry | null>();
  #journalLines = 0;

  constructor(stateDir: string) {
    this.#dir = stateDir;
  }

  async load(): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(join(this.#dir, SNAPSHOT), "utf8"));
    } catch {
      raw = {}; // missing or torn: start empty; every difference is then treated as a local edit to merge, never lost
    }
    if (typeof raw === "object" && raw !== null)
      for (const [path, entry] of Object.entries(raw as Record<string, unknown>)) this.#replay(path, entry);
    const journal = await readFile(join(this.#dir, JOURNAL), "utf8").catch(() => "");
    for (const line of journal.split("\n")) {
      if (line === "") continue;
      this.#journalLines++;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue; // a torn append (a crash mid-write): that path keeps an older entry, which is safe
      }
      if (Array.isArray(parsed) && typeof parsed[0] === "string") this.#replay(parsed[0], parsed[1]);
    }
  }

  /** One saved record: a well-formed entry is put, null deletes, anything else is ignored. */
  #replay(path: string, entry: unknown): void {
    if (entry === null) return void this.#remove(path);
    const e = entry as Partial<IndexEntry>;
    if (typeof e?.sha256 === "string" && Array.isArray(e.heads))
      this.#put(path, { sha256: e.sha256, heads: e.heads.map(String) });
  }

  get(path: string): IndexEntry | undefined {
    return this.#entries.get(path);
  }

  set(path: string, entry: IndexEntry): void {
    this.#put(path, entry);
    this.#pending.set(path, entry);
  }

  delete(path: string): void {
    if (this.#remove(path)) this.#pending.set(path, null);
  }

  #put(path: string, entry: IndexEntry): void {
    this.#entries.set(path, entry);
    this.#members.set(path, `${JSON.stringify(path)}:${JSON.stringify({ sha256: entry.sha256, heads: entry.heads })}`);
  }

  #remove(path: string): boolean {
    this.#members.delete(path);
    return this.#entries.delete(path);
  }

  paths(): string[] {
    return [...this.#entries.keys()];
  }

  async save(): Promise<void> {
    if (this.#pending.size === 0) return;
    const lines = [...this.#pending].map(([path, entry]) => JSON.stringify([path, entry]));
    this.#pending.clear();
    if (this.#journalLines + lines.length >= Math.max(JOURNAL_LINES_MIN, this.#entries.size)) return this.#compact();
    this.#journalLines += lines.length;
    await appendFile(join(this.#dir, JOURNAL), `${lines.join("\n")}\n`, { mode: 0o600 });
  }

  /**
   * Writes every entry as a new snapshot and empties the journal. A crash between the two leaves
   * the old journal to be replayed over the new snapshot: each of its lines is a state its path
   * had earlier, so the index then lags, which is safe (see the class comment).
   */
  async #compact(): Promise<void> {
    await writeFileAtomic(join(this.#dir, SNAPSHOT), `{${[...this.#members.values()].join(",")}}`, { mode: 0o600 });
    await truncate(join(this.#dir, JOURNAL), 0).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    this.#journalLines = 0;
  }
}
