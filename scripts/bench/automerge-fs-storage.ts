/**
 * A NodeFS-like storage adapter for the automerge-repo side of the bench: one file per key under a
 * folder, written temp + fsync + rename (the durability edgesync's own store gives its data, so the
 * comparison does not reward skipping fsync). Keys are automerge-repo's own (document ids, chunk
 * kinds, hashes); anything else is refused.
 */
import { mkdir, open, readFile, readdir, rename, rm } from "node:fs/promises";
import { join, dirname } from "node:path";
import type { Chunk, StorageAdapterInterface, StorageKey } from "@automerge/automerge-repo";

const SAFE_PART = /^[A-Za-z0-9_.-]{1,200}$/;

export class FsStorageAdapter implements StorageAdapterInterface {
  #tmp = 0;
  constructor(readonly root: string) {}

  #path(key: StorageKey): string {
    for (const part of key) if (!SAFE_PART.test(part) || part === "." || part === "..") throw new Error(`unsafe storage key part ${JSON.stringify(part)}`);
    return join(this.root, ...key);
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    return readFile(this.#path(key)).then((b) => new Uint8Array(b), () => undefined);
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    const path = this.#path(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}-${this.#tmp++}`;
    const file = await open(tmp, "w");
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  }

  async remove(key: StorageKey): Promise<void> {
    await rm(this.#path(key), { force: true });
  }

  async loadRange(prefix: StorageKey): Promise<Chunk[]> {
    const out: Chunk[] = [];
    const walk = async (key: StorageKey): Promise<void> => {
      const path = key.length ? this.#path(key) : this.root;
      const entries = await readdir(path, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (entry.name.includes(".tmp-")) continue;
        if (entry.isDirectory()) await walk([...key, entry.name]);
        else out.push({ key: [...key, entry.name], data: new Uint8Array(await readFile(join(path, entry.name))) });
      }
    };
    const whole = prefix.length ? this.#path(prefix) : this.root;
    const single = await readFile(whole).then((b) => new Uint8Array(b), () => undefined);
    if (single) return [{ key: prefix, data: single }];
    await walk(prefix);
    return out;
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    await rm(prefix.length ? this.#path(prefix) : this.root, { recursive: true, force: true });
  }
}
