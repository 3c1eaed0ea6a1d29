/**
 * Wire format of the sync engine. Every frame from the network is untrusted: `decodeMessage`
 * checks version, type, lengths and hash shapes and returns undefined for anything off.
 *
 *   [u8 version=1][u8 type] body
 *   type 1 announce: [u8 flags][u16 headCount] headCount × 32-byte change hashes
 *                    flags: 1 = the sender holds a vault (ready), 2 = the sender is a hub's replica
 *   type 2 sync:     Automerge sync message bytes
 */
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";

export const WIRE_VERSION = 1;
/** More heads than this in one announce means a malformed or hostile frame. */
export const ANNOUNCE_HEADS_MAX = 256;
const HASH_BYTES = 32;
const FLAG_READY = 1;
const FLAG_HUB = 2;

export type WireMessage =
  | { type: "announce"; heads: string[]; ready: boolean; hub?: boolean }
  | { type: "sync"; data: Uint8Array };

export function encodeMessage(message: WireMessage): Uint8Array {
  if (message.type === "sync") {
    const out = new Uint8Array(2 + message.data.length);
    out[0] = WIRE_VERSION;
    out[1] = 2;
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
  if (frame[1] !== 1 || frame.length < 5) return undefined;
  const count = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint16(3);
  if (count > ANNOUNCE_HEADS_MAX || frame.length !== 5 + count * HASH_BYTES) return undefined;
  const heads: string[] = [];
  for (let i = 0; i < count; i++) heads.push(bytesToHex(frame.subarray(5 + i * HASH_BYTES, 5 + (i + 1) * HASH_BYTES)));
  return { type: "announce", heads, ready: (frame[2] & FLAG_READY) !== 0, hub: (frame[2] & FLAG_HUB) !== 0 };
}
