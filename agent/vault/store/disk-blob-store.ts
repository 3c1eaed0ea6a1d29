/**
 * Blobs on disk: `.edgesync/blobs/<sha256>`, one file per blob, written by writeFileAtomic (temp
 * file, fsync, rename, directory fsync), so a blob either exists whole or not at all. A blob whose
 * bytes no longer match its name (bit rot, a hand edit) is removed on read and counts as missing,
 * so the engine fetches it again.
 */
import { mkdir, readFile, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { BLOB_HASH, checkBlob } from "../model/blob-hash.js";
import type { BlobStore } from "./blob-store.js";
import { createHash } from "node:crypto";
import { sweepTempFiles, writeFileAtomic } from "../../fs/atomic-write.js";

export const BLOBS_DIR = "blobs";

/** Node's native SHA-256: much faster than the portable one on blob-sized inputs. */
export const sha256Native = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

export class DiskBlobStore implements BlobStore {
  readonly dir: string;
  #ready: Promise<void> | undefined;

  constructor(stateDir: string) {
    this.dir = join(stateDir, BLOBS_DIR);
  }

  /** Creates the folder and sweeps temp files a killed writer left; runs once, before first use. */
  #open(): Promise<void> {
    this.#ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() =>
      sweepTempFiles(this.dir).then(() => undefined),
    );
    return this.#ready;
  }

  #path(hash: string): string | undefined {
    return BLOB_HASH.test(hash) ? join(this.dir, hash) : undefined;
  }

  async has(hash: string): Promise<boolean> {
    return (await this.sizeOf(hash)) !== undefined;
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
    const path = this.#path(hash);
    if (path === undefined) return undefined;
    await this.#open();
    const bytes = await readFile(path).then((b) => new Uint8Array(b), notFound);
    if (bytes === undefined) return undefined;
    if (sha256Native(bytes) !== hash) {
      await unlink(path).catch(() => {});
      return undefined;
    }
    return bytes;
  }

  async put(hash: string, bytes: Uint8Array): Promise<void> {
    checkBlob(hash, bytes, sha256Native);
    await this.#open();
    if (await this.has(hash)) return;
    await writeFileAtomic(join(this.dir, hash), bytes, { mode: 0o600 });
  }

  async list(): Promise<string[]> {
    await this.#open();
    return (await readdir(this.dir)).filter((name) => BLOB_HASH.test(name)).sort();
  }

  async sizeOf(hash: string): Promise<number | undefined> {
    const path = this.#path(hash);
    if (path === undefined) return undefined;
    await this.#open();
    return stat(path).then((s) => (s.isFile() ? s.size : undefined), notFound);
  }

  async delete(hash: string): Promise<boolean> {
    const path = this.#path(hash);
    if (path === undefined) return false;
    await this.#open();
    return unlink(path).then(
      () => true,
      (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? false : Promise.reject(error)),
    );
  }
}

function notFound(error: NodeJS.ErrnoException): undefined {
  if (error.code === "ENOENT") return undefined;
  throw error;
}
