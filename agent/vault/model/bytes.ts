/** Byte helpers shared by the model, the browser client and dst: no Node built-ins. */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export const utf8Encode = (text: string): Uint8Array => encoder.encode(text);

/** The text if `bytes` is valid UTF-8 without NUL bytes, else undefined (the file is binary). */
export function decodeTextOrUndefined(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  try {
    const text = strictDecoder.decode(bytes);
    // A BOM would be stripped by the decoder and the bytes would no longer round-trip.
    return utf8Encode(text).length === bytes.length ? text : undefined;
  } catch {
    return undefined;
  }
}

export const sha256Hex = (bytes: Uint8Array): string => bytesToHex(sha256(bytes));

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
