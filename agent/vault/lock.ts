/**
 * One writer per vault folder: the agent or an offline command holds `.edgesync/lock` (with its
 * pid). A lock whose pid no longer runs is stale and taken over.
 */
import { open, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../errors.js";

export class VaultBusyError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VaultBusyError";
  }
}

export interface VaultLock {
  release(): Promise<void>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

export async function lockVault(stateDir: string, holder: string): Promise<VaultLock> {
  const path = join(stateDir, "lock");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, "wx", 0o600);
      await handle.writeFile(JSON.stringify({ pid: process.pid, holder }));
      await handle.close();
      let released = false;
      return {
        async release() {
          if (released) return;
          released = true;
          await unlink(path).catch(() => {});
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = await readFile(path, "utf8").then(
        (t) => JSON.parse(t) as { pid?: number; holder?: string },
        () => ({}) as { pid?: number; holder?: string },
      );
      if (typeof owner.pid === "number" && owner.pid !== process.pid && alive(owner.pid)) {
        throw new VaultBusyError(
          `the vault is in use by ${owner.holder ?? "another process"} (pid ${owner.pid}); stop it first or run this command through it`,
        );
      }
      await unlink(path).catch(() => {}); // stale: its process is gone
    }
  }
  throw new VaultBusyError(`could not take the vault lock at ${path}; remove it if no edgesync process is running`);
}
