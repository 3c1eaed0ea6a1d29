/**
 * Which paths of a folder belong to the vault: the extension filter, `.syncignore` (gitignore
 * syntax, reloaded whenever the file changes), built-in exclusions (our state, VCS folders, editor
 * temp files), and the two control files that always sync.
 */
import ignore, { type Ignore } from "ignore";
import { STATE_DIR } from "../vault/paths.js";

export const AUTHORIZED_KEYS = "authorized_keys";
export const SYNCIGNORE = ".syncignore";
export const ALWAYS_SYNC = new Set([AUTHORIZED_KEYS, SYNCIGNORE]);

// Editor and OS leftovers that must never travel even when they carry a synced extension.
const BUILT_IN_IGNORES = [
  `${STATE_DIR}/`,
  ".git/",
  ".hg/",
  ".svn/",
  "node_modules/",
  ".DS_Store",
  "Thumbs.db",
  "*.swp",
  "*.swo",
  "*.swx",
  "*~",
  ".#*",
  "#*#",
  "4913",
  "*.tmp",
  "*.edgesync-tmp-*",
  ".~lock.*",
];

export class SyncFilter {
  readonly #extensions: Set<string>;
  #rules: Ignore;

  constructor(extensions: readonly string[], syncignoreText = "") {
    this.#extensions = new Set(extensions.map((e) => e.toLowerCase()));
    this.#rules = SyncFilter.#compile(syncignoreText);
  }

  static #compile(text: string): Ignore {
    return ignore().add(BUILT_IN_IGNORES).add(text);
  }

  /** Live edits of `.syncignore` take effect through this. */
  setSyncignore(text: string): void {
    this.#rules = SyncFilter.#compile(text);
  }

  /** True when the file at this vault path syncs. */
  includes(path: string): boolean {
    if (ALWAYS_SYNC.has(path)) return true;
    const dot = path.lastIndexOf(".");
    const slash = path.lastIndexOf("/");
    if (dot <= slash + 1) return false;
    if (!this.#extensions.has(path.slice(dot + 1).toLowerCase())) return false;
    return !this.#rules.ignores(path);
  }

  /** True when the scan should not descend into this directory. */
  skipsDirectory(path: string): boolean {
    return this.#rules.ignores(`${path}/`);
  }
}
