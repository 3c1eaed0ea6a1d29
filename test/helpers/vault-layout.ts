/**
 * The vault document's documented layout, for hand-written clients that build changes themselves:
 * files live in 256 bucket maps keyed by two hex digits of FNV-1a over the path's UTF-8 bytes.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as A from "@automerge/automerge";

export function bucketOfPath(path: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(path)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return (hash % 256).toString(16).padStart(2, "0");
}

export const sha256Hex = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex");

/**
 * Whether a device's or replica's stored document holds the change `hash`, read with the store's
 * documented layout (doc.bin = a full save; doc.log = frames of u32 length, u32 check word, body).
 */
export async function storeHoldsChange(stateDir: string, hash: string): Promise<boolean> {
  const full = await readFile(join(stateDir, "doc.bin")).catch(() => undefined);
  let doc = full && full.length > 0 ? A.load(new Uint8Array(full)) : A.init();
  const log = await readFile(join(stateDir, "doc.log")).catch(() => Buffer.alloc(0));
  for (let offset = 0; offset + 8 <= log.length;) {
    const length = log.readUInt32BE(offset);
    if (offset + 8 + length > log.length) break;
    doc = A.loadIncremental(doc, new Uint8Array(log.subarray(offset + 8, offset + 8 + length)));
    offset += 8 + length;
  }
  return A.hasHeads(doc, [hash]);
}
