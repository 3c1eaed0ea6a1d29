/**
 * What the vault's files hold on disk, kept current: a first scan, then the folder watcher, a
 * periodic rescan as a safety net, and `refresh` after this server's own writes. Listeners hear of
 * a path only when its content changed (created, edited, deleted), not of every watcher event.
 *
 * The disk is watched, not the document, because it is the one place every change shows up in
 * both modes: a running agent writes remote and local changes there, and without an agent this
 * server's own writes land there too; reading it costs no call to the agent.
 */
import { lstat, readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { watchFolderTree, type FolderWatcher } from "../agent/fs/folder-watcher.js";
import { scanFolder } from "../agent/fs/scan.js";
import { SyncFilter, SYNCIGNORE } from "../agent/fs/sync-filter.js";
import { absoluteInside, passesSymlink } from "../agent/fs/safe-fs.js";
import { decodeTextOrUndefined } from "../agent/vault/model/bytes.js";
import { isCanonicalVaultPath, STATE_DIR } from "../agent/vault/paths.js";
import type { VaultConfig } from "../agent/vault/config.js";
import type { Log } from "../agent/sync/ports.js";

/** A file whose content changed; `text` is its content when it exists and is text. */
export interface DiskChange {
  path: string;
  kind: "created" | "modified" | "deleted";
  text?: string;
}

export type ChangeListener = (changes: DiskChange[]) => void;

interface Known {
  size: number;
  mtimeMs: number;
  sha256: string;
}

/** Quiet time after a watcher event before the file is read: lets an editor's save finish. */
const EVENT_DEBOUNCE_MS = 50;

export class DiskChanges {
  readonly #root: string;
  readonly #sync: VaultConfig["sync"];
  readonly #log: Log;
  readonly #filter: SyncFilter;
  readonly #known = new Map<string, Known>();
  readonly #listeners: ChangeListener[] = [];
  readonly #pending = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  #watcher: FolderWatcher | undefined;
  /** Disk passes run one at a time, so two never disagree about what is known. */
  #queue: Promise<void> = Promise.resolve();

  constructor(root: string, sync: VaultConfig["sync"], log: Log) {
    this.#root = root;
    this.#sync = sync;
    this.#log = log;
    this.#filter = new SyncFilter(sync.extensions);
  }

  onChange(listener: ChangeListener): void {
    this.#listeners.push(listener);
  }

  /** Every file the last pass saw (vault paths). */
  get paths(): string[] {
    return [...this.#known.keys()];
  }

  async start(): Promise<void> {
    await this.rescan();
    try {
      this.#watcher = watchFolderTree(this.#root, {
        skip: (folder) => folder === STATE_DIR,
        onEvent: (path) => this.#onEvent(path),
        onError: (error) => this.#log.warn({ error: String(error) }, "watcher failed; relying on rescans"),
      });
    } catch (error) {
      this.#log.warn({ error: String(error) }, "cannot watch the vault folder; relying on rescans");
    }
    this.#rescanTimer = setInterval(() => void this.rescan(), this.#sync.rescanIntervalMs);
    this.#rescanTimer.unref();
  }

  stop(): void {
    this.#watcher?.close();
    clearInterval(this.#rescanTimer);
    clearTimeout(this.#timer);
  }

  /** Looks at these paths now (after a write of this server's): readers see it at once. */
  refresh(paths: readonly string[]): Promise<void> {
    return this.#enqueue(() => this.#examine(paths));
  }

  /** Walks the whole folder: new folders, moved trees, and anything the watcher missed. */
  rescan(): Promise<void> {
    return this.#enqueue(async () => {
      this.#filter.setSyncignore(await readFile(absoluteInside(this.#root, SYNCIGNORE), "utf8").catch(() => ""));
      const scan = await scanFolder(this.#root, this.#filter);
      await this.#examine([...new Set([...scan.files.keys(), ...this.#known.keys()])]);
    });
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch((error: unknown) =>
      this.#log.warn({ error: String(error) }, "reading the vault folder failed"),
    );
    return this.#queue;
  }

  #onEvent(path: string): void {
    this.#pending.add(path);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const paths = [...this.#pending];
      this.#pending.clear();
      // A folder that appeared or moved has files the watcher never reported one by one: walk it.
      void this.#enqueue(async () => {
        const folders = await Promise.all(
          paths.map((p) =>
            lstat(absoluteInside(this.#root, p)).then(
              (s) => s.isDirectory(),
              () => false,
            ),
          ),
        );
        if (paths.includes(SYNCIGNORE) || folders.some(Boolean)) void this.rescan();
        else await this.#examine(paths);
      });
    }, EVENT_DEBOUNCE_MS);
  }

  async #examine(paths: readonly string[]): Promise<void> {
    const changes: DiskChange[] = [];
    for (const path of paths) {
      const change = await this.#look(path);
      if (change !== undefined) changes.push(change);
    }
    if (changes.length === 0) return;
    for (const listener of this.#listeners) listener(changes);
  }

  /** The change at `path` since the last look, if any. */
  async #look(path: string): Promise<DiskChange | undefined> {
    const before = this.#known.get(path);
    const now = await this.#read(path, before);
    if (now === "unchanged") return undefined;
    if (now === undefined) {
      if (before === undefined) return undefined;
      this.#known.delete(path);
      return { path, kind: "deleted" };
    }
    this.#known.set(path, now.known);
    if (before?.sha256 === now.known.sha256) return undefined;
    return { path, kind: before === undefined ? "created" : "modified", text: now.text };
  }

  /** The file as a synced file of the vault, or undefined when there is none at `path`. */
  async #read(
    path: string,
    before: Known | undefined,
  ): Promise<{ known: Known; text?: string } | undefined | "unchanged"> {
    if (!isCanonicalVaultPath(path) || !this.#filter.includes(path) || (await passesSymlink(this.#root, path)))
      return undefined;
    const absolute = absoluteInside(this.#root, path);
    const info = await lstat(absolute).catch(() => undefined);
    if (info === undefined || !info.isFile() || info.size > this.#sync.fileBytesMax) return undefined;
    const mtimeMs = Math.trunc(info.mtimeMs);
    if (before !== undefined && before.size === info.size && before.mtimeMs === mtimeMs) return "unchanged";
    const bytes = await readFile(absolute).catch(() => undefined);
    if (bytes === undefined) return undefined;
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    return { known: { size: bytes.length, mtimeMs, sha256 }, text: decodeTextOrUndefined(new Uint8Array(bytes)) };
  }
}
