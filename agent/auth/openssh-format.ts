/**
 * The OpenSSH formats for ed25519 keys: the `ssh-ed25519 AAAA… comment` public line and the
 * unencrypted `openssh-key-v1` private key file (PROTOCOL.key in OpenSSH), so `ssh-keygen` reads
 * our keys and we read its.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { SshReader, SshWireError, SshWriter } from "./ssh-wire.js";
import { UserError } from "../errors.js";

export class KeyFormatError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyFormatError";
  }
}

export const ED25519_KEY_TYPE = "ssh-ed25519";
const MAGIC = new TextEncoder().encode("openssh-key-v1\0");
const BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----";
const END = "-----END OPENSSH PRIVATE KEY-----";
/** ssh-keygen wraps the base64 body at 70 columns. */
const PEM_LINE_CHARS = 70;
/** A single unencrypted ed25519 key file is ~400 bytes; anything far larger is not one. */
export const PRIVATE_KEY_FILE_BYTES_MAX = 16 * 1024;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");

/**
 * Strict base64 (standard alphabet, padding optional): Node's decoder silently skips junk, which
 * would let a damaged line decode to a different key.
 */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) return undefined;
  const bytes = Buffer.from(text, "base64");
  if (bytes.toString("base64").replace(/=+$/, "") !== text.replace(/=+$/, "")) return undefined;
  return new Uint8Array(bytes);
}

function wire<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof SshWireError)
      throw new KeyFormatError(`${what} is corrupt (${error.message})`, { cause: error });
    throw error;
  }
}

/** SSH wire encoding of the public key (what the base64 in a .pub line holds). */
export const publicKeyBlob = (publicKey: Uint8Array): Uint8Array =>
  new SshWriter().string(ED25519_KEY_TYPE).bytes(publicKey).done();

/** The 32 key bytes inside an `ssh-ed25519` wire blob. */
export function publicKeyFromBlob(blob: Uint8Array): Uint8Array {
  return wire("the public key", () => {
    const r = new SshReader(blob);
    const type = r.string();
    if (type !== ED25519_KEY_TYPE)
      throw new KeyFormatError(
        `key type ${type} is not supported; edgesync needs an ed25519 key (ssh-keygen -t ed25519)`,
      );
    const key = r.bytes();
    r.end("public key");
    if (key.length !== 32) throw new KeyFormatError(`an ed25519 public key has 32 bytes, this one ${key.length}`);
    return new Uint8Array(key);
  });
}

/** Parses the base64 blob of an `ssh-ed25519` public key into its 32 bytes. */
export function parsePublicKeyBlob(base64: string): Uint8Array {
  const blob = decodeBase64Strict(base64);
  if (blob === undefined) throw new KeyFormatError("the public key is not valid base64");
  return publicKeyFromBlob(blob);
}

export const sshPublicLine = (publicKey: Uint8Array, comment: string) =>
  `${ED25519_KEY_TYPE} ${b64(publicKeyBlob(publicKey))}${comment ? ` ${comment}` : ""}`;

/** Parses one `ssh-ed25519 AAAA… [comment]` line (a .pub file). */
export function parseSshPublicLine(line: string): { publicKey: Uint8Array; comment: string } {
  const match = /^\s*(\S+)\s+(\S+)(?:\s+(.*?))?\s*$/.exec(line);
  if (!match) throw new KeyFormatError("not an OpenSSH public key line (`ssh-ed25519 AAAA… comment`)");
  if (match[1] !== ED25519_KEY_TYPE)
    throw new KeyFormatError(
      `key type ${match[1]} is not supported; edgesync needs ${ED25519_KEY_TYPE} (ssh-keygen -t ed25519)`,
    );
  return { publicKey: parsePublicKeyBlob(match[2]), comment: match[3] ?? "" };
}

/** `SHA256:…` exactly as `ssh-keygen -l` prints it. */
export const sshFingerprint = (publicKey: Uint8Array) =>
  `SHA256:${b64(sha256(publicKeyBlob(publicKey))).replace(/=+$/, "")}`;

/** An unencrypted openssh-key-v1 file holding one ed25519 key. `checkInt` is random per file. */
export function encodePrivateKeyFile(
  seed: Uint8Array,
  publicKey: Uint8Array,
  comment: string,
  checkInt: number,
): string {
  if (seed.length !== 32 || publicKey.length !== 32)
    throw new RangeError("ed25519 seed and public key are 32 bytes each");
  const secret = new Uint8Array(64);
  secret.set(seed, 0);
  secret.set(publicKey, 32);
  const body = new SshWriter()
    .u32(checkInt)
    .u32(checkInt)
    .string(ED25519_KEY_TYPE)
    .bytes(publicKey)
    .bytes(secret)
    .string(comment)
    .done();
  // The private section is padded to the cipher block size (8 for "none") with bytes 1, 2, 3, ….
  const padLength = (8 - (body.length % 8)) % 8;
  const padded = new Uint8Array(body.length + padLength);
  padded.set(body);
  for (let i = 0; i < padLength; i++) padded[body.length + i] = i + 1;
  const file = new SshWriter()
    .raw(MAGIC)
    .string("none")
    .string("none")
    .string("")
    .u32(1)
    .bytes(publicKeyBlob(publicKey))
    .bytes(padded)
    .done();
  const lines = b64(file).match(new RegExp(`.{1,${PEM_LINE_CHARS}}`, "g")) ?? [];
  secret.fill(0);
  return `${BEGIN}\n${lines.join("\n")}\n${END}\n`;
}

/** Reads an unencrypted openssh-key-v1 ed25519 private key file (ours or ssh-keygen's). */
export function decodePrivateKeyFile(text: string): { seed: Uint8Array; publicKey: Uint8Array; comment: string } {
  if (text.length > PRIVATE_KEY_FILE_BYTES_MAX)
    throw new KeyFormatError(`too large for an ed25519 key file (${text.length} bytes)`);
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (start < 0 || end < start) {
    const pem = /-----BEGIN ([A-Z ]+)-----/.exec(text)?.[1];
    const hint = pem
      ? ` (found a ${pem} block; convert it with \`ssh-keygen -p -f FILE\` or create an ed25519 key with \`ssh-keygen -t ed25519\`)`
      : "";
    throw new KeyFormatError(`not an OpenSSH private key: no BEGIN OPENSSH PRIVATE KEY block${hint}`);
  }
  const data = decodeBase64Strict(text.slice(start + BEGIN.length, end).replace(/\s+/g, ""));
  if (data === undefined) throw new KeyFormatError("the private key block is not valid base64");
  return wire("the private key file", () => {
    const r = new SshReader(data);
    if (!equalBytes(r.raw(MAGIC.length), MAGIC)) throw new KeyFormatError("not an openssh-key-v1 private key");
    const cipher = r.string();
    const kdf = r.string();
    r.bytes();
    if (cipher !== "none" || kdf !== "none")
      throw new KeyFormatError(
        'the private key is passphrase-protected; remove the passphrase (`ssh-keygen -p -N "" -f FILE`) or use --identity-agent',
      );
    if (r.u32() !== 1) throw new KeyFormatError("the key file holds more than one key");
    const outerPublicKey = publicKeyFromBlob(r.bytes());
    const p = new SshReader(r.bytes());
    r.end("private key section");
    if (p.u32() !== p.u32()) throw new KeyFormatError("the private key check failed (corrupt file, or encrypted)");
    const type = p.string();
    if (type !== ED25519_KEY_TYPE)
      throw new KeyFormatError(
        `key type ${type} is not supported; edgesync needs an ed25519 key (ssh-keygen -t ed25519)`,
      );
    const publicKey = new Uint8Array(p.bytes());
    const secret = p.bytes();
    const comment = p.string();
    for (let i = 1; p.remaining > 0; i++)
      if (p.byte() !== i) throw new KeyFormatError("the private key padding is corrupt");
    if (publicKey.length !== 32 || secret.length !== 64)
      throw new KeyFormatError("the ed25519 key has the wrong length");
    if (!equalBytes(publicKey, outerPublicKey) || !equalBytes(secret.subarray(32), publicKey))
      throw new KeyFormatError("the public and private halves of the key do not match");
    return { seed: new Uint8Array(secret.subarray(0, 32)), publicKey, comment };
  });
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
