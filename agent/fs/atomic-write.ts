/**
 * Crash-safe file replacement: temp file in the same directory, fsync, rename over the target,
 * fsync the directory. A crash at any point leaves either the old or the new bytes, never a torn
 * file; a leftover temp file has a recognisable name and is swept on start (sweepTempFiles).
 */
import { open, rename, unlink, readdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

export const TEMP_MARKER = ".edgesync-tmp-";

export interface AtomicWriteOptions {
  mode?: number;
  /** Last check before the rename; throwing aborts the write and removes the temp file. */
  beforeRename?: () => Promise<void>;
  /**
   * Leave the directory fsync to the caller (default false). For batches: the caller renames many
   * files into a folder and fsyncs that folder once before it records them anywhere durable.
   */
  deferDirSync?: boolean;
}

export async function writeFileAtomic(
  path: string,
  bytes: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}${TEMP_MARKER}${randomBytes(6).toString("hex")}`);
  const handle = await open(temp, "wx", options.mode ?? 0o644);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  try {
    await options.beforeRename?.();
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
  if (!options.deferDirSync) await fsyncDir(dir);
}

export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes temp files a crash left behind in `dir` (not recursive). Returns how many. */
export async function sweepTempFiles(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (name.includes(TEMP_MARKER)) {
      await unlink(join(dir, name)).catch(() => {});
      removed++;
    }
  }
  return removed;
}

/** Exactly the names writeFileAtomic gives its temp files (`.<name>.edgesync-tmp-<12 hex>`). */
const TEMP_NAME = /^\..+\.edgesync-tmp-[0-9a-f]{12}$/;
/** Entries a sweep looks at, at most (a vault folder larger than this is swept in part). */
const SWEEP_ENTRIES_MAX = 1_000_000;

/**
 * Removes temp files a killed writer left anywhere in a vault folder. Call it only while nothing
 * writes there (at start, under the vault lock): a sweep during a write would remove its temp file.
 * Symbolic links are never followed; `skip` names top-level folders with their own sweep.
 */
export async function sweepTempFilesTree(root: string, skip: readonly string[] = []): Promise<number> {
  let removed = 0;
  let seen = 0;
  const stack = [""];
  while (stack.length > 0 && seen < SWEEP_ENTRIES_MAX) {
    const dir = stack.pop() as string;
    for (const entry of await readdir(join(root, dir), { withFileTypes: true }).catch(() => [])) {
      if (++seen > SWEEP_ENTRIES_MAX) break;
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (entry.isDirectory() && !(dir === "" && skip.includes(entry.name))) stack.push(path);
      else if (entry.isFile() && TEMP_NAME.test(entry.name)) {
        await unlink(join(root, path)).catch(() => {});
        removed++;
      }
    }
  }
  return removed;
}
