/**
 * Byte encodings shared by the agent and the browser bundle (no Node imports here): base64url,
 * RFC 4648 base32, and the NATS nkey form of an ed25519 public key (`U…`), which is every
 * notify device's id. The nkey codec is small enough to own; its test checks it against
 * @nats-io/nkeys so the two never disagree.
 */
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/** nkeys' prefix byte for a user key ('U'). */
const USER_PREFIX_BYTE = 20 << 3;
const ED25519_PUBLIC_BYTES = 32;

export function base64urlEncode(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Undefined for anything that is not canonical base64url. */
export function base64urlDecode(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return base64urlEncode(out) === text ? out : undefined;
}

function base32Encode(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(buffer << (5 - bits)) & 31];
  return out;
}

function base32Decode(text: string): Uint8Array | undefined {
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of text) {
    const value = B32.indexOf(ch);
    if (value < 0) return undefined;
    buffer = ((buffer << 5) | value) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

/** CRC-16/XMODEM, as nkeys uses. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The `U…` nkey of an ed25519 public key. */
export function peerIdFromPublicKey(publicKey: Uint8Array): string {
  if (publicKey.length !== ED25519_PUBLIC_BYTES) throw new RangeError("an ed25519 public key is 32 bytes");
  const raw = new Uint8Array(1 + ED25519_PUBLIC_BYTES + 2);
  raw[0] = USER_PREFIX_BYTE;
  raw.set(publicKey, 1);
  const crc = crc16(raw.subarray(0, 33));
  raw[33] = crc & 0xff;
  raw[34] = crc >>> 8;
  return base32Encode(raw);
}

/** The public key inside a `U…` nkey; undefined when the text is not one (wrong prefix or checksum). */
export function publicKeyFromPeerId(peerId: string): Uint8Array | undefined {
  if (!/^U[A-Z2-7]{55}$/.test(peerId)) return undefined;
  const raw = base32Decode(peerId);
  if (raw === undefined || raw.length !== 35 || raw[0] !== USER_PREFIX_BYTE) return undefined;
  if (crc16(raw.subarray(0, 33)) !== (raw[33] | (raw[34] << 8))) return undefined;
  return raw.slice(1, 33);
}

export const isPeerId = (text: string): boolean => publicKeyFromPeerId(text) !== undefined;

/** JSON with object keys sorted at every level: the bytes a signature covers. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
export const utf8Bytes = (text: string): number => utf8(text).length;
