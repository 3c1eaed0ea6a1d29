/** Collecting stored blobs that nothing in a vault's history names. */
import type { BlobStore } from "../vault/store/blob-store.js";
import type { Log } from "./ports.js";

export interface BlobCollection {
  blobsRemoved: number;
  blobBytesRemoved: number;
  blobsKept: number;
}

/**
 * Deletes every stored blob whose hash `referenced` lacks. The caller passes every hash the doc's
 * whole history names, not only the current files': restore-at and labels still need those.
 */
export async function deleteUnreferencedBlobs(
  blobs: BlobStore,
  referenced: { has(hash: string): boolean },
  log: Log,
): Promise<BlobCollection> {
  const result: BlobCollection = { blobsRemoved: 0, blobBytesRemoved: 0, blobsKept: 0 };
  for (const hash of await blobs.list()) {
    if (referenced.has(hash)) {
      result.blobsKept++;
      continue;
    }
    const size = (await blobs.sizeOf(hash)) ?? 0;
    if (await blobs.delete(hash)) {
      result.blobsRemoved++;
      result.blobBytesRemoved += size;
    }
  }
  if (result.blobsRemoved > 0) log.info({ ...result }, "removed blobs no revision references");
  return result;
}
