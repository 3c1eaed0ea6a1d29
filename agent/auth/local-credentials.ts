/**
 * The key to a leaf's or a peer's own nats-server. That server listens on loopback for the agent,
 * the CLI and notify; loopback is not a boundary on a shared machine (every local user, any uid, can
 * connect), so the client listener admits only one nkey user, made fresh at every agent start. Its
 * seed goes in a 0600 file in a 0700 folder under the agent's home, written before the server starts;
 * whoever can read that file is this device's user (or root), the same people who can read the
 * device key and the vault. An nkey, not a password: the server sends a nonce and the client signs
 * it, so nothing secret crosses the socket, and a copied file dies with the next start.
 */
import { chmod, mkdir, readFile, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Authenticator } from "@nats-io/transport-node";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { Prefix } from "@nats-io/nkeys";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { ephemeralUserKey, privateKeyFromSeed, publicKeyBytes, signEd25519 } from "./native-ed25519.js";
import { nkeyOf } from "./nkey-codec.js";
import { UserError } from "../errors.js";

/** Folder under the agent's home that holds the seeds, one file per role. */
export const LOCAL_CREDENTIALS_DIR = "local-nats";
/** Points a CLI command at another home's agent (or a copied seed file). */
export const CREDENTIALS_ENV = "EDGESYNC_NATS_CREDENTIALS";
/** A seed file is one `SU…` line: anything much longer is not one. */
const SEED_FILE_BYTES_MAX = 256;

export class LocalCredentialsError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LocalCredentialsError";
  }
}

export interface LocalCredentials {
  /** The seed file (0600). */
  path: string;
  /** The `U…` nkey the server's client listener admits. */
  publicKey: string;
  /** Signs the server's nonce at every (re)connect. */
  authenticator: Authenticator;
}

export const localCredentialsPath = (home: string, role: string) => join(home, LOCAL_CREDENTIALS_DIR, `${role}.nk`);

/** A fresh user for this start, its seed written (0600, folder 0700) before the server is configured with it. */
export async function createLocalCredentials(home: string, role: string): Promise<LocalCredentials> {
  const dir = join(home, LOCAL_CREDENTIALS_DIR);
  await mkdir(home, { recursive: true, mode: 0o700 });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir leaves an existing folder's mode alone: one left readable must not hold the seed.
  await chmod(dir, 0o700);
  const user = ephemeralUserKey();
  const path = localCredentialsPath(home, role);
  await writeFileAtomic(path, `${new TextDecoder().decode(user.getSeed())}\n`, { mode: 0o600 });
  return { path, publicKey: user.getPublicKey(), authenticator: seedAuthenticator(user.getSeed(), path) };
}

/**
 * At stop: the seed is useless once the server is gone, and a stale file misleads. Only our own
 * seed is removed — another agent of the same role in this home may have written its own since.
 */
export async function removeLocalCredentials(credentials: Pick<LocalCredentials, "path" | "publicKey">): Promise<void> {
  const current = await readLocalCredentials(credentials.path).catch(() => undefined); // gone or unreadable: nothing of ours to remove
  if (current?.publicKey !== credentials.publicKey) return;
  await unlink(credentials.path).catch(() => {}); // removed meanwhile: the goal is met
}

/** Reads a seed file the agent wrote; one clear line when it cannot. */
export async function readLocalCredentials(path: string): Promise<LocalCredentials> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    const fix =
      code === "EACCES" || code === "EPERM"
        ? "run the command as the user who runs the agent"
        : `is the agent running? (\`edgesync sync start\`), or point ${CREDENTIALS_ENV} at the running agent's file`;
    throw new LocalCredentialsError(`cannot read the agent's NATS credentials ${path} (${code}): ${fix}`, {
      cause: error,
    });
  }
  if (text.length > SEED_FILE_BYTES_MAX)
    throw new LocalCredentialsError(`${path} is not a NATS user seed (too long): restart the agent to write it again`);
  const seed = new TextEncoder().encode(text.trim());
  const authenticator = seedAuthenticator(seed, path);
  return { path, publicKey: publicOf(seed, path), authenticator };
}

function decodeUserSeed(seed: Uint8Array, path: string): Uint8Array {
  try {
    const decoded = Codec.decodeSeed(seed);
    if (decoded.prefix === Prefix.User) return decoded.buf;
  } catch {
    // falls through to the one error below: the file's content is never echoed
  }
  throw new LocalCredentialsError(`${path} is not a NATS user seed: restart the agent to write it again`);
}

const publicOf = (seed: Uint8Array, path: string) =>
  nkeyOf(publicKeyBytes(privateKeyFromSeed(decodeUserSeed(seed, path))), "user");

/** Signs with OpenSSL, not nkeys' much slower tweetnacl: this runs on every CLI command's connect. */
function seedAuthenticator(seed: Uint8Array, path: string): Authenticator {
  const key = privateKeyFromSeed(decodeUserSeed(seed, path));
  const nkey = nkeyOf(publicKeyBytes(key), "user");
  return (nonce?: string) => ({
    nkey,
    sig: nonce ? Buffer.from(signEd25519(key, new TextEncoder().encode(nonce))).toString("base64url") : "",
  });
}
