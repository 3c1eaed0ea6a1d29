/**
 * The device identity: one ed25519 key per device, stored as an OpenSSH key pair in
 * `$EDGESYNC_HOME/id_ed25519` (default ~/.edgesync). The same 32 public bytes are the device's
 * NATS user nkey (`U…`), which is also its peer id on vault subjects.
 */
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { randomBytes } from "node:crypto";
import { readFile, stat, mkdir, chmod } from "node:fs/promises";
import { homedir, hostname, userInfo } from "node:os";
import { dirname, join } from "node:path";
import { fromSeed } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { Prefix } from "@nats-io/nkeys";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { decodePrivateKeyFile, encodePrivateKeyFile, sshFingerprint, sshPublicLine, KeyFormatError } from "./openssh-format.js";

ed.hashes.sha512 = sha512;

export class KeyPermissionError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyPermissionError";
  }
}

export class KeyMissingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyMissingError";
  }
}

export const edgesyncHome = () => process.env.EDGESYNC_HOME ?? join(homedir(), ".edgesync");
export const defaultIdentityPath = () => process.env.EDGESYNC_IDENTITY ?? join(edgesyncHome(), "id_ed25519");

export class Identity {
  readonly publicKey: Uint8Array;
  readonly #seed: Uint8Array;
  readonly comment: string;

  constructor(seed: Uint8Array, comment: string) {
    if (seed.length !== 32) throw new KeyFormatError("ed25519 seed must be 32 bytes");
    this.#seed = seed;
    this.publicKey = ed.getPublicKey(seed);
    this.comment = comment;
  }

  static generate(comment = `${userInfo().username}@${hostname()}`): Identity {
    return new Identity(new Uint8Array(randomBytes(32)), comment);
  }

  sign(message: Uint8Array): Uint8Array {
    return ed.sign(message, this.#seed);
  }

  verify(signature: Uint8Array, message: Uint8Array): boolean {
    return ed.verify(signature, message, this.publicKey);
  }

  get fingerprint(): string {
    return sshFingerprint(this.publicKey);
  }

  sshPublicLine(comment = this.comment): string {
    return sshPublicLine(this.publicKey, comment);
  }

  /** NATS user nkey (`U…`): the device's peer id and the subject of its user JWT. */
  get nkeyPublic(): string {
    return nkeyPublic(this.publicKey, Prefix.User);
  }

  /** The same key as an account signing key (`A…`), which is how authorized keys sign user JWTs. */
  get accountNkeyPublic(): string {
    return nkeyPublic(this.publicKey, Prefix.Account);
  }

  /** NATS seed (`SU…`) for the nkey/JWT authenticators. Secret: never log or send it. */
  natsSeed(prefix: Prefix = Prefix.User): Uint8Array {
    return Codec.encodeSeed(prefix, this.#seed);
  }

  /** An nkeys KeyPair over the same secret, for JWT signing libraries. */
  natsKeyPair(prefix: Prefix = Prefix.User) {
    return fromSeed(this.natsSeed(prefix));
  }

  privateKeyFile(): string {
    const check = randomBytes(4).readUInt32BE(0);
    return encodePrivateKeyFile(this.#seed, this.publicKey, this.comment, check);
  }
}

export const nkeyPublic = (publicKey: Uint8Array, prefix: Prefix) => new TextDecoder().decode(Codec.encode(prefix, publicKey));

/** Writes the private key (0600, folder 0700) and the .pub line, atomically; refuses to overwrite unless asked. */
export async function saveIdentity(identity: Identity, path: string, overwrite = false): Promise<void> {
  if (!overwrite && (await stat(path).then(() => true, () => false))) {
    throw new KeyFormatError(`${path} already exists; pass --force to replace it (the old key is lost and must be removed from every authorized_keys)`);
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await chmod(dirname(path), 0o700).catch(() => {});
  await writeFileAtomic(path, identity.privateKeyFile(), { mode: 0o600 });
  await writeFileAtomic(`${path}.pub`, `${identity.sshPublicLine()}\n`, { mode: 0o644 });
}

/** Loads a private key file, refusing one that group or others can read or write. */
export async function loadIdentity(path = defaultIdentityPath()): Promise<Identity> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new KeyMissingError(`no device key at ${path}; create one with \`edgesync key generate\``);
  if ((info.mode & 0o077) !== 0) {
    throw new KeyPermissionError(`${path} is accessible by other users (mode ${(info.mode & 0o777).toString(8)}); run \`chmod 600 ${path}\``);
  }
  const text = await readFile(path, "utf8");
  try {
    const { seed, publicKey, comment } = decodePrivateKeyFile(text);
    const identity = new Identity(seed, comment);
    if (!ed.etc.bytesToHex(identity.publicKey).includes(ed.etc.bytesToHex(publicKey))) throw new KeyFormatError("public and private halves do not match");
    return identity;
  } catch (error) {
    if (error instanceof KeyFormatError) throw new KeyFormatError(`${path}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Loads the device key, creating it on first use when asked (init does; other commands do not). */
export async function loadOrCreateIdentity(path = defaultIdentityPath(), create = false): Promise<{ identity: Identity; created: boolean }> {
  try {
    return { identity: await loadIdentity(path), created: false };
  } catch (error) {
    if (!(error instanceof KeyMissingError) || !create) throw error;
    const identity = Identity.generate();
    await saveIdentity(identity, path);
    return { identity, created: true };
  }
}
