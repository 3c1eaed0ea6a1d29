/**
 * What this device's disk last agreed with the vault on, per path: the content hash and the doc
 * heads at that moment. It tells a local edit (disk differs from the index) from a remote change
 * not yet written (doc differs from the index), and the heads are the base a late local edit is
 * applied on (applyFileOpsAt), so it merges instead of overwriting.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic-write.js";

export interface IndexEntry {
  sha256: string;
  heads: string[];
}

const FILE = "disk-index.json";

export class DiskIndex {
  readonly #path: string;
  readonly #entries = new Map<string, IndexEntry>();
  /**
   * Each entry as its `"path":{…}` member of the saved JSON, kept from set() on: the index is saved
   * after every pass, and serialising every entry each time made a one-file edit cost in proportion
   * to the vault.
   */
  readonly #members = new Map<string, string>();
  #dirty = false;

  constructor(stateDir: string) {
    this.#path = join(stateDir, FILE);
  }

  async load(): Promise<void> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(this.#path, "utf8"));
    } catch {
      return; // missing or torn: start empty; every difference is then treated as a local edit to merge, never lost
    }
    if (typeof raw !== "object" || raw === null) return;
    for (const [path, entry] of Object.entries(raw as Record<string, unknown>)) {
      const e = entry as Partial<IndexEntry>;
      if (typeof e?.sha256 === "string" && Array.isArray(e.heads))
        this.#put(path, { sha256: e.sha256, heads: e.heads.map(String) });
    }
  }

  get(path: string): IndexEntry | undefined {
    return this.#entries.get(path);
  }

  set(path: string, entry: IndexEntry): void {
    this.#put(path, entry);
    this.#dirty = true;
  }

  delete(path: string): void {
    this.#members.delete(path);
    if (this.#entries.delete(path)) this.#dirty = true;
  }

  #put(path: string, entry: IndexEntry): void {
    this.#entries.set(path, entry);
    this.#members.set(path, `${JSON.stringify(path)}:${JSON.stringify({ sha256: entry.sha256, heads: entry.heads })}`);
  }

  paths(): string[] {
    return [...this.#entries.keys()];
  }

  async save(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    await writeFileAtomic(this.#path, `{${[...this.#members.values()].join(",")}}`, { mode: 0o600 });
  }
}
