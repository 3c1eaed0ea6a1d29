/**
 * Binary file contents live outside the vault document, content-addressed by SHA-256:
 * the doc holds the hash and size, a BlobStore holds the bytes. This is the port; implementations
 * are disk (disk-blob-store.ts), memory (below: tests, the browser client) and dst's
 * simulated store. Contract tests: blob-store-contract.ts. What a valid hash is: ../model/blob-hash.ts.
 */
import { UserError } from "../../errors.js";
import { checkBlob } from "../model/blob-hash.js";

/**
 * A binary file's bytes were asked for but its blob has not arrived on this device yet. A UserError,
 * not a BlobError: nothing is wrong, the user waits for sync and asks again.
 */
export class BlobMissingError extends UserError {
  constructor(path: string, hash: string) {
    super(
      `the content of ${path} (blob ${hash.slice(0, 12)}…) is not on this device yet; it is being fetched from other devices — wait for sync and try again`,
    );
    this.name = "BlobMissingError";
  }
}

export interface BlobStore {
  has(hash: string): Promise<boolean>;
  /** The bytes, or undefined when the blob is not here (never fetched, collected, or found corrupt). */
  get(hash: string): Promise<Uint8Array | undefined>;
  /** Checks SHA-256(bytes) === hash (BlobError if not), then stores; resolving means durable. */
  put(hash: string, bytes: Uint8Array): Promise<void>;
  /** Every stored hash, sorted. */
  list(): Promise<string[]>;
  /** Bytes of one stored blob, or undefined. */
  sizeOf(hash: string): Promise<number | undefined>;
  /** Removes a blob; true when it was there. */
  delete(hash: string): Promise<boolean>;
}

/** A BlobStore in memory: unit tests, the engine's default, the browser client. */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, Uint8Array>();

  async has(hash: string): Promise<boolean> {
    return this.#blobs.has(hash);
  }
  async get(hash: string): Promise<Uint8Array | undefined> {
    return this.#blobs.get(hash)?.slice();
  }
  async put(hash: string, bytes: Uint8Array): Promise<void> {
    checkBlob(hash, bytes);
    if (!this.#blobs.has(hash)) this.#blobs.set(hash, bytes.slice());
  }
  async list(): Promise<string[]> {
    return [...this.#blobs.keys()].sort();
  }
  async sizeOf(hash: string): Promise<number | undefined> {
    return this.#blobs.get(hash)?.length;
  }
  async delete(hash: string): Promise<boolean> {
    return this.#blobs.delete(hash);
  }
}
