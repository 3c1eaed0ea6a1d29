/**
 * Disk access confined to the vault root. A vault path is normalised first; then every directory
 * on the way is checked with lstat, so a symlink inside the vault is never written through.
 */
import { lstat, mkdir } from "node:fs/promises";
import { join, sep } from "node:path";
import { normaliseVaultPath, UnsafePathError } from "../vault/paths.js";

export function absoluteInside(root: string, vaultPath: string): string {
  const path = normaliseVaultPath(vaultPath);
  const absolute = join(root, ...path.split("/"));
  if (!absolute.startsWith(root.endsWith(sep) ? root : root + sep)) throw new UnsafePathError(`path escapes the vault: ${vaultPath}`);
  return absolute;
}

/** Creates the parent directories of `vaultPath`, refusing to pass through a symlink or a file. */
export async function ensureParentDirs(root: string, vaultPath: string): Promise<void> {
  const segments = normaliseVaultPath(vaultPath).split("/").slice(0, -1);
  let current = root;
  for (const segment of segments) {
    current = join(current, segment);
    const info = await lstat(current).catch(() => undefined);
    if (info === undefined) await mkdir(current, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => { if (e.code !== "EEXIST") throw e; });
    else if (info.isSymbolicLink()) throw new UnsafePathError(`refusing to write through the symlink ${current}`);
    else if (!info.isDirectory()) throw new UnsafePathError(`${current} is a file where a folder is needed`);
  }
}

/** True when some directory between root and the file is a symlink (the file itself included). */
export async function passesSymlink(root: string, vaultPath: string): Promise<boolean> {
  let current = root;
  for (const segment of normaliseVaultPath(vaultPath).split("/")) {
    current = join(current, segment);
    const info = await lstat(current).catch(() => undefined);
    if (info === undefined) return false;
    if (info.isSymbolicLink()) return true;
  }
  return false;
}
