/**
 * Disk access confined to the vault root. A vault path is normalised first; then every directory
 * on the way is checked with lstat, so a symlink inside the vault is never written through.
 */
import { lstat, mkdir, readdir } from "node:fs/promises";
import { dirname, basename, join, sep } from "node:path";
import { normaliseVaultPath, UnsafePathError } from "../vault/paths.js";

export function absoluteInside(root: string, vaultPath: string): string {
  const path = normaliseVaultPath(vaultPath);
  const absolute = join(root, ...path.split("/"));
  if (!absolute.startsWith(root.endsWith(sep) ? root : root + sep))
    throw new UnsafePathError(`path escapes the vault: ${vaultPath}`);
  return absolute;
}

type EntryKind = "dir" | "symlink" | "missing" | "other";

/**
 * What lstat said about each folder on the way, remembered for one pass over many paths: a clone
 * of 10,000 files in 100 folders asks about 100 folders, not 40,000 times. Only folders are
 * remembered (a file's own entry is always looked at afresh), and only for the pass that made it:
 * a folder replaced by a symlink later is seen by the next pass, as before.
 */
export class FolderChecks {
  readonly #kinds = new Map<string, EntryKind>();
  readonly #listings = new Map<string, Promise<Set<string> | undefined>>();
  /**
   * `listFolders`: answer "is there anything at this path?" from one readdir per folder instead of
   * one lstat per file — for passes over many paths (a clone's first pass asks about every file of
   * the vault, none of them there yet).
   */
  constructor(
    readonly root: string,
    readonly options: { listFolders?: boolean } = {},
  ) {}

  async #kind(absolute: string, remember: boolean): Promise<EntryKind> {
    const known = this.#kinds.get(absolute);
    if (known !== undefined) return known;
    const info = await lstat(absolute).catch(() => undefined);
    const kind: EntryKind =
      info === undefined ? "missing" : info.isSymbolicLink() ? "symlink" : info.isDirectory() ? "dir" : "other";
    if (remember) this.#kinds.set(absolute, kind);
    return kind;
  }

  /**
   * True when the folder listing shows nothing at `vaultPath` (the folder is missing or lacks the
   * name); false when something is there or listings are off. The listing is as of the first ask:
   * a file created after it is caught before any write (link refuses an existing name; a replace
   * re-reads first).
   */
  async listedAbsent(vaultPath: string): Promise<boolean> {
    if (!this.options.listFolders) return false;
    const absolute = join(this.root, ...normaliseVaultPath(vaultPath).split("/"));
    const dir = dirname(absolute);
    let listing = this.#listings.get(dir);
    if (listing === undefined) {
      listing = readdir(dir).then(
        (names) => new Set(names),
        (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? new Set<string>() : undefined),
      );
      this.#listings.set(dir, listing);
    }
    const names = await listing;
    return names !== undefined && !names.has(basename(absolute));
  }

  /** Forgets what is known about `absolute` (a folder this pass removed). */
  forget(absolute: string): void {
    this.#kinds.delete(absolute);
    this.#listings.delete(absolute);
  }

  /** Creates the parent directories of `vaultPath`, refusing to pass through a symlink or a file. */
  async ensureParentDirs(vaultPath: string): Promise<void> {
    const segments = normaliseVaultPath(vaultPath).split("/").slice(0, -1);
    let current = this.root;
    for (const segment of segments) {
      current = join(current, segment);
      const kind = await this.#kind(current, true);
      if (kind === "missing") {
        await mkdir(current, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== "EEXIST") throw e;
        });
        this.#kinds.delete(current);
        if ((await this.#kind(current, true)) !== "dir")
          throw new UnsafePathError(`${current} is not a folder after creating it`);
      } else if (kind === "symlink") throw new UnsafePathError(`refusing to write through the symlink ${current}`);
      else if (kind === "other") throw new UnsafePathError(`${current} is a file where a folder is needed`);
    }
  }

  /** True when some directory between root and the file is a symlink (the file itself included). */
  async passesSymlink(vaultPath: string): Promise<boolean> {
    const segments = normaliseVaultPath(vaultPath).split("/");
    let current = this.root;
    for (const [i, segment] of segments.entries()) {
      current = join(current, segment);
      const kind = await this.#kind(current, i < segments.length - 1);
      if (kind === "missing") return false;
      if (kind === "symlink") return true;
    }
    return false;
  }
}

/** Creates the parent directories of `vaultPath`, refusing to pass through a symlink or a file. */
export const ensureParentDirs = (root: string, vaultPath: string): Promise<void> =>
  new FolderChecks(root).ensureParentDirs(vaultPath);

/** True when some directory between root and the file is a symlink (the file itself included). */
export const passesSymlink = (root: string, vaultPath: string): Promise<boolean> =>
  new FolderChecks(root).passesSymlink(vaultPath);
