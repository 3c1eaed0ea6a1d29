/**
 * Wire format of the sync engine. Every frame from the network is untrusted: `decodeMessage`
 * checks version, type, lengths and hash shapes and returns undefined for anything off.
 *
 *   [u8 version=1][u8 type] body
 *   type 1 announce: [u8 flags][u16 headCount] headCount × 32-byte change hashes
 *                    flags: 1 = the sender holds a vault (ready), 2 = the sender is a hub's replica
 *   type 2 sync:     Automerge sync message bytes
 *   type 3 blob-want: [u16 count] count × 32-byte blob hashes (SHA-256 of the bytes)
 *   type 4 blob:      [32-byte hash][u32 offset][u32 total] chunk bytes (offset + chunk ≤ total)
 *   type 5 snapshot:  a full Automerge save, for a peer that said it holds nothing (a clone)
 *   type 6 changes:   [u8 flags][u16 headCount] headCount × 32-byte hashes (the sender's heads once
 *                     these changes are in; flags: 1 = that is all of its heads)
 *                     [u16 changeCount] changeCount × ([u32 length] Automerge change bytes):
 *                     changes pushed to every peer at once (change-push.ts), not a pairwise exchange
 */
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

export const WIRE_VERSION = 1;
/** More heads than this in one announce means a malformed or hostile frame. */
export const ANNOUNCE_HEADS_MAX = 256;
const HASH_BYTES = 32;
const FLAG_READY = 1;
const FLAG_HUB = 2;

/** More hashes than this in one blob-want means a malformed or hostile frame. */
export const BLOB_WANT_MAX = 64;
/** Bytes before a blob chunk's data. */
export const BLOB_HEADER_BYTES = 2 + HASH_BYTES + 8;

/** More changes than this in one changes frame means a malformed or hostile frame. */
export const PUSHED_CHANGES_MAX = 1024;
const FLAG_ALL_HEADS = 1;

export type WireMessage =
  | { type: "announce"; heads: string[]; ready: boolean; hub?: boolean }
  | { type: "changes"; heads: string[]; allHeads: boolean; changes: Uint8Array[] }
  | { type: "sync"; data: Uint8Array }
  | { type: "snapshot"; data: Uint8Array }
  | { type: "blob-want"; hashes: string[] }
  | { type: "blob"; hash: string; offset: number; total: number; chunk: Uint8Array };

export function encodeMessage(message: WireMessage): Uint8Array {
  if (message.type === "blob-want") return encodeBlobWant(message.hashes);
  if (message.type === "blob") return encodeBlob(message);
  if (message.type === "changes") return encodeChanges(message);
  if (message.type === "sync" || message.type === "snapshot") {
    const out = new Uint8Array(2 + message.data.length);
    out[0] = WIRE_VERSION;
    out[1] = message.type === "sync" ? 2 : 5;
    out.set(message.data, 2);
    return out;
  }
  if (message.heads.length > ANNOUNCE_HEADS_MAX) throw new RangeError(`announce with ${message.heads.length} heads`);
  const out = new Uint8Array(5 + HASH_BYTES * message.heads.length);
  out[0] = WIRE_VERSION;
  out[1] = 1;
  out[2] = (message.ready ? FLAG_READY : 0) | (message.hub ? FLAG_HUB : 0);
  new DataView(out.buffer).setUint16(3, message.heads.length);
  message.heads.forEach((head, i) => out.set(hexToBytes(head), 5 + i * HASH_BYTES));
  return out;
}

export function decodeMessage(frame: Uint8Array): WireMessage | undefined {
  if (frame.length < 2 || frame[0] !== WIRE_VERSION) return undefined;
  if (frame[1] === 2) return frame.length > 2 ? { type: "sync", data: frame.subarray(2) } : undefined;
  if (frame[1] === 3) return decodeBlobWant(frame);
  if (frame[1] === 4) return decodeBlob(frame);
  if (frame[1] === 5) return frame.length > 2 ? { type: "snapshot", data: frame.subarray(2) } : undefined;
  if (frame[1] === 6) return decodeChanges(frame);
  if (frame[1] !== 1 || frame.length < 5) return undefined;
  const count = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint16(3);
  if (count > ANNOUNCE_HEADS_MAX || frame.length !== 5 + count * HASH_BYTES) return undefined;
  const heads: string[] = [];
  for (let i = 0; i < count; i++) heads.push(bytesToHex(frame.subarray(5 + i * HASH_BYTES, 5 + (i + 1) * HASH_BYTES)));
  return { type: "announce", heads, ready: (frame[2] & FLAG_READY) !== 0, hub: (frame[2] & FLAG_HUB) !== 0 };
}

const HEX64 = /^[0-9a-f]{64}$/;

function encodeChanges(message: Extract<WireMessage, { type: "changes" }>): Uint8Array {
  const { heads, changes } = message;
  if (heads.length > ANNOUNCE_HEADS_MAX) throw new RangeError(`changes frame with ${heads.length} heads`);
  if (changes.length === 0 || changes.length > PUSHED_CHANGES_MAX)
    throw new RangeError(`changes frame with ${changes.length} changes`);
  const headsEnd = 5 + HASH_BYTES * heads.length;
  let total = headsEnd + 2;
  for (const change of changes) total += 4 + change.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out[0] = WIRE_VERSION;
  out[1] = 6;
  out[2] = message.allHeads ? FLAG_ALL_HEADS : 0;
  view.setUint16(3, heads.length);
  heads.forEach((head, i) => out.set(hexToBytes(head), 5 + i * HASH_BYTES));
  view.setUint16(headsEnd, changes.length);
  let at = headsEnd + 2;
  for (const change of changes) {
    view.setUint32(at, change.length);
    out.set(change, at + 4);
    at += 4 + change.length;
  }
  return out;
}

function decodeChanges(frame: Uint8Array): WireMessage | undefined {
  if (frame.length < 5) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const headCount = view.getUint16(3);
  const headsEnd = 5 + headCount * HASH_BYTES;
  if (headCount > ANNOUNCE_HEADS_MAX || frame.length < headsEnd + 2) return undefined;
  const heads: string[] = [];
  for (let i = 0; i < headCount; i++)
    heads.push(bytesToHex(frame.subarray(5 + i * HASH_BYTES, 5 + (i + 1) * HASH_BYTES)));
  const count = view.getUint16(headsEnd);
  if (count === 0 || count > PUSHED_CHANGES_MAX) return undefined;
  const changes: Uint8Array[] = [];
  let at = headsEnd + 2;
  for (let i = 0; i < count; i++) {
    if (at + 4 > frame.length) return undefined;
    const length = view.getUint32(at);
    if (length === 0 || at + 4 + length > frame.length) return undefined;
    changes.push(frame.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== frame.length) return undefined;
  return { type: "changes", heads, allHeads: (frame[2] & FLAG_ALL_HEADS) !== 0, changes };
}

function encodeBlobWant(hashes: string[]): Uint8Array {
  if (hashes.length === 0 || hashes.length > BLOB_WANT_MAX)
    throw new RangeError(`blob-want with ${hashes.length} hashes`);
  const out = new Uint8Array(4 + HASH_BYTES * hashes.length);
  out[0] = WIRE_VERSION;
  out[1] = 3;
  new DataView(out.buffer).setUint16(2, hashes.length);
  hashes.forEach((hash, i) => {
    if (!HEX64.test(hash)) throw new RangeError(`blob hash ${JSON.stringify(hash.slice(0, 80))}`);
    out.set(hexToBytes(hash), 4 + i * HASH_BYTES);
  });
  return out;
}

function decodeBlobWant(frame: Uint8Array): WireMessage | undefined {
  if (frame.length < 4) return undefined;
  const count = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint16(2);
  if (count === 0 || count > BLOB_WANT_MAX || frame.length !== 4 + count * HASH_BYTES) return undefined;
  const hashes: string[] = [];
  for (let i = 0; i < count; i++) hashes.push(bytesToHex(frame.subarray(4 + i * HASH_BYTES, 4 + (i + 1) * HASH_BYTES)));
  return { type: "blob-want", hashes };
}

function encodeBlob(message: Extract<WireMessage, { type: "blob" }>): Uint8Array {
  const { hash, offset, total, chunk } = message;
  if (!HEX64.test(hash)) throw new RangeError(`blob hash ${JSON.stringify(hash.slice(0, 80))}`);
  if (!validChunk(offset, total, chunk.length))
    throw new RangeError(`blob chunk ${offset}+${chunk.length} of ${total}`);
  const out = new Uint8Array(BLOB_HEADER_BYTES + chunk.length);
  out[0] = WIRE_VERSION;
  out[1] = 4;
  out.set(hexToBytes(hash), 2);
  const view = new DataView(out.buffer);
  view.setUint32(2 + HASH_BYTES, offset);
  view.setUint32(6 + HASH_BYTES, total);
  out.set(chunk, BLOB_HEADER_BYTES);
  return out;
}

function decodeBlob(frame: Uint8Array): WireMessage | undefined {
  if (frame.length < BLOB_HEADER_BYTES) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const offset = view.getUint32(2 + HASH_BYTES);
  const total = view.getUint32(6 + HASH_BYTES);
  const chunk = frame.subarray(BLOB_HEADER_BYTES);
  if (!validChunk(offset, total, chunk.length)) return undefined;
  return { type: "blob", hash: bytesToHex(frame.subarray(2, 2 + HASH_BYTES)), offset, total, chunk };
}

/** A chunk lies inside its blob and carries bytes (only an empty blob has an empty chunk, at 0). */
function validChunk(offset: number, total: number, length: number): boolean {
  if (!Number.isInteger(offset) || !Number.isInteger(total) || offset < 0 || total > 0xffffffff) return false;
  if (total === 0) return offset === 0 && length === 0;
  return length > 0 && offset + length <= total;
}
