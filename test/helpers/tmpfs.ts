/**
 * Real "disk full" for tests: a size-limited tmpfs mounted on a test folder (needs root, which CI
 * has; the error says so otherwise), and a filler file that takes all but a few bytes of it.
 */
import { execFileSync } from "node:child_process";
import { open, unlink, statfs } from "node:fs/promises";
import { join } from "node:path";

export function mountTmpfs(dir: string, bytes: number): void {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes},mode=0755`, "tmpfs", dir], { stdio: "pipe" });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? error);
    throw new Error(
      `cannot mount a tmpfs on ${dir} (${stderr.trim()}): the disk-full tests need root (CI runs as root); run them as root`,
    );
  }
}

export function unmount(dir: string): void {
  try {
    execFileSync("umount", ["-l", dir], { stdio: "pipe" });
  } catch {
    // not mounted (any more)
  }
}

/** Fills the filesystem holding `dir` until fewer than `leaveBytes` are free. Returns the filler's path. */
export async function fill(dir: string, leaveBytes = 0): Promise<string> {
  const path = join(dir, ".filler");
  const handle = await open(path, "a");
  try {
    const block = Buffer.alloc(4096, 0x2e);
    for (;;) {
      const fs = await statfs(dir);
      const free = fs.bavail * fs.bsize;
      if (free <= leaveBytes) break;
      try {
        await handle.write(free - leaveBytes >= block.length ? block : block.subarray(0, free - leaveBytes));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw error;
      }
    }
  } finally {
    await handle.close();
  }
  return path;
}

export const freeSpace = (path: string) => unlink(path);
