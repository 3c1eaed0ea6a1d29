/**
 * A full walk of the vault folder. Symlinks are never followed (so loops cannot hang it), paths
 * that fail normalisation are reported and skipped, and folders the filter excludes are not entered.
 */
import { lstat, readdir } from "node:fs/promises";
import type { Stats } from "node:fs";
import { join } from "node:path";
import { normaliseVaultPath } from "../vault/paths.js";
import type { SyncFilter } from "./sync-filter.js";

export interface ScannedFile {
  size: number;
  mtimeMs: number;
  /** Status change time and inode: no tool can set them back, so a stat that still matches them is the same file. */
  ctimeMs: number;
  ino: number;
}

export interface ScanResult {
  files: Map<string, ScannedFile>;
  skipped: { path: string; reason: string }[];
}

/** Folder entries read at most, so a runaway tree cannot exhaust memory. */
export const SCAN_ENTRIES_MAX = 1_000_000;

export async function scanFolder(root: string, filter: SyncFilter): Promise<ScanResult> {
  const result: ScanResult = { files: new Map(), skipped: [] };
  const stack: string[] = [""];
  let seen = 0;
  while (stack.length > 0) {
    const dir = stack.pop() as string;
    const names = await readdir(join(root, dir)).catch(() => [] as string[]);
    for (const name of names) {
      if (++seen > SCAN_ENTRIES_MAX) {
        result.skipped.push({ path: dir, reason: `more than ${SCAN_ENTRIES_MAX} entries` });
        return result;
      }
      const raw = dir === "" ? name : `${dir}/${name}`;
      const info = await lstat(join(root, raw)).catch(() => undefined);
      if (info === undefined || info.isSymbolicLink()) continue;
      let path: string;
      try {
        path = normaliseVaultPath(raw);
      } catch (error) {
        if (!raw.startsWith(".edgesync")) result.skipped.push({ path: raw, reason: (error as Error).message });
        continue;
      }
      if (path !== raw) {
        result.skipped.push({ path: raw, reason: "name is not in NFC form; rename it" });
        continue;
      }
      if (info.isDirectory()) {
        if (!filter.skipsDirectory(path)) stack.push(path);
      } else if (info.isFile() && filter.includes(path)) {
        result.files.set(path, statOf(info));
      }
    }
  }
  return result;
}

export function statOf(info: Stats): ScannedFile {
  return { size: info.size, mtimeMs: Math.trunc(info.mtimeMs), ctimeMs: info.ctimeMs, ino: info.ino };
}
