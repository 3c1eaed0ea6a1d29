/**
 * The NATS nkey text form of ed25519 keys — prefix byte(s), key, CRC-16/XMODEM little-endian,
 * RFC 4648 base32 without padding — for code that also runs in browsers (the bridge client and
 * the notify inbox bundle). No Node imports here. Agent-side code may use @nats-io/nkeys; the test
 * checks this codec against it so the two never disagree.
 */
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ED25519_BYTES = 32;

/** nkeys' prefix bytes: `U…` user, `A…` account; a seed is `S` followed by its key's kind. */
export const NKEY_PREFIX = { user: 20 << 3, account: 0 } as const;
const SEED_PREFIX = 18 << 3;

export type NkeyKind = keyof typeof NKEY_PREFIX;

/** CRC-16/XMODEM, as nkeys uses. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function base32Encode(bytes: Uint8Array): string {
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

/** Undefined for a character outside the alphabet. */
export function base32Decode(text: string): Uint8Array | undefined {
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

/** `bytes` followed by their CRC-16, little-endian. */
function withCrc(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 2);
  out.set(bytes);
  const crc = crc16(bytes);
  out[bytes.length] = crc & 0xff;
  out[bytes.length + 1] = crc >>> 8;
  return out;
}

/** An ed25519 public key as a NATS public nkey (`U…` user, `A…` account). */
export function nkeyOf(publicKey: Uint8Array, kind: NkeyKind): string {
  if (publicKey.length !== ED25519_BYTES) throw new RangeError("an ed25519 public key is 32 bytes");
  const raw = new Uint8Array(1 + ED25519_BYTES);
  raw[0] = NKEY_PREFIX[kind];
  raw.set(publicKey, 1);
  return base32Encode(withCrc(raw));
}

/** The public key inside a public nkey of `kind`; undefined when the text is not one (prefix, length or checksum). */
export function publicKeyOfNkey(text: string, kind: NkeyKind): Uint8Array | undefined {
  if (!/^[A-Z2-7]{56}$/.test(text)) return undefined;
  const raw = base32Decode(text);
  if (raw === undefined || raw.length !== 35 || raw[0] !== NKEY_PREFIX[kind]) return undefined;
  if (crc16(raw.subarray(0, 33)) !== (raw[33] | (raw[34] << 8))) return undefined;
  return raw.slice(1, 33);
}

/** The `S…` seed text of a raw 32-byte ed25519 seed for a key of `kind` (`SU…` for a user). */
export function nkeySeedOf(seed: Uint8Array, kind: NkeyKind): string {
  if (seed.length !== ED25519_BYTES) throw new RangeError("an ed25519 seed is 32 bytes");
  const raw = new Uint8Array(2 + ED25519_BYTES);
  raw[0] = SEED_PREFIX | (NKEY_PREFIX[kind] >> 5);
  raw[1] = (NKEY_PREFIX[kind] & 31) << 3;
  raw.set(seed, 2);
  return base32Encode(withCrc(raw));
}
