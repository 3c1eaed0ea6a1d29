/**
 * Full-text search over the vault's text files (MiniSearch: BM25 ranking, prefix and fuzzy
 * matching), updated file by file as changes arrive. Results carry the lines that matched, so an
 * agent can go to them without reading the whole file.
 */
import MiniSearch from "minisearch";
import type { DiskChange } from "./disk-changes.js";

export interface SearchHit {
  path: string;
  score: number;
  /** Lines holding a matched term (1-based line numbers), at most LINES_PER_HIT_MAX of them. */
  lines: { line: number; text: string }[];
}

/** Matching lines shown per file: enough to judge the hit, few enough to keep results short. */
const LINES_PER_HIT_MAX = 5;
/** A shown line is cut to this many characters: a minified or one-paragraph file is one huge line. */
const LINE_CHARS_MAX = 300;
/** Files returned at most for one query. */
export const HITS_MAX = 50;

interface IndexedFile {
  path: string;
  text: string;
}

export class SearchIndex {
  readonly #texts = new Map<string, string>();
  readonly #index = new MiniSearch<IndexedFile>({
    idField: "path",
    fields: ["path", "text"],
    searchOptions: { boost: { path: 2 }, prefix: true, fuzzy: 0.2 },
  });

  get size(): number {
    return this.#texts.size;
  }

  apply(changes: readonly DiskChange[]): void {
    for (const { path, text } of changes) {
      if (this.#index.has(path)) this.#index.discard(path);
      this.#texts.delete(path);
      if (text === undefined) continue;
      this.#texts.set(path, text);
      this.#index.add({ path, text });
    }
  }

  search(query: string, limit = 10): SearchHit[] {
    const results = this.#index.search(query).slice(0, Math.min(Math.max(1, limit), HITS_MAX));
    return results.map((result) => ({
      path: String(result.id),
      score: Math.round(result.score * 1000) / 1000,
      lines: matchingLines(this.#texts.get(String(result.id)) ?? "", result.terms),
    }));
  }
}

function matchingLines(text: string, terms: readonly string[]): { line: number; text: string }[] {
  const lowered = terms.map((t) => t.toLowerCase());
  const out: { line: number; text: string }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length && out.length < LINES_PER_HIT_MAX; i++) {
    const line = lines[i].toLowerCase();
    if (lowered.some((term) => line.includes(term))) out.push({ line: i + 1, text: lines[i].slice(0, LINE_CHARS_MAX) });
  }
  return out;
}
