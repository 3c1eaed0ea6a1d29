/**
 * The device identity: one ed25519 key per device, stored as an OpenSSH key pair in
 * `$EDGESYNC_HOME/id_ed25519` (default ~/.edgesync). The same 32 public bytes are the device's
 * NATS user nkey (`U…`), which is also its peer id on vault subjects, and — as `A…` — the
 * scoped account signing key with which the device issues its own user JWT.
 */
import { randomBytes, type KeyObject } from "node:crypto";
import { open, stat, mkdir, chmod } from "node:fs/promises";
import { homedir, hostname, userInfo } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fromSeed, Prefix, type KeyPair } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { privateKeyFromSeed, publicKeyBytes, signEd25519, verifyEd25519 } from "./native-ed25519.js";
import {
  decodePrivateKeyFile,
  encodePrivateKeyFile,
  equalBytes,
  sshFingerprint,
  sshPublicLine,
  KeyFormatError,
  PRIVATE_KEY_FILE_BYTES_MAX,
} from "./openssh-format.js";
import { UserError } from "../errors.js";

export class KeyPermissionError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyPermissionError";
  }
}

export class KeyMissingError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyMissingError";
  }
}

export const edgesyncHome = () => resolve(process.env.EDGESYNC_HOME ?? join(homedir(), ".edgesync"));
/** `--identity PATH` wins, then `$EDGESYNC_IDENTITY`, then `$EDGESYNC_HOME/id_ed25519`. */
export const defaultIdentityPath = (explicit?: string) =>
  resolve(explicit ?? process.env.EDGESYNC_IDENTITY ?? join(edgesyncHome(), "id_ed25519"));

/**
 * What callers need from a device key, whether it is held in memory (`Identity`) or by an
 * ssh-agent (`AgentIdentity`, whose `sign` is asynchronous).
 */
export interface DeviceKey {
  readonly publicKey: Uint8Array;
  readonly comment: string;
  readonly fingerprint: string;
  readonly nkeyPublic: string;
  readonly accountNkeyPublic: string;
  sshPublicLine(comment?: string): string;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
  verify(signature: Uint8Array, message: Uint8Array): boolean;
}

export const nkeyPublic = (publicKey: Uint8Array, prefix: Prefix) =>
  new TextDecoder().decode(Codec.encode(prefix, publicKey));

/** Verifies a raw 64-byte ed25519 signature (RFC 8032, as OpenSSH and NATS produce them). */
export { verifyEd25519 };

/**
 * Everything that follows from a device's public key alone, whoever holds the secret half: an
 * `Identity` in memory or an ssh-agent's key (`AgentIdentity`).
 */
export abstract class PublicDeviceKey implements DeviceKey {
  constructor(
    readonly publicKey: Uint8Array,
    readonly comment: string,
  ) {}

  abstract sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;

  verify(signature: Uint8Array, message: Uint8Array): boolean {
    return verifyEd25519(signature, message, this.publicKey);
  }

  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
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
}

export class Identity extends PublicDeviceKey {
  readonly #seed: Uint8Array;
  readonly #key: KeyObject;

  constructor(seed: Uint8Array, comment: string) {
    if (seed.length !== 32) throw new KeyFormatError("an ed25519 seed has 32 bytes");
    const secret = new Uint8Array(seed);
    const key = privateKeyFromSeed(secret);
    super(publicKeyBytes(key), comment);
    this.#seed = secret;
    this.#key = key;
  }

  static generate(comment = `${userInfo().username}@${hostname()}`): Identity {
    return new Identity(new Uint8Array(randomBytes(32)), comment);
  }

  sign(message: Uint8Array): Uint8Array {
    return signEd25519(this.#key, message);
  }

  /**
   * The NATS seed (ASCII `SU…` by default, `SA…` with Prefix.Account) as the bytes that
   * `jwtAuthenticator(jwt, seed)` and `nkeyAuthenticator(seed)` take. Secret: never log or send it.
   */
  natsSeed(prefix: Prefix = Prefix.User): Uint8Array {
    return Codec.encodeSeed(prefix, this.#seed);
  }

  /** An nkeys KeyPair over the same secret (User or Account prefix), for JWT signing. */
  natsKeyPair(prefix: Prefix = Prefix.User): KeyPair {
    return fromSeed(this.natsSeed(prefix));
  }

  privateKeyFile(): string {
    return encodePrivateKeyFile(this.#seed, this.publicKey, this.comment, randomBytes(4).readUInt32BE(0));
  }
}

/**
 * Writes the private key (0600) and the `.pub` line (0644), each atomically (temp + fsync +
 * rename + directory fsync). A folder it creates, and the edgesync home, are made 0700; a folder
 * the user named that already exists is left as it is. Refuses to replace a key unless asked.
 */
export async function saveIdentity(identity: Identity, path: string, overwrite = false): Promise<void> {
  const target = resolve(path);
  if (
    !overwrite &&
    (await stat(target).then(
      () => true,
      () => false,
    ))
  ) {
    throw new KeyFormatError(
      `${target} already exists; pass --force to replace it (the old key is lost and must be removed from every authorized_keys)`,
    );
  }
  const dir = dirname(target);
  const created = await mkdir(dir, { recursive: true, mode: 0o700 });
  if (created !== undefined || dir === edgesyncHome()) await chmod(dir, 0o700);
  await writeFileAtomic(target, identity.privateKeyFile(), { mode: 0o600 });
  // The temp file was created 0600 but a umask can only narrow it; assert the final mode anyway.
  await chmod(target, 0o600);
  await writeFileAtomic(`${target}.pub`, `${identity.sshPublicLine()}\n`, { mode: 0o644 });
}

/** Loads a private key file, refusing one that group or others can read or write. */
export async function loadIdentity(path = defaultIdentityPath()): Promise<Identity> {
  const target = resolve(path);
  const handle = await open(target, "r").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT")
      throw new KeyMissingError(`no device key at ${target}; create one with \`edgesync key generate\``, {
        cause: error,
      });
    throw error;
  });
  let text: string;
  try {
    // Check the opened file itself, so a swap between check and read cannot slip through.
    const info = await handle.stat();
    if (!info.isFile()) throw new KeyFormatError(`${target} is not a regular file`);
    if ((info.mode & 0o077) !== 0) {
      throw new KeyPermissionError(
        `${target} is accessible by other users (mode ${(info.mode & 0o777).toString(8).padStart(3, "0")}); run \`chmod 600 ${target}\``,
      );
    }
    if (info.size > PRIVATE_KEY_FILE_BYTES_MAX)
      throw new KeyFormatError(`${target} is too large (${info.size} bytes) to be an ed25519 key file`);
    text = await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
  try {
    const { seed, publicKey, comment } = decodePrivateKeyFile(text);
    const identity = new Identity(seed, comment);
    seed.fill(0);
    if (!equalBytes(identity.publicKey, publicKey))
      throw new KeyFormatError("the stored public key does not belong to the private key");
    return identity;
  } catch (error) {
    if (error instanceof KeyFormatError) throw new KeyFormatError(`${target}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Loads the device key, creating it on first use when asked (init does; other commands do not). */
export async function loadOrCreateIdentity(
  path = defaultIdentityPath(),
  create = false,
): Promise<{ identity: Identity; created: boolean }> {
  try {
    return { identity: await loadIdentity(path), created: false };
  } catch (error) {
    if (!(error instanceof KeyMissingError) || !create) throw error;
    const identity = Identity.generate();
    await saveIdentity(identity, path);
    return { identity, created: true };
  }
}
