/**
 * What names a blob: binary file contents live outside the vault document, content-addressed by
 * their SHA-256, and the doc holds only the hash. The model, the blob stores and the sync engine
 * all check hashes the same way, so the rule lives here at the bottom, beside the doc schema.
 */
import { sha256Hex } from "./bytes.js";

/** Lower-case hex SHA-256. */
export const BLOB_HASH = /^[0-9a-f]{64}$/;

/** A malformed hash, or bytes that do not hash to it: corruption or a bug, never the user's doing. */
export class BlobError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BlobError";
  }
}

/** Throws BlobError unless `hash` is well-formed and is the SHA-256 of `bytes` (`digest` may be a faster native one). */
export function checkBlob(hash: string, bytes: Uint8Array, digest: (bytes: Uint8Array) => string = sha256Hex): void {
  if (!BLOB_HASH.test(hash))
    throw new BlobError(`invalid blob hash ${JSON.stringify(hash.slice(0, 80))}: expected 64 lower-case hex digits`);
  const actual = digest(bytes);
  if (actual !== hash) throw new BlobError(`blob bytes hash to ${actual}, not ${hash}: refusing to store them`);
}
