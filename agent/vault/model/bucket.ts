import { BUCKET_COUNT } from "./schema.js";

const encoder = new TextEncoder();

/**
 * The bucket a path lives in: FNV-1a over the UTF-8 bytes, two hex digits. Stable forever — changing
 * it would move every file — and cheap enough to call on every lookup.
 */
export function bucketOf(path: string): string {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(path)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash % BUCKET_COUNT).toString(16).padStart(2, "0");
}

export const allBuckets = (): string[] =>
  Array.from({ length: BUCKET_COUNT }, (_, i) => i.toString(16).padStart(2, "0"));
