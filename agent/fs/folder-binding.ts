/**
 * Binds a vault folder to its sync engine: local changes (watcher events, periodic rescans) are
 * ingested into the doc, and doc changes are materialised onto disk atomically. All disk work runs
 * through one serial queue; every path goes through `decide` (reconcile.ts).
 *
 * Editor save patterns are absorbed by two grace periods: a file that turns empty right after
 * having content (truncate-then-write) and a file that vanishes (rename-over, vim's backup dance)
 * are looked at again before anything propagates.
 */
import { readFile, unlink, rmdir, lstat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import * as A from "@automerge/automerge";
import { decide, type Action } from "./reconcile.js";
import { DiskIndex } from "./disk-index.js";
import { scanFolder, statOf, type ScannedFile } from "./scan.js";
import { SyncFilter, AUTHORIZED_KEYS, SYNCIGNORE } from "./sync-filter.js";
import { absoluteInside, FolderChecks } from "./safe-fs.js";
import { writeFileAtomic, fsyncDir, sweepTempFilesTree } from "./atomic-write.js";
import { watchFolderTree, type FolderWatcher } from "./folder-watcher.js";
import { writeNewFiles, type NewFile } from "./bulk-write.js";
import { fileSha256Hex as sha256Hex } from "./hash.js";
import { WritesSince, onlyOwnChangesSince } from "./own-write.js";
import { EntryAudit } from "./entry-audit.js";
import { listStored, readStored, entryFromStored, type Doc, type FileOp } from "../vault/model/vault-doc.js";
import { entryBytes, entryOverLimit } from "../vault/model/entry-limits.js";
import type { StoredRev } from "../vault/model/schema.js";
import { normaliseVaultPath, isCanonicalVaultPath, STATE_DIR } from "../vault/paths.js";
import { CONFIG_FILE, type VaultConfig } from "../vault/config.js";
import type { Log } from "../sync/ports.js";
import type { BlobStore } from "../vault/store/blob-store.js";

/** The parts of the engine the binding uses. */
export interface EngineHandle {
  /** This device's peer id: the `by` of every revision it writes. */
  readonly self: string;
  readonly doc: Doc;
  /** Binary contents by hash: a binary file is written only once its blob is here. */
  readonly blobs: BlobStore;
  /** Resolves with the paths of the ops once the change is stored (none when nothing changed). */
  change(ops: readonly FileOp[], message?: string): Promise<readonly string[]>;
  changeAt(baseHeads: A.Heads, ops: readonly FileOp[], message?: string): Promise<unknown>;
}

export interface FolderBindingConfig {
  root: string;
  stateDir: string;
  engine: EngineHandle;
  sync: VaultConfig["sync"];
  log: Log;
  /** Skip the mass-delete guard (the user said so explicitly). */
  allowMassDelete?: boolean;
  /** Watch the folder; one-shot commands only reconcile. */
  watch?: boolean;
  /** How long an emptied file is given to get its content back before the empty version syncs. */
  truncateGuardMs?: number;
  /** How long a vanished file is given to reappear before the delete syncs. */
  deleteGraceMs?: number;
}

interface StatCacheEntry {
  size: number;
  mtimeMs: number;
  sha256: string;
  /** The full stat when the bytes were read or written, and when (StatTrust.unchanged). */
  ctimeMs?: number;
  ino?: number;
  hashedAtMs?: number;
  /** Set by our own write of these bytes (#materialise), from the stat taken right after it. */
  writtenHere?: boolean;
}

/** How far a stat may stand for reading a file again (#readDisk). */
const StatTrust = {
  /** Read it. */
  none: "none",
  /** Same size and mtime as when last read (passes for remote changes: every write re-reads first). */
  sizeAndMtime: "size-and-mtime",
  /**
   * Same size, mtime, ctime and inode, and read at least RACY_STAT_MS after its last change
   * (periodic rescans). ctime and the inode cannot be set back, so only a change within the same
   * clock tick as the cached stat could hide, and such a recent stat is never trusted.
   */
  unchanged: "unchanged",
  /**
   * The watcher's echo of our own write: the same size, mtime, ctime and inode as the stat taken
   * right after we wrote the file. Only an in-place edit of the same size within the same clock
   * tick as our rename could hide; the rescan never trusts so recent a stat (unchanged) and reads
   * it, and a remote change re-reads before it overwrites (unchangedSinceRead), so nothing is lost.
   */
  ownWrite: "own-write",
} as const;
type StatTrust = (typeof StatTrust)[keyof typeof StatTrust];

/** A file changed this recently before it was read may change again within the same clock tick. */
const RACY_STAT_MS = 2_000;
/**
 * Every this many periodic rescans reads every file regardless of its stat: the rescan is the net
 * for changes the watcher missed, and this bounds how long a stat could ever stand in for content.
 */
const RESCAN_FULL_READ_EVERY = 10;

/** Deletes in one pass beyond this count are subject to the mass-delete guard. */
const MASS_DELETE_MIN_FILES = 10;
/** Distinct unsafe remote paths logged; beyond this they are skipped silently. */
const REJECTED_LOGGED_MAX = 1000;
/** Distinct over-limit files logged (each once per version); beyond this they are skipped silently. */
const OVER_LIMIT_LOGGED_MAX = 1000;
/** Distinct unreadable files logged; beyond this they are skipped silently. */
const UNREADABLE_LOGGED_MAX = 1000;
/** Files written at once when the doc brings many (a clone): enough to keep libuv's 4 threads and the disk queue busy. */
const WRITES_IN_FLIGHT = 16;
/** A pass writing at least this many new files creates them together (bulk-write.ts). */
const BULK_FILES_MIN = 64;
/** Bytes held for one bulk batch: a clone's batch, not the whole vault, sits in memory. */
const BULK_BATCH_BYTES_MAX = 16 * 1024 * 1024;
/**
 * File bytes read from disk before they are ingested as one change: the first import of a large
 * folder holds one batch of file contents (and Automerge one batch of ops), not the whole folder.
 */
const INGEST_BATCH_BYTES_MAX = 4 * 1024 * 1024;
/** Heads of own ingests remembered so their echo from the engine is not examined again (onDocChange). */
const OWN_INGEST_HEADS_MAX = 1024;
/**
 * A periodic rescan starts again no sooner than this many times its last duration after it ended:
 * a rescan reads every file, so on a big folder a fixed interval would keep the binding rescanning
 * (and rescans queued behind rescans) with every edit waiting behind them.
 */
const RESCAN_BACKOFF_FACTOR = 10;
/** Paths a periodic rescan examines before it lets waiting watcher events and remote changes go first. */
const RESCAN_SLICE_PATHS = 256;

export class FolderBinding {
  readonly #cfg: Required<Omit<FolderBindingConfig, "allowMassDelete">> & { allowMassDelete: boolean };
  readonly #index: DiskIndex;
  readonly #filter: SyncFilter;
  readonly #statCache = new Map<string, StatCacheEntry>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  /** Paths in a grace period → when it ends (performance.now() ms). */
  readonly #guarded = new Map<string, number>();
  /** The doc heads the last full reconcile compared with the disk (see onDocChange). */
  #reconciledHeads: string | undefined;
  /** Heads right after a plain ingest of ours: the disk already holds what that change wrote. */
  readonly #ownIngestHeads = new Set<string>();
  readonly #rejected = new Set<string>();
  /** `path sha256` of over-limit files already logged: every rescan meets them again. */
  readonly #overLimitLogged = new Set<string>();
  readonly #audit: EntryAudit;
  /** Unreadable files already logged, until they read again: every rescan meets them again. */
  readonly #unreadableLogged = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #watcher: FolderWatcher | undefined;
  #rescanTimer: NodeJS.Timeout | undefined;
  /** A periodic rescan is running: events and remote changes wait in #urgent, not behind it (#enqueueUrgent). */
  #rescanning = false;
  readonly #urgent: (() => Promise<void>)[] = [];
  /** Paths urgent work looked at during the running rescan: its scan of them is out of date. */
  readonly #touchedDuringRescan = new Set<string>();
  #stopped = false;
  #stats = {
    ingested: 0,
    written: 0,
    deletedOnDisk: 0,
    refused: 0,
    awaitingBlob: 0,
    overLimit: 0,
    ranMidRescan: 0,
    /** Files a periodic rescan did not read because their stat was unchanged. */
    readsSkipped: 0,
    /** Watcher events for a file we had just written, with its stat unchanged since: not read again. */
    echoesSkipped: 0,
  };
  #periodicRescans = 0;

  constructor(config: FolderBindingConfig) {
    this.#cfg = { watch: true, truncateGuardMs: 400, deleteGraceMs: 600, allowMassDelete: false, ...config };
    this.#index = new DiskIndex(config.stateDir);
    this.#filter = new SyncFilter(config.sync.extensions);
    this.#audit = new EntryAudit(config.log);
  }

  get stats() {
    return { ...this.#stats };
  }

  async start(): Promise<void> {
    // Before any write of ours: what is left now is from a writer that was killed mid-write.
    const swept = await sweepTempFilesTree(this.#cfg.root, [STATE_DIR]);
    if (swept > 0) this.#cfg.log.info({ files: swept }, "removed temp files left by an interrupted write");
    await this.#index.load();
    await this.#loadSyncignore();
    await this.reconcile();
    if (!this.#cfg.watch) return;
    try {
      this.#watcher = watchFolderTree(this.#cfg.root, {
        skip: (folder) => folder === STATE_DIR,
        onEvent: (path) => this.#onFsEvent(path),
        onError: (error) => this.#cfg.log.warn({ error: String(error) }, "watcher failed; relying on rescans"),
      });
    } catch (error) {
      this.#cfg.log.warn({ error: String(error) }, "cannot watch the folder; relying on rescans");
    }
    this.#scheduleRescan(this.#cfg.sync.rescanIntervalMs);
  }

  #scheduleRescan(delayMs: number): void {
    if (this.#stopped) return;
    this.#rescanTimer = setTimeout(() => void this.#periodicRescan(), delayMs);
    this.#rescanTimer.unref();
  }

  /** The next rescan is scheduled once this one is done: rescans never pile up in the queue. */
  async #periodicRescan(): Promise<void> {
    const started = performance.now();
    await this.rescan();
    const tookMs = performance.now() - started;
    this.#scheduleRescan(Math.max(this.#cfg.sync.rescanIntervalMs, RESCAN_BACKOFF_FACTOR * tookMs));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    clearTimeout(this.#rescanTimer);
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await this.#queue;
    await this.#index.save();
  }

  /**
   * The engine changed these paths (remote sync, merges, restores): bring the disk in line. A
   * change a full reconcile already saw (its heads are the doc's heads that reconcile compared)
   * needs no second pass: a clone's first sync would otherwise look at all 10,000 files again.
   */
  onDocChange(paths: readonly string[], heads?: A.Heads): Promise<void> {
    return this.#enqueueUrgent(paths, async () => {
      // Stopped: the next start reconciles the whole folder (and its index is already saved).
      if (this.#stopped) return;
      if (heads !== undefined && this.#reconciledHeads === headsKey(heads)) return;
      // The echo of our own ingest: those paths were just read from this disk (an import of 10,000
      // files would otherwise look at every one of them again).
      if (heads !== undefined && this.#ownIngestHeads.delete(headsKey(heads))) return;
      await this.#examine(paths, false);
    });
  }

  /** Full comparison of folder, doc and index. Runs at start, on every rescan, and for one-shots. */
  reconcile(): Promise<void> {
    return this.#enqueue(() => this.#fullPass(false));
  }

  /**
   * The periodic rescan: a full comparison that lets watcher events and remote changes go between
   * its slices. It reads only files whose stat changed since they were last read, except every
   * RESCAN_FULL_READ_EVERY-th rescan, which reads them all.
   */
  rescan(): Promise<void> {
    const trust = ++this.#periodicRescans % RESCAN_FULL_READ_EVERY === 0 ? StatTrust.none : StatTrust.unchanged;
    return this.#enqueue(() => this.#fullPass(true, trust));
  }

  /**
   * `yieldToEvents` (periodic rescans): the paths are examined in slices, and watcher events and
   * remote changes that arrived meanwhile run between slices, so an edit never waits for a whole
   * rescan of a big folder. Each slice is a pass of its own on the doc as it is then; a path that
   * such work looked at is left out of the rest of the rescan, whose scan of it is older.
   */
  async #fullPass(yieldToEvents: boolean, trust: StatTrust = StatTrust.none): Promise<void> {
    const scan = await scanFolder(this.#cfg.root, this.#filter);
    for (const skipped of scan.skipped) this.#cfg.log.warn(skipped, "skipped a path that cannot sync");
    const seen = headsKey(A.getHeads(this.#cfg.engine.doc));
    const paths = [
      ...new Set<string>([...scan.files.keys(), ...listStored(this.#cfg.engine.doc).keys(), ...this.#index.paths()]),
    ];
    if (!yieldToEvents) await this.#examine(paths, true, scan.files, false, trust);
    else {
      this.#rescanning = true;
      try {
        for (let start = 0; start < paths.length && !this.#stopped; start += RESCAN_SLICE_PATHS) {
          const slice = paths.slice(start, start + RESCAN_SLICE_PATHS);
          await this.#examine(
            slice.filter((path) => !this.#touchedDuringRescan.has(path)),
            true,
            scan.files,
            false,
            trust,
          );
          await this.#runUrgent();
        }
      } finally {
        this.#rescanning = false;
        this.#touchedDuringRescan.clear();
      }
      await this.#runUrgent(); // any that came in as the last slice ended
    }
    this.#reconciledHeads = seen;
  }

  /** Waits for queued disk work. */
  async idle(): Promise<void> {
    await this.#enqueue(async () => {});
  }

  /**
   * Queued like any disk work, except during a periodic rescan: then it runs between two of the
   * rescan's slices (#fullPass), still one step at a time with everything else.
   */
  #enqueueUrgent(paths: readonly string[], work: () => Promise<void>): Promise<void> {
    if (!this.#rescanning) return this.#enqueue(work);
    for (const path of paths) this.#touchedDuringRescan.add(path);
    return new Promise((resolve) => {
      this.#urgent.push(() =>
        work()
          .catch((error: unknown) => this.#cfg.log.warn({ error: String(error) }, "folder binding step failed"))
          .finally(resolve),
      );
    });
  }

  async #runUrgent(): Promise<void> {
    for (let work = this.#urgent.shift(); work !== undefined; work = this.#urgent.shift()) {
      this.#stats.ranMidRescan++;
      await work();
    }
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(work);
    this.#queue = run.catch((error: unknown) =>
      this.#cfg.log.warn({ error: String(error) }, "folder binding step failed"),
    );
    return this.#queue;
  }

  /** `path` comes "/"-separated and never under STATE_DIR: the watcher skips it (start()). */
  #onFsEvent(path: string): void {
    this.#schedule(path, this.#cfg.sync.debounceMs);
  }

  #schedule(path: string, delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timers.get(path));
    const timer = setTimeout(() => {
      this.#timers.delete(path);
      void this.#enqueueUrgent([path], () => this.#examineEvent(path));
    }, delayMs);
    this.#timers.set(path, timer);
  }

  async #examineEvent(path: string): Promise<void> {
    let canonical: string;
    try {
      canonical = normaliseVaultPath(path);
    } catch {
      return;
    }
    // Another spelling (NFD) of a name: it does not sync (the scan says so); looking at the NFC name
    // instead would read a rename to NFD as a delete.
    if (canonical !== path) return;
    const info = await lstat(join(this.#cfg.root, path)).catch(() => undefined);
    if (info?.isDirectory()) return void this.reconcile(); // a folder appeared or moved: walk it
    await this.#examine([canonical], true, undefined, false, StatTrust.ownWrite);
  }

  /**
   * Decides and carries out the action for each path. `local` marks a pass triggered by the disk
   * (a doc-triggered pass may trust the stat cache; grace periods apply to both); `scanned`
   * passes stat results already known; `lookedAgain` marks a one-shot's second look (below).
   */
  async #examine(
    paths: readonly string[],
    local: boolean,
    scanned?: Map<string, ScannedFile>,
    lookedAgain = false,
    rescanTrust: StatTrust = StatTrust.none,
  ): Promise<void> {
    const doc = this.#cfg.engine.doc;
    const later: string[] = [];
    const plain: FileOp[] = [];
    const merges: { op: FileOp; heads: A.Heads }[] = [];
    const deletes: FileOp[] = [];
    const writes: string[] = [];
    const folders = new FolderChecks(this.#cfg.root, {
      listFolders: scanned === undefined && paths.length >= BULK_FILES_MIN,
    });
    const ownWrites = new WritesSince(doc);
    let plainBytes = 0;
    for (const path of paths) {
      if (!this.#acceptablePath(path)) continue;
      if (!this.#filter.includes(path)) continue;
      // A pass for remote changes may trust the stat cache: before it overwrites anything, the
      // write re-reads the file (unchangedSinceRead), so a local edit is never clobbered.
      const disk = await this.#readDisk(path, folders, scanned, local ? rescanTrust : StatTrust.sizeAndMtime);
      if (disk === "skip") continue;
      if (await this.#invalidEntry(doc, path, disk, plain, folders, scanned)) continue;
      const docSha = readStored(doc, path)?.sha256?.toString();
      const action: Action = decide(disk?.sha256, docSha, this.#index.get(path)?.sha256);
      // Grace periods for a look in the middle of an editor's save. They apply whatever started the
      // pass, the engine's echo of our own last ingest (onDocChange) included: under load that echo
      // lands mid-save, and an emptied or deleted file would go out. A one-shot command has no
      // later look to wait for: it looks at such paths once more at the end of the pass.
      if (this.#cfg.watch) {
        if (this.#needsGrace(path, action, disk?.bytes)) continue;
      } else if (!lookedAgain && this.#midSave(path, action, disk?.bytes)) {
        later.push(path);
        continue;
      }
      switch (action.kind) {
        case "none":
          break;
        case "record":
          this.#index.set(path, { sha256: docSha as string, heads: A.getHeads(doc) });
          break;
        case "forget":
          this.#index.delete(path);
          break;
        case "ingest": {
          // The doc changed or deleted the path since the index: the disk may hold our own write of
          // a version in between, its index record lost in a crash (own-write.ts).
          if (
            (action.merge || docSha === undefined) &&
            ownWrites.held(path, disk!.sha256, this.#index.get(path)?.heads ?? [])
          ) {
            writes.push(path);
            break;
          }
          const read = disk!.bytes === undefined ? await this.#readDisk(path, folders, scanned, StatTrust.none) : disk!;
          if (read === "skip" || read?.bytes === undefined) break;
          const op: FileOp = { type: "put", path, bytes: read.bytes, mtime: read.mtimeMs };
          const base = this.#index.get(path)?.heads;
          if (action.merge && !(base && onlyOwnChangesSince(doc, path, this.#cfg.engine.self, base)))
            merges.push({ op, heads: base ?? creationHeads(doc) });
          else plain.push(op);
          plainBytes += read.bytes.length;
          if (plainBytes >= INGEST_BATCH_BYTES_MAX) {
            await this.#ingestPlain(plain.splice(0));
            plainBytes = 0;
          }
          break;
        }
        case "delete-in-doc":
          if (path === AUTHORIZED_KEYS)
            writes.push(path); // deleting it locally never propagates
          else deletes.push({ type: "delete", path });
          break;
        case "write":
        case "delete-on-disk":
          writes.push(path);
      }
    }
    await this.#applyLocal(plain, merges, await this.#guardDeletes(deletes, scanned));
    await this.#materialiseAll(writes, folders);
    await this.#index.save();
    if (later.length > 0) {
      // A file caught between an editor's truncate and its write (`edgesync init` beside a busy
      // editor) would be imported as an empty first version (scan-race.test.ts): wait out the save, look again.
      await new Promise((resolve) => setTimeout(resolve, Math.max(this.#cfg.truncateGuardMs, this.#cfg.deleteGraceMs)));
      await this.#examine(later, local, undefined, true);
    }
  }

  /**
   * True when `path`'s entry is invalid (entry-audit.ts): the pass then leaves the path alone — an
   * entry without a valid sha256 would otherwise read as a delete of the file on disk — unless the
   * file was edited here since the last agreement, whose new version (queued into `plain`) replaces
   * the invalid entry. Also reports the path when it sits only in a wrong bucket.
   */
  async #invalidEntry(
    doc: Doc,
    path: string,
    disk: { sha256: string; bytes?: Uint8Array; mtimeMs: number } | undefined,
    plain: FileOp[],
    folders: FolderChecks,
    scanned: Map<string, ScannedFile> | undefined,
  ): Promise<boolean> {
    const stored = readStored(doc, path);
    if (stored === undefined) {
      if (disk === undefined && this.#index.get(path) === undefined) this.#audit.reportMisplaced(doc, path);
      return false;
    }
    if (this.#audit.problemOf(path, stored) === undefined) return false;
    if (disk !== undefined && disk.sha256 !== this.#index.get(path)?.sha256) {
      const read = disk.bytes === undefined ? await this.#readDisk(path, folders, scanned, StatTrust.none) : disk;
      if (read !== "skip" && read?.bytes !== undefined)
        plain.push({ type: "put", path, bytes: read.bytes, mtime: read.mtimeMs });
    }
    return true;
  }

  /**
   * Paths come from the doc, so from other devices: one that is not canonical (climbs out, absolute,
   * NUL, backslash, reserved, too long, another Unicode spelling of a name) is skipped and logged once,
   * and never aborts the pass, so every other file still syncs.
   */
  #acceptablePath(path: string): boolean {
    if (isCanonicalVaultPath(path)) return true;
    if (!this.#rejected.has(path) && this.#rejected.size < REJECTED_LOGGED_MAX) {
      this.#rejected.add(path);
      let reason = "not in canonical (NFC) form";
      try {
        normaliseVaultPath(path);
      } catch (error) {
        reason = (error as Error).message;
      }
      this.#cfg.log.warn(
        { path: JSON.stringify(path).slice(0, 300), reason },
        "ignoring a vault entry whose path is unsafe; it is never written to disk",
      );
    }
    return false;
  }

  /**
   * Writes (or deletes) many paths: WRITES_IN_FLIGHT at a time, each file still fsynced before its
   * rename, and each touched folder fsynced once at the end instead of once per file — before the
   * index that records the writes is saved. One fsync pair per file in a row would make a clone
   * wait for the disk once per file; this overlaps them in the thread pool.
   */
  async #materialiseAll(all: readonly string[], folders: FolderChecks): Promise<void> {
    const paths = all.length >= BULK_FILES_MIN ? await this.#createAll(all, folders) : all;
    const dirty = new Set<string>();
    let next = 0;
    const worker = async () => {
      while (next < paths.length) await this.#materialise(paths[next++], dirty, folders);
    };
    await Promise.all(Array.from({ length: Math.min(WRITES_IN_FLIGHT, paths.length) }, worker));
    const dirs = [...dirty];
    next = 0;
    const syncDirs = async () => {
      while (next < dirs.length) {
        const dir = dirs[next++];
        await fsyncDir(dir).catch((error: NodeJS.ErrnoException) => {
          // A folder emptied by deletes is removed (#removeEmptyParents): nothing left to sync.
          if (error.code !== "ENOENT") this.#cfg.log.warn({ dir, error: String(error) }, "could not fsync a folder");
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITES_IN_FLIGHT, dirs.length) }, syncDirs));
  }

  /**
   * Creates the text files of `paths` that had nothing on disk when the pass looked (the bulk of a
   * clone) through writeNewFiles, in batches; returns the paths left for #materialise one by one:
   * updates, deletes, binaries, and any file whose folder a delete in the same pass removed.
   */
  async #createAll(paths: readonly string[], folders: FolderChecks): Promise<string[]> {
    const started = performance.now();
    const doc = this.#cfg.engine.doc;
    const heads = A.getHeads(doc);
    const rest: string[] = [];
    let batch: { path: string; sha256: string; file: NewFile }[] = [];
    let batchBytes = 0;
    const flush = async () => {
      rest.push(...(await this.#createBatch(batch, heads)));
      batch = [];
      batchBytes = 0;
    };
    for (const path of paths) {
      // A cached stat means the pass found a file there: replacing it needs #materialise's re-read.
      const rev = this.#statCache.has(path) ? undefined : readStored(doc, path);
      if (rev !== undefined && this.#overLimit(path, rev)) continue;
      const entry = rev && entryFromStored(path, rev);
      if (entry?.bytes === undefined) {
        rest.push(path);
        continue;
      }
      if (sha256Hex(entry.bytes) !== entry.sha256) {
        this.#cfg.log.warn({ path }, "remote content does not match its hash; not written");
        continue;
      }
      try {
        await folders.ensureParentDirs(path);
      } catch (error) {
        this.#cfg.log.warn({ path, error: String(error) }, "could not write a file from the vault");
        continue;
      }
      batch.push({
        path,
        sha256: entry.sha256,
        file: { absolute: absoluteInside(this.#cfg.root, path), bytes: entry.bytes },
      });
      batchBytes += entry.bytes.length;
      if (batchBytes >= BULK_BATCH_BYTES_MAX) await flush();
    }
    if (batch.length > 0) await flush();
    this.#cfg.log.debug(
      { paths: paths.length, together: paths.length - rest.length, ms: Math.round(performance.now() - started) },
      "created new files together",
    );
    return rest;
  }

  /** Writes one batch of new files and records them as #materialise does; returns paths to retry one by one. */
  async #createBatch(
    batch: readonly { path: string; sha256: string; file: NewFile }[],
    heads: A.Heads,
  ): Promise<string[]> {
    const outcomes = await writeNewFiles(
      batch.map((b) => b.file),
      { mode: 0o644 },
    );
    const retry: string[] = [];
    outcomes.forEach((outcome, i) => {
      const { path, sha256, file } = batch[i];
      if (outcome.kind === "written") {
        this.#index.set(path, { sha256, heads });
        this.#statCache.set(path, { size: outcome.size, mtimeMs: outcome.mtimeMs, sha256 });
        this.#stats.written++;
        if (path === SYNCIGNORE) this.#filter.setSyncignore(new TextDecoder().decode(file.bytes));
      } else if (outcome.kind === "exists") {
        // The user created the file while we wrote: their version is ingested (and merged) first.
        this.#schedule(path, 0);
      } else if ((outcome.error as NodeJS.ErrnoException).code === "ENOENT") {
        retry.push(path); // its folder went (a delete in this pass emptied it): #materialise makes it again
      } else {
        this.#cfg.log.warn({ path, error: String(outcome.error) }, "could not write a file from the vault");
      }
    });
    return retry;
  }

  /**
   * What an editor's save may look like half done: a file emptied where the doc holds content — or
   * holds nothing yet (a scan, the first import at start included, can catch a file between an
   * editor's truncate and its write, and that empty state synced as a new file's first version:
   * scan-race.test.ts) — or a file gone. A file that really is new and empty, or really deleted,
   * syncs once its grace is over.
   */
  #midSave(path: string, action: Action, bytes: Uint8Array | undefined): "emptied" | "vanished" | undefined {
    if (action.kind === "ingest" && bytes?.length === 0 && (readStored(this.#cfg.engine.doc, path)?.size ?? 1) > 0)
      return "emptied";
    return action.kind === "delete-in-doc" ? "vanished" : undefined;
  }

  /** Grace periods for editor save patterns; true = look again later instead of acting now. */
  #needsGrace(path: string, action: Action, bytes: Uint8Array | undefined): boolean {
    const kind = this.#midSave(path, action, bytes);
    const emptied = kind === "emptied";
    if (kind === undefined) {
      this.#guarded.delete(path);
      return false;
    }
    // The grace period is a deadline, not "skip the next look": any other look at the path before it
    // ends (a second watcher event, a rescan) waits too. Skipping once let a second event during a
    // vim save (backup renamed away, new file not yet written) propagate the delete under load.
    const now = performance.now();
    const ends = this.#guarded.get(path);
    if (ends !== undefined && now >= ends) {
      this.#guarded.delete(path);
      return false;
    }
    const until = ends ?? now + (emptied ? this.#cfg.truncateGuardMs : this.#cfg.deleteGraceMs);
    this.#guarded.set(path, until);
    // (Re-)arm the look at the end: an event in between replaced the path's timer with a shorter one.
    this.#schedule(path, Math.ceil(until - now));
    return true;
  }

  /**
   * The mass-delete guard. It judges the whole folder, not the pass: a wiped folder reaches us as one
   * rescan or as one watcher event per file, and both must be refused alike. Deletes are dropped
   * (the index keeps the paths, so every later pass refuses again) when the vault's marker file is
   * gone (an unmounted or wiped folder) or when too many known files are missing from disk at once.
   */
  async #guardDeletes(deletes: FileOp[], scanned?: Map<string, ScannedFile>): Promise<FileOp[]> {
    if (deletes.length === 0 || this.#cfg.allowMassDelete) return deletes;
    const marker = join(this.#cfg.stateDir, CONFIG_FILE);
    if (
      !(await lstat(marker).then(
        (s) => s.isFile(),
        () => false,
      ))
    ) {
      this.#stats.refused += deletes.length;
      this.#cfg.log.warn(
        { deletes: deletes.length, marker },
        "refusing to propagate deletes: the vault marker .edgesync/config.toml is missing (unmounted or wiped folder?). Remount or restore the folder; the files are still in the vault",
      );
      return [];
    }
    const stored = listStored(this.#cfg.engine.doc);
    let missing = 0;
    for (const [path, rev] of stored) {
      if (!this.#filter.includes(path) || this.#index.get(path)?.sha256 !== rev.sha256?.toString()) continue;
      const onDisk = scanned
        ? scanned.has(path)
        : await lstat(join(this.#cfg.root, path)).then(
            () => true,
            () => false,
          );
      if (!onDisk) missing++;
    }
    missing = Math.max(missing, deletes.length);
    if (missing >= MASS_DELETE_MIN_FILES && missing * 100 > stored.size * this.#cfg.sync.massDeletePercentMax) {
      this.#stats.refused += deletes.length;
      this.#cfg.log.warn(
        { deletes: deletes.length, missing, files: stored.size },
        "refusing a mass delete: most of the vault vanished from disk (unmounted or emptied folder?). Restore the files, or restart with --allow-mass-delete if you meant it",
      );
      return [];
    }
    return deletes;
  }

  async #applyLocal(plain: FileOp[], merges: { op: FileOp; heads: A.Heads }[], deletes: FileOp[]): Promise<void> {
    const engine = this.#cfg.engine;
    const ops = [...plain, ...deletes];
    if (ops.length > 0) {
      const before = A.getHeads(engine.doc);
      this.#rememberOwnIngest(before, await engine.change(ops));
    }
    for (const { op, heads } of merges) await engine.changeAt(heads, [op], `merge local edit of ${op.path}`);
    this.#stats.ingested += ops.length + merges.length;
    const heads = A.getHeads(engine.doc);
    for (const op of [...ops, ...merges.map((m) => m.op)]) {
      if (op.type === "put") this.#index.set(op.path, { sha256: sha256Hex(op.bytes), heads });
      else this.#index.delete(op.path);
    }
    if ([...plain, ...merges.map((m) => m.op)].some((op) => op.path === SYNCIGNORE)) await this.#loadSyncignore();
  }

  /** Ingests a batch of plain puts in the middle of a pass (INGEST_BATCH_BYTES_MAX); deletes wait for the pass's guard. */
  async #ingestPlain(puts: FileOp[]): Promise<void> {
    await this.#applyLocal(puts, [], []);
  }

  /**
   * A plain change of ours is made on top of the doc's heads, so it cannot conflict and the disk
   * holds what it wrote: its echo needs no look. Remembered only when every change since `before`
   * is this device's, so heads that include another device's change are always examined.
   */
  #rememberOwnIngest(before: A.Heads, changed: readonly string[]): void {
    const doc = this.#cfg.engine.doc;
    if (changed.length === 0) return;
    const actor = A.getActorId(doc);
    if (!A.getChangesMetaSince(doc, before).every((change) => change.actor === actor)) return;
    if (this.#ownIngestHeads.size >= OWN_INGEST_HEADS_MAX) this.#ownIngestHeads.clear();
    this.#ownIngestHeads.add(headsKey(A.getHeads(doc)));
  }

  /**
   * The file as it is on disk: its hash, and its bytes unless `trust` let a stat that matches the
   * cache (StatTrust) stand for reading it again.
   */
  async #readDisk(
    path: string,
    folders: FolderChecks,
    scanned: Map<string, ScannedFile> | undefined,
    trust: StatTrust,
  ): Promise<{ sha256: string; bytes?: Uint8Array; mtimeMs: number } | undefined | "skip"> {
    const absolute = absoluteInside(this.#cfg.root, path);
    if (await folders.passesSymlink(path)) return "skip";
    // A path the scan (or its folder's listing) did not find is absent (a file appearing since is
    // caught before any write).
    if (scanned ? !scanned.has(path) : await folders.listedAbsent(path)) {
      this.#statCache.delete(path);
      return undefined;
    }
    const info =
      scanned?.get(path) ??
      (await lstat(absolute).then(
        (s) => (s.isFile() ? statOf(s) : undefined),
        () => undefined,
      ));
    if (info === undefined) {
      this.#statCache.delete(path);
      return undefined;
    }
    if (info.size > this.#cfg.sync.fileBytesMax) {
      if (this.#firstSightOverLimit(`${path} local ${info.size}`))
        this.#cfg.log.warn(
          { path, size: info.size, max: this.#cfg.sync.fileBytesMax },
          "file larger than sync.file_bytes_max; not synced",
        );
      return "skip";
    }
    const cached = this.#statCache.get(path);
    if (cached && statStands(trust, cached, info)) {
      if (trust === StatTrust.unchanged) this.#stats.readsSkipped++;
      if (trust === StatTrust.ownWrite) this.#stats.echoesSkipped++;
      return { sha256: cached.sha256, mtimeMs: info.mtimeMs };
    }
    const readAtMs = Date.now();
    const read = await readFile(absolute).then(
      (data) => new Uint8Array(data),
      (error: NodeJS.ErrnoException) => error,
    );
    if (read instanceof Error) return this.#unreadable(path, read);
    this.#unreadableLogged.delete(path);
    const bytes = read;
    // Hashed even when the stat matches the cache: the bytes were read anyway, and a same-size edit
    // within the same millisecond would otherwise keep the old hash.
    const sha256 = sha256Hex(bytes);
    this.#statCache.set(path, { ...info, sha256, hashedAtMs: readAtMs });
    return { sha256, bytes, mtimeMs: info.mtimeMs };
  }

  /**
   * A file that is there but cannot be read (its mode, another user's file, a directory or FIFO put
   * in its place since the stat). Read as empty, it would sync as an empty version and wipe the
   * content on every other device; it is skipped instead, said once until it reads again, and
   * looked at again by every later event and rescan (no stat is cached for it). A file gone since
   * the stat is absent, as if the stat had missed it.
   */
  #unreadable(path: string, error: NodeJS.ErrnoException): undefined | "skip" {
    this.#statCache.delete(path);
    if (error.code === "ENOENT") return undefined;
    if (!this.#unreadableLogged.has(path) && this.#unreadableLogged.size < UNREADABLE_LOGGED_MAX) {
      this.#unreadableLogged.add(path);
      this.#cfg.log.warn(
        { path, error: error.code ?? String(error) },
        "cannot read this file; it is not synced until it can be read (check its permissions)",
      );
    }
    return "skip";
  }

  /**
   * Writes (or deletes) the doc's version of `path`, unless the disk changed since it was read.
   * The folder it touched is added to `dirty`; the caller fsyncs it.
   */
  async #materialise(path: string, dirty: Set<string>, folders: FolderChecks): Promise<void> {
    const doc = this.#cfg.engine.doc;
    const rev = readStored(doc, path);
    const absolute = absoluteInside(this.#cfg.root, path);
    const expected = this.#statCache.get(path)?.sha256;
    const unchangedSinceRead = async () => {
      const now = await readFile(absolute).then(
        (b) => sha256Hex(new Uint8Array(b)),
        () => undefined,
      );
      if (now !== expected) throw new LocalEditRaceError(path);
    };
    try {
      if (rev === undefined) {
        await unchangedSinceRead();
        await unlink(absolute).catch(() => {});
        dirty.add(dirname(absolute));
        await this.#removeEmptyParents(path, folders);
        this.#index.delete(path);
        this.#statCache.delete(path);
        this.#stats.deletedOnDisk++;
        return;
      }
      if (this.#overLimit(path, rev)) return;
      const entry = entryFromStored(path, rev);
      const bytes = entry.bytes ?? (await this.#cfg.engine.blobs.get(entry.blob ?? ""));
      if (bytes === undefined) {
        // Its blob is still being fetched: never write a placeholder; the engine reports the path
        // again when the blob arrives. The index is untouched, so nothing reads this as a delete.
        this.#stats.awaitingBlob++;
        return;
      }
      if (sha256Hex(bytes) !== entry.sha256) {
        this.#cfg.log.warn({ path }, "remote content does not match its hash; not written");
        return;
      }
      const write = async () => {
        await folders.ensureParentDirs(path);
        await writeFileAtomic(absolute, bytes, { mode: 0o644, beforeRename: unchangedSinceRead, deferDirSync: true });
      };
      await write().catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
        // A delete in the same pass removed the folder as it emptied: make it again, once.
        folders.forget(dirname(absolute));
        await write();
      });
      dirty.add(dirname(absolute));
      // Record the agreement first: the user may rename or delete the file the moment it lands,
      // and that must read as their change, not as a write of ours that never happened.
      this.#index.set(path, { sha256: entry.sha256, heads: A.getHeads(doc) });
      const info = await lstat(absolute).catch(() => undefined);
      if (info)
        this.#statCache.set(path, { ...statOf(info), sha256: entry.sha256, hashedAtMs: Date.now(), writtenHere: true });
      else this.#statCache.delete(path);
      this.#stats.written++;
      if (path === SYNCIGNORE) this.#filter.setSyncignore(new TextDecoder().decode(bytes));
    } catch (error) {
      if (error instanceof LocalEditRaceError) {
        // The user saved while we were writing: their edit is ingested (and merged) first.
        this.#schedule(path, 0);
        return;
      }
      this.#cfg.log.warn({ path, error: String(error) }, "could not write a file from the vault");
    }
  }

  /**
   * Limits hold for what arrives too: a member can bypass its own agent's check. A file over this
   * device's `sync.file_bytes_max` stays in the vault (status lists it) but is not written here;
   * logged once per version, not on every rescan.
   */
  #overLimit(path: string, rev: StoredRev): boolean {
    const max = this.#cfg.sync.fileBytesMax;
    if (!entryOverLimit(rev, max)) return false;
    this.#stats.overLimit++;
    if (this.#firstSightOverLimit(`${path} vault ${String(rev.sha256)}`)) {
      this.#cfg.log.warn(
        { path, size: entryBytes(rev), max },
        "a file in the vault is larger than sync.file_bytes_max; kept in the vault, not written to this disk",
      );
    }
    return true;
  }

  #firstSightOverLimit(key: string): boolean {
    if (this.#overLimitLogged.has(key) || this.#overLimitLogged.size >= OVER_LIMIT_LOGGED_MAX) return false;
    this.#overLimitLogged.add(key);
    return true;
  }

  async #removeEmptyParents(path: string, folders: FolderChecks): Promise<void> {
    let dir = dirname(absoluteInside(this.#cfg.root, path));
    while (relative(this.#cfg.root, dir) !== "" && !relative(this.#cfg.root, dir).startsWith("..")) {
      try {
        folders.forget(dir);
        await rmdir(dir);
      } catch {
        return; // not empty (or gone): stop climbing
      }
      dir = dirname(dir);
    }
  }

  async #loadSyncignore(): Promise<void> {
    const text = await readFile(join(this.#cfg.root, SYNCIGNORE), "utf8").catch(() => "");
    this.#filter.setSyncignore(text);
  }
}

class LocalEditRaceError extends Error {
  constructor(path: string) {
    super(`local edit raced a remote write of ${path}`);
    this.name = "LocalEditRaceError";
  }
}

/** Heads of the vault's first change: the base for two versions with no known common history. */
function creationHeads(doc: Doc): A.Heads {
  const first = A.getChangesMetaSince(doc, []).find((meta) => meta.deps.length === 0);
  return first ? [first.hash] : A.getHeads(doc);
}

const headsKey = (heads: A.Heads): string => [...heads].sort().join(",");

/** Whether a stat that matches the cache entry this far may stand for reading the file (StatTrust). */
function statStands(trust: StatTrust, cached: StatCacheEntry, now: ScannedFile): boolean {
  if (trust === StatTrust.none || cached.size !== now.size || cached.mtimeMs !== now.mtimeMs) return false;
  if (trust === StatTrust.sizeAndMtime) return true;
  if (cached.ctimeMs !== now.ctimeMs || cached.ino !== now.ino || cached.hashedAtMs === undefined) return false;
  if (trust === StatTrust.ownWrite) return cached.writtenHere === true;
  return cached.hashedAtMs - Math.max(now.mtimeMs, now.ctimeMs) >= RACY_STAT_MS;
}
