/**
 * The OpenSSH formats for ed25519 keys: the `ssh-ed25519 AAAA… comment` public line and the
 * unencrypted `openssh-key-v1` private key file, so `ssh-keygen` reads our keys and we read its.
 */
import { sha256 } from "@noble/hashes/sha2.js";

export class KeyFormatError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyFormatError";
  }
}

const KEY_TYPE = "ssh-ed25519";
const MAGIC = "openssh-key-v1\0";
const BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END = "-----END OPENSSH PRIVATE KEY-----";
const encoder = new TextEncoder();

class Writer {
  readonly parts: Uint8Array[] = [];
  u32(n: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n);
    this.parts.push(b);
  }
  bytes(b: Uint8Array) {
    this.u32(b.length);
    this.parts.push(b);
  }
  string(s: string) {
    this.bytes(encoder.encode(s));
  }
  raw(b: Uint8Array) {
    this.parts.push(b);
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

class Reader {
  #at = 0;
  constructor(readonly buf: Uint8Array) {}
  u32(): number {
    if (this.#at + 4 > this.buf.length) throw new KeyFormatError("key data is truncated");
    const n = new DataView(this.buf.buffer, this.buf.byteOffset + this.#at, 4).getUint32(0);
    this.#at += 4;
    return n;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    if (this.#at + n > this.buf.length) throw new KeyFormatError("key data is truncated");
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  string(): string {
    return new TextDecoder().decode(this.bytes());
  }
  raw(n: number): Uint8Array {
    if (this.#at + n > this.buf.length) throw new KeyFormatError("key data is truncated");
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/** SSH wire encoding of the public key (what the base64 in a .pub line holds). */
export function publicKeyBlob(publicKey: Uint8Array): Uint8Array {
  const w = new Writer();
  w.string(KEY_TYPE);
  w.bytes(publicKey);
  return w.done();
}

export const sshPublicLine = (publicKey: Uint8Array, comment: string) => `${KEY_TYPE} ${b64(publicKeyBlob(publicKey))}${comment ? ` ${comment}` : ""}`;

/** `SHA256:…` exactly as `ssh-keygen -l` prints it. */
export const sshFingerprint = (publicKey: Uint8Array) => `SHA256:${b64(sha256(publicKeyBlob(publicKey))).replace(/=+$/, "")}`;

/** Parses the base64 blob of an `ssh-ed25519` public key into its 32 bytes. */
export function parsePublicKeyBlob(base64: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new KeyFormatError("public key is not base64");
  const r = new Reader(new Uint8Array(Buffer.from(base64, "base64")));
  const type = r.string();
  if (type !== KEY_TYPE) throw new KeyFormatError(`key type ${type} inside an ssh-ed25519 line`);
  const key = r.bytes();
  if (key.length !== 32) throw new KeyFormatError("ed25519 public key is not 32 bytes");
  return new Uint8Array(key);
}

export function encodePrivateKeyFile(seed: Uint8Array, publicKey: Uint8Array, comment: string, checkInt: number): string {
  const priv = new Writer();
  priv.u32(checkInt);
  priv.u32(checkInt);
  priv.string(KEY_TYPE);
  priv.bytes(publicKey);
  const secret = new Uint8Array(64);
  secret.set(seed, 0);
  secret.set(publicKey, 32);
  priv.bytes(secret);
  priv.string(comment);
  const body = priv.done();
  const padLength = (8 - (body.length % 8)) % 8;
  const padded = new Uint8Array(body.length + padLength);
  padded.set(body);
  for (let i = 0; i < padLength; i++) padded[body.length + i] = i + 1;
  const w = new Writer();
  w.raw(encoder.encode(MAGIC));
  w.string("none");
  w.string("none");
  w.string("");
  w.u32(1);
  w.bytes(publicKeyBlob(publicKey));
  w.bytes(padded);
  const lines = b64(w.done()).match(/.{1,70}/g) ?? [];
  return `${BEGIN}\n${lines.join("\n")}\n${END}\n`;
}

export function decodePrivateKeyFile(text: string): { seed: Uint8Array; publicKey: Uint8Array; comment: string } {
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new KeyFormatError("not an OpenSSH private key (no BEGIN OPENSSH PRIVATE KEY block)");
  const data = new Uint8Array(Buffer.from(text.slice(start + BEGIN.length, end).replace(/\s+/g, ""), "base64"));
  const r = new Reader(data);
  if (new TextDecoder().decode(r.raw(MAGIC.length)) !== MAGIC) throw new KeyFormatError("not an openssh-key-v1 private key");
  const cipher = r.string();
  const kdf = r.string();
  r.bytes();
  if (cipher !== "none" || kdf !== "none") throw new KeyFormatError("the private key is passphrase-protected; use an unencrypted key or --identity-agent");
  if (r.u32() !== 1) throw new KeyFormatError("the key file holds more than one key");
  r.bytes();
  const p = new Reader(r.bytes());
  if (p.u32() !== p.u32()) throw new KeyFormatError("private key check failed (corrupt file)");
  const type = p.string();
  if (type !== KEY_TYPE) throw new KeyFormatError(`unsupported key type ${type}: edgesync needs an ed25519 key (ssh-keygen -t ed25519)`);
  const publicKey = new Uint8Array(p.bytes());
  const secret = p.bytes();
  if (publicKey.length !== 32 || secret.length !== 64) throw new KeyFormatError("ed25519 key has the wrong length");
  return { seed: new Uint8Array(secret.subarray(0, 32)), publicKey, comment: p.string() };
}
