/**
 * Tells the folder binding which paths under a vault folder changed.
 *
 * Why not `fs.watch(root, { recursive: true })` on Linux: Node 20 implements it in JavaScript
 * there, with one inotify watch and one stat per *file* — a slow start for a large vault — and a
 * readdirSync of the folder on every create, delete or rename in it, including the agent's own
 * temp files and every save under `.edgesync/`, on the path of each write. Here Linux gets one
 * watch per folder (inotify reports its files' events) and skips the folders it is told to; a
 * folder that appears is watched when its event arrives, and the binding walks it (an event for a
 * folder starts a reconcile), which finds what was written in it before its watch began. Elsewhere (macOS, Windows) Node's recursive watch is native and is used.
 */
import { lstatSync, readdirSync, watch, type Dirent, type FSWatcher } from "node:fs";
import { join } from "node:path";

export interface FolderWatcherOptions {
  /** Vault-relative folder paths ("a/b", "/"-separated) never watched, nor anything below them. */
  skip: (relativeFolder: string) => boolean;
  /** A path (vault-relative, "/"-separated) whose entry changed: created, written, removed or renamed. */
  onEvent: (relativePath: string) => void;
  /** The root itself can no longer be watched; the binding falls back to its periodic rescans. */
  onError: (error: Error) => void;
}

export interface FolderWatcher {
  close(): void;
  /** Folders watched (one each on Linux; 1 for the recursive watch elsewhere). */
  readonly watchedFolders: number;
}

export function watchFolderTree(root: string, options: FolderWatcherOptions): FolderWatcher {
  if (process.platform === "linux") return new DirectoryWatcher(root, options);
  const watcher = watch(root, { recursive: true, persistent: false }, (_event, name) => {
    if (!name) return;
    const path = String(name).split(/[\\/]/).join("/");
    if (!skippedBelow(path, options.skip)) options.onEvent(path);
  });
  watcher.on("error", options.onError);
  return { close: () => watcher.close(), watchedFolders: 1 };
}

/** True when `path` or one of its parent folders is skipped. */
function skippedBelow(path: string, skip: (folder: string) => boolean): boolean {
  const parts = path.split("/");
  for (let i = 1; i <= parts.length; i++) if (skip(parts.slice(0, i).join("/"))) return true;
  return false;
}

const relJoin = (folder: string, name: string) => (folder === "" ? name : `${folder}/${name}`);

/** One non-recursive watch per folder (Linux). Folders are keyed by vault-relative path, "" the root. */
class DirectoryWatcher implements FolderWatcher {
  readonly #root: string;
  readonly #options: FolderWatcherOptions;
  readonly #folders = new Map<string, { watcher: FSWatcher; ino: number }>();
  #closed = false;

  constructor(root: string, options: FolderWatcherOptions) {
    this.#root = root;
    this.#options = options;
    this.#add("");
    if (!this.#folders.has(""))
      throw Object.assign(new Error(`cannot watch ${root}: not a folder`), { code: "ENOTDIR" });
  }

  get watchedFolders(): number {
    return this.#folders.size;
  }

  close(): void {
    this.#closed = true;
    for (const { watcher } of this.#folders.values()) watcher.close();
    this.#folders.clear();
  }

  /** Watches `folder` and every folder below it that is not skipped (symlinks are not followed). */
  #add(folder: string): void {
    if (this.#closed || (folder !== "" && this.#options.skip(folder))) return;
    const absolute = join(this.#root, folder);
    const info = lstatSync(absolute, { throwIfNoEntry: false });
    if (!info?.isDirectory()) return;
    let watcher: FSWatcher;
    try {
      // Not persistent, as Node's recursive watch on Linux is not: the agent lives on its NATS
      // connections and timers, and a watch must never be what keeps a finished process running.
      watcher = watch(absolute, { persistent: false }, (event, name) =>
        this.#onEvent(folder, event, name ? String(name) : undefined),
      );
    } catch (error) {
      if (folder === "") throw error;
      return; // gone already, or not readable: its parent's events still name it
    }
    watcher.on("error", (error) => {
      // The folder went away (or was moved): its parent reports that; the root's loss is fatal.
      this.#remove(folder);
      if (folder === "") this.#options.onError(error);
    });
    this.#folders.set(folder, { watcher, ino: info.ino });
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(absolute, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) if (entry.isDirectory()) this.#add(relJoin(folder, entry.name));
  }

  /** Stops watching `folder` and everything below it. */
  #remove(folder: string): void {
    const prefix = folder === "" ? "" : `${folder}/`;
    for (const [path, { watcher }] of this.#folders) {
      if (path === folder || path.startsWith(prefix)) {
        watcher.close();
        this.#folders.delete(path);
      }
    }
  }

  #onEvent(folder: string, event: string, name: string | undefined): void {
    if (this.#closed) return;
    if (name === undefined) return void this.#options.onEvent(folder);
    const path = relJoin(folder, name);
    if (this.#options.skip(path)) return;
    // Creations, deletions and renames arrive as "rename": a folder there may be new, gone, or
    // another folder under the same name (moved in), whose watch must follow the right inode.
    if (event === "rename") {
      const info = lstatSync(join(this.#root, path), { throwIfNoEntry: false });
      const known = this.#folders.get(path);
      if (info?.isDirectory()) {
        if (known?.ino !== info.ino) {
          this.#remove(path);
          this.#add(path);
        }
      } else if (known !== undefined) {
        this.#remove(path);
      }
    }
    this.#options.onEvent(path);
  }
}
